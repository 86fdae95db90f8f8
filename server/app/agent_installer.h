#pragma once

// Adapter: issuance::CertificateInstaller over agents::AgentChallengeSolver's
// InstallCertificate (the agents module's API for pushing a version to the hosts).

#include <vector>

#include "absl/time/time.h"
#include "server/agents/agent_challenge_solver.h"
#include "server/issuance/certificate_installer.h"

namespace certfleet::server {

class AgentInstaller : public issuance::CertificateInstaller {
 public:
  // `solver` is not owned and must outlive this object. Each install waits up to `timeout`.
  explicit AgentInstaller(agents::AgentChallengeSolver* solver,
                          absl::Duration timeout = absl::Seconds(60))
      : solver_(solver), timeout_(timeout) {}

  // One result per agent serving a name (none when no agent serves them).
  std::vector<issuance::InstallResult> Install(
      const storage::ManagedCertificateRecord& certificate,
      const storage::CertificateVersionRecord& version) override;

 private:
  agents::AgentChallengeSolver* const solver_;
  const absl::Duration timeout_;
};

}  // namespace certfleet::server
