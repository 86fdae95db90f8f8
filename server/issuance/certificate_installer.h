#pragma once

// The seam through which a newly issued certificate version is pushed to the hosts that
// serve its names (the agents; see server/app/agent_installer.h).

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "storage/records.h"

namespace certfleet::issuance {

// The outcome of installing on one target (an agent id).
struct InstallResult {
  std::string target;
  absl::Status status;
  // Where the target wrote the files (e.g. the agent's cert folder), when it says so.
  std::string location;
};

class CertificateInstaller {
 public:
  virtual ~CertificateInstaller() = default;
  // Installs `version` (chain and PRIVATE key) of `certificate` on every target serving
  // its names and returns one result per target (empty when none serves them). Blocking;
  // called on an issuance worker thread.
  virtual std::vector<InstallResult> Install(const storage::ManagedCertificateRecord& certificate,
                                             const storage::CertificateVersionRecord& version) = 0;
};

}  // namespace certfleet::issuance
