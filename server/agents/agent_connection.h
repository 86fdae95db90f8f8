#pragma once

// One connected agent as the rest of the server sees it (AgentConnection), and the
// completion of one message sent to it (AckWaiter). The gRPC stream in agents_service.cc
// implements AgentConnection; tests may provide their own.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "certfleet/v1/agents.pb.h"
#include "common/identifiers/identifier.h"

namespace certfleet::agents {

// What the agent answered to one ServerMessage.
struct AckResult {
  bool success = false;
  std::string reason;
  int32_t reload_exit_status = -1;  // InstallCertificate only
  std::string install_path;         // InstallCertificate only
};

// Resolves once: with the agent's Ack, with Unavailable when the stream closes first, or
// with DeadlineExceeded when its deadline passes. Thread-safe; shared by sender and stream.
class AckWaiter {
 public:
  // `what` describes the message for errors and logs ("PresentChallenge tls-alpn-01 for x").
  AckWaiter(std::string agent_id, std::string message_id, std::string what, absl::Time deadline);
  AckWaiter(const AckWaiter&) = delete;
  AckWaiter& operator=(const AckWaiter&) = delete;

  // Blocks until resolved or the deadline: the Ack (a negative Ack is still OK here, see
  // AckResult::success); Unavailable "agent X went away (stream closed) before acknowledging
  // WHAT"; DeadlineExceeded "agent X did not acknowledge WHAT by the deadline".
  absl::StatusOr<AckResult> Wait();
  // The result if already resolved, without blocking.
  std::optional<absl::StatusOr<AckResult>> TryGet() const;
  // Runs `callback` once with the result when resolved (at once if already resolved), on
  // the resolving thread; it must not block.
  void OnResolved(std::function<void(const absl::StatusOr<AckResult>&)> callback);
  // Resolves with `result`; returns false (and drops it) when already resolved.
  bool Resolve(absl::StatusOr<AckResult> result);
  // Resolves with the "went away" Unavailable error; returns false when already resolved.
  bool ResolveWentAway();
  // Resolves with the DeadlineExceeded error; returns false when already resolved.
  bool ResolveDeadlineExceeded();

  const std::string& agent_id() const { return agent_id_; }
  const std::string& message_id() const { return message_id_; }
  const std::string& what() const { return what_; }
  absl::Time deadline() const { return deadline_; }

 private:
  const std::string agent_id_;
  const std::string message_id_;
  const std::string what_;
  const absl::Time deadline_;
  mutable absl::Mutex mu_;
  std::optional<absl::StatusOr<AckResult>> result_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(const absl::StatusOr<AckResult>&)>> callbacks_
      ABSL_GUARDED_BY(mu_);
};

// What an agent said in its Hello, after validation and policy. Fixed once registered.
struct AgentDescription {
  std::string agent_id;
  std::vector<identifiers::Identifier> names;  // accepted names only
  std::vector<v1::ChallengeType> capabilities;
  bool installs_certificates = false;
  std::string version;
  std::string peer;
  absl::Time connect_time;
  uint64_t connection_id = 0;  // distinguishes reconnects of one agent id
};

// A connected agent's stream, as the registry and the solver use it.
class AgentConnection {
 public:
  virtual ~AgentConnection() = default;

  // Identity and accepted names; valid and unchanging once the connection is registered.
  virtual const AgentDescription& description() const = 0;
  // When the last message arrived from the agent.
  virtual absl::Time last_seen() const = 0;
  // False once the stream is closing or closed; then Send resolves at once as "went away".
  virtual bool IsOpen() const = 0;
  // Queues `message` with a fresh message_id (overwriting any) and returns its waiter, which
  // resolves by `deadline` at the latest. Never blocks; never null.
  virtual std::shared_ptr<AckWaiter> Send(v1::ServerMessage message, std::string what,
                                          absl::Time deadline) = 0;
  // Ends the stream with `status` (idempotent); outstanding waiters resolve as "went away".
  virtual void Close(const absl::Status& status) = 0;

  // True when the agent declared `type` in its Hello.
  bool HasCapability(v1::ChallengeType type) const;
};

// "tls-alpn-01" → CHALLENGE_TYPE_TLS_ALPN_01, "http-01", "dns-01"; UNSPECIFIED otherwise.
v1::ChallengeType ChallengeTypeFromString(const std::string& type);
// The ACME name of `type` ("tls-alpn-01", ...), or "unspecified".
std::string ChallengeTypeName(v1::ChallengeType type);
// Converts a normalised identifier to its proto form.
v1::Identifier ToProto(const identifiers::Identifier& id);

}  // namespace certfleet::agents
