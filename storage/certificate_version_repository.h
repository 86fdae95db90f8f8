#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/database.h"
#include "storage/records.h"

namespace certfleet::storage {

// Issued certificates (chain + key) of managed certificates. Thread-safe; each call takes
// the Database lock. `db` is not owned and must outlive the repository.
class CertificateVersionRepository {
 public:
  explicit CertificateVersionRepository(Database* db) : db_(db) {}

  // In ONE transaction: stores `version` for the issuance's managed certificate
  // (version.managed_certificate_id and issuance_id are taken from the issuance), marks
  // the issuance valid (finished_at set, error cleared) and logs the state event.
  // NotFound for an unknown issuance, FailedPrecondition when it is already finished.
  absl::StatusOr<CertificateVersionRecord> CompleteIssuance(
      std::string_view issuance_id, const CertificateVersionRecord& version);
  // Stores a version outside an issuance (e.g. an import). NotFound for an unknown
  // managed certificate.
  absl::StatusOr<CertificateVersionRecord> Add(const CertificateVersionRecord& version);
  // NotFound when absent.
  absl::StatusOr<CertificateVersionRecord> Get(int64_t id);
  // The newest version (highest id) of a certificate; NotFound when it has none.
  absl::StatusOr<CertificateVersionRecord> Latest(int64_t managed_certificate_id);
  // All versions of a certificate, newest first.
  absl::StatusOr<std::vector<CertificateVersionRecord>> List(int64_t managed_certificate_id);
  // Sets revoked_at (now) and the RFC 5280 reason. NotFound when absent,
  // FailedPrecondition when already revoked.
  absl::Status MarkRevoked(int64_t id, int reason);

 private:
  Database* const db_;
};

}  // namespace certfleet::storage
