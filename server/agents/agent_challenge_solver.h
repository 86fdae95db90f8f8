#pragma once

// The agent-backed ChallengeSolver: hands challenges to the connected agents that serve a
// name, and installs issued certificates on them.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/acme/challenge_solver.h"
#include "server/agents/agent_registry.h"

namespace certfleet::agents {

struct AgentChallengeSolverOptions {
  // After the first agent acknowledged a Present, how much longer to wait for the others.
  absl::Duration straggler_grace = absl::Seconds(5);
  // How long CleanUp waits for withdraw acknowledgements (they are only logged).
  absl::Duration cleanup_wait = absl::Seconds(2);
};

// A certificate to put on the agents that serve its names. The key is never logged.
struct InstallRequest {
  std::string certificate_name;  // folder name on the agent
  std::vector<identifiers::Identifier> names;
  std::string fullchain_pem;    // leaf first
  std::string private_key_pem;  // PKCS#8 PEM
  std::string serial;           // hex, for logs
};

// What one agent reported for an InstallRequest.
struct InstallResult {
  std::string agent_id;
  bool success = false;
  std::string reason;  // agent's reason, or why no answer came (went away, deadline)
  int32_t reload_exit_status = -1;
  std::string install_path;
};

// Thread-safe. `registry` is not owned and must outlive the solver.
class AgentChallengeSolver final : public acme::ChallengeSolver {
 public:
  explicit AgentChallengeSolver(
      AgentRegistry* registry, AgentChallengeSolverOptions options = AgentChallengeSolverOptions());

  // OK when a connected agent serves `id` with capability `type`. FailedPrecondition
  // "no connected agent serves NAME (connected agents: ...)" or "... can answer TYPE ...";
  // InvalidArgument for an unknown type.
  absl::Status CanSolve(const identifiers::Identifier& id, const std::string& type) override;
  // Sends PresentChallenge to every connected agent serving the name with the capability and
  // waits for their acks (until `deadline`; after the first success, straggler_grace more).
  // OK when at least one agent succeeded. Otherwise, with every agent's error in the message:
  // FailedPrecondition (an agent refused, or none serves the name), Unavailable "agent X went
  // away (stream closed) before acknowledging ..." or DeadlineExceeded.
  absl::Status Present(const acme::ChallengeTask& task, absl::Time deadline) override;
  // Sends WithdrawChallenge to every still-connected agent the task was presented to and
  // waits up to cleanup_wait for acks (failures only logged). Forgets the task.
  void CleanUp(const acme::ChallengeTask& task) override;

  // True while at least one agent that acknowledged Present for `task` is still connected on
  // the same stream (a reconnected agent no longer presents it).
  bool StillPresented(const acme::ChallengeTask& task) const;
  // OK when StillPresented; Unavailable "agent X went away (stream closed) after presenting
  // TYPE for NAME" when every acknowledging agent left; FailedPrecondition if never presented.
  absl::Status CheckStillPresented(const acme::ChallengeTask& task) const;

  // Sends InstallCertificate to every connected agent with installs_certificates that serves
  // at least one of request.names, and waits (until `deadline`) for each. Returns one result
  // per agent, sorted by agent id (failures included). FailedPrecondition when no such agent
  // is connected; InvalidArgument when names or certificate_name is empty.
  absl::StatusOr<std::vector<InstallResult>> InstallCertificate(const InstallRequest& request,
                                                                absl::Time deadline);

 private:
  struct PresentedTo {
    std::weak_ptr<AgentConnection> connection;
    std::string agent_id;
    bool acknowledged = false;
  };
  struct Presentation {
    acme::ChallengeTask task;
    std::vector<PresentedTo> agents;
  };
  static std::string TaskKey(const acme::ChallengeTask& task);
  absl::StatusOr<std::vector<std::shared_ptr<AgentConnection>>> Solvers(
      const identifiers::Identifier& id, const std::string& type) const;

  AgentRegistry* const registry_;
  const AgentChallengeSolverOptions options_;
  mutable absl::Mutex mu_;
  std::map<std::string, Presentation> presented_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certfleet::agents
