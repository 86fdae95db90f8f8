#pragma once

// A ChallengeSolver that answers tls-alpn-01 and http-01 itself on configured listen
// addresses (common/responder): for a single host running everything, and for tests.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/responder/http01_responder.h"
#include "common/responder/tls_alpn_responder.h"
#include "server/acme/challenge_solver.h"

namespace certfleet::issuance {

class BuiltinSolver : public acme::ChallengeSolver {
 public:
  // Starts the listeners whose address is not empty ("host:port"; port 0 picks one).
  // Unavailable naming the address when one cannot be bound.
  static absl::StatusOr<std::unique_ptr<BuiltinSolver>> Start(const std::string& tls_alpn_listen,
                                                              const std::string& http01_listen);
  ~BuiltinSolver() override;

  // OK for tls-alpn-01 / http-01 when that listener runs; FailedPrecondition otherwise.
  absl::Status CanSolve(const identifiers::Identifier& id, const std::string& type) override;
  // Loads the challenge into the responder (returns at once).
  absl::Status Present(const acme::ChallengeTask& task, absl::Time deadline) override;
  // Removes it.
  void CleanUp(const acme::ChallengeTask& task) override;

  // Bound ports (0 when that listener is off).
  int tls_alpn_port() const;
  int http01_port() const;
  // Stops both listeners. Idempotent.
  void Stop();

 private:
  BuiltinSolver() = default;
  std::unique_ptr<responder::TlsAlpnResponder> tls_;
  std::unique_ptr<responder::Http01Responder> http_;
};

}  // namespace certfleet::issuance
