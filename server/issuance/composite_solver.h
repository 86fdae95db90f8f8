#pragma once

// Picks, per challenge, the first solver that can answer it: the agent-backed solver when an
// agent serves the name, else the built-in one. Remembers the choice for CleanUp.

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/acme/challenge_solver.h"

namespace certfleet::issuance {

class CompositeSolver : public acme::ChallengeSolver {
 public:
  // `solvers` in order of preference; null entries are skipped. Not owned; they must
  // outlive this object.
  explicit CompositeSolver(std::vector<acme::ChallengeSolver*> solvers);

  // OK when any solver can; otherwise the first solver's error (FailedPrecondition naming
  // the identifier), or FailedPrecondition when there is no solver at all.
  absl::Status CanSolve(const identifiers::Identifier& id, const std::string& type) override;
  absl::Status Present(const acme::ChallengeTask& task, absl::Time deadline) override;
  void CleanUp(const acme::ChallengeTask& task) override;

 private:
  absl::StatusOr<acme::ChallengeSolver*> Pick(const identifiers::Identifier& id,
                                              const std::string& type);

  std::vector<acme::ChallengeSolver*> solvers_;
  absl::Mutex mu_;
  // challenge_url -> solver that presented it.
  std::map<std::string, acme::ChallengeSolver*> presented_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certfleet::issuance
