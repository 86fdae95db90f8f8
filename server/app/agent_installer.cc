#include "server/app/agent_installer.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/issuance/identifier_records.h"

namespace certfleet::server {

std::vector<issuance::InstallResult> AgentInstaller::Install(
    const storage::ManagedCertificateRecord& certificate,
    const storage::CertificateVersionRecord& version) {
  agents::InstallRequest request;
  request.certificate_name = certificate.name;
  request.names = issuance::FromRecords(certificate.identifiers);
  request.fullchain_pem = version.chain_pem;
  request.private_key_pem = version.key_pem;
  request.serial = version.serial_hex;
  absl::StatusOr<std::vector<agents::InstallResult>> results =
      solver_->InstallCertificate(request, absl::Now() + timeout_);
  std::vector<issuance::InstallResult> out;
  if (!results.ok()) {
    // No agent serves these names: nothing to install (single-host / built-in solver setups).
    if (absl::IsFailedPrecondition(results.status())) return out;
    out.push_back({"agents", results.status(), ""});
    return out;
  }
  for (const agents::InstallResult& r : *results) {
    absl::Status status = absl::OkStatus();
    if (!r.success) {
      status = absl::UnavailableError(
          absl::StrCat("install failed: ", r.reason,
                       r.reload_exit_status >= 0
                           ? absl::StrCat(" (reload exit status ", r.reload_exit_status, ")")
                           : ""));
    }
    out.push_back({r.agent_id, status, r.install_path});
  }
  return out;
}

}  // namespace certfleet::server
