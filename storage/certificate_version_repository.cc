#include "storage/certificate_version_repository.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/row_codec.h"

namespace certfleet::storage {
namespace {

absl::StatusOr<CertificateVersionRecord> SelectVersion(Database* db, int64_t id)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(db->mu()) {
  ASSIGN_OR_RETURN(Statement stmt, db->Prepare("SELECT " CF_VERSION_COLUMNS
                                               " FROM certificate_versions WHERE id = ?"));
  RETURN_IF_ERROR(stmt.BindInt64(0, id));
  return internal::ReadOne(stmt, internal::ReadVersion,
                           absl::StrCat("certificate version ", id, " not found"));
}

absl::StatusOr<CertificateVersionRecord> InsertVersion(Database* db,
                                                       const CertificateVersionRecord& version,
                                                       absl::Time now)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(db->mu()) {
  ASSIGN_OR_RETURN(
      Statement stmt,
      db->Prepare("INSERT INTO certificate_versions (managed_certificate_id, issuance_id, "
                  "serial_hex, not_before, not_after, issuer, chain_pem, key_pem, created_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  RETURN_IF_ERROR(stmt.BindInt64(0, version.managed_certificate_id));
  RETURN_IF_ERROR(stmt.BindOptionalText(1, version.issuance_id));
  RETURN_IF_ERROR(stmt.BindText(2, version.serial_hex));
  RETURN_IF_ERROR(stmt.BindTime(3, version.not_before));
  RETURN_IF_ERROR(stmt.BindTime(4, version.not_after));
  RETURN_IF_ERROR(stmt.BindText(5, version.issuer));
  RETURN_IF_ERROR(stmt.BindText(6, version.chain_pem));
  RETURN_IF_ERROR(stmt.BindText(7, version.key_pem));
  RETURN_IF_ERROR(stmt.BindTime(8, now));
  absl::Status status = stmt.Run();
  if (absl::IsFailedPrecondition(status)) {  // FOREIGN KEY constraint failed.
    return absl::NotFoundError(
        absl::StrCat("managed certificate ", version.managed_certificate_id, " not found"));
  }
  RETURN_IF_ERROR(status);
  return SelectVersion(db, db->LastInsertRowId());
}

}  // namespace

absl::StatusOr<CertificateVersionRecord> CertificateVersionRepository::CompleteIssuance(
    std::string_view issuance_id, const CertificateVersionRecord& version) {
  absl::MutexLock lock(db_->mu());
  absl::Time now = db_->clock()->Now();
  Transaction transaction(db_);
  RETURN_IF_ERROR(transaction.Begin());
  ASSIGN_OR_RETURN(IssuanceRecord issuance, internal::SelectActiveIssuance(db_, issuance_id));
  CertificateVersionRecord row = version;
  row.managed_certificate_id = issuance.managed_certificate_id;
  row.issuance_id = issuance.id;
  ASSIGN_OR_RETURN(CertificateVersionRecord stored, InsertVersion(db_, row, now));
  {
    ASSIGN_OR_RETURN(Statement stmt,
                     db_->Prepare("UPDATE issuances SET state = 'valid', error_code = 0, "
                                  "error_message = '', next_attempt_at = NULL, "
                                  "updated_at = ?, finished_at = ? WHERE id = ?"));
    RETURN_IF_ERROR(stmt.BindTime(0, now));
    RETURN_IF_ERROR(stmt.BindTime(1, now));
    RETURN_IF_ERROR(stmt.BindText(2, issuance.id));
    RETURN_IF_ERROR(stmt.Run());
  }
  EventRecord event;
  event.issuance_id = issuance.id;
  event.managed_certificate_id = issuance.managed_certificate_id;
  event.kind = kEventStateChanged;
  event.message = std::string(IssuanceStateName(IssuanceState::kValid));
  RETURN_IF_ERROR(internal::InsertEvent(db_, event, now).status());
  RETURN_IF_ERROR(transaction.Commit());
  return stored;
}

absl::StatusOr<CertificateVersionRecord> CertificateVersionRepository::Add(
    const CertificateVersionRecord& version) {
  absl::MutexLock lock(db_->mu());
  return InsertVersion(db_, version, db_->clock()->Now());
}

absl::StatusOr<CertificateVersionRecord> CertificateVersionRepository::Get(int64_t id) {
  absl::MutexLock lock(db_->mu());
  return SelectVersion(db_, id);
}

absl::StatusOr<CertificateVersionRecord> CertificateVersionRepository::Latest(
    int64_t managed_certificate_id) {
  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(Statement stmt,
                   db_->Prepare("SELECT " CF_VERSION_COLUMNS " FROM certificate_versions "
                                "WHERE managed_certificate_id = ? ORDER BY id DESC LIMIT 1"));
  RETURN_IF_ERROR(stmt.BindInt64(0, managed_certificate_id));
  return internal::ReadOne(
      stmt, internal::ReadVersion,
      absl::StrCat("managed certificate ", managed_certificate_id, " has no certificate yet"));
}

absl::StatusOr<std::vector<CertificateVersionRecord>> CertificateVersionRepository::List(
    int64_t managed_certificate_id) {
  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(Statement stmt,
                   db_->Prepare("SELECT " CF_VERSION_COLUMNS " FROM certificate_versions "
                                "WHERE managed_certificate_id = ? ORDER BY id DESC"));
  RETURN_IF_ERROR(stmt.BindInt64(0, managed_certificate_id));
  return internal::ReadAll(stmt, internal::ReadVersion);
}

absl::Status CertificateVersionRepository::MarkRevoked(int64_t id, int reason) {
  absl::MutexLock lock(db_->mu());
  Transaction transaction(db_);
  RETURN_IF_ERROR(transaction.Begin());
  ASSIGN_OR_RETURN(CertificateVersionRecord version, SelectVersion(db_, id));
  if (version.revoked_at.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("certificate version ", id, " is already revoked"));
  }
  {
    ASSIGN_OR_RETURN(Statement stmt, db_->Prepare("UPDATE certificate_versions SET revoked_at = ?, "
                                                  "revocation_reason = ? WHERE id = ?"));
    RETURN_IF_ERROR(stmt.BindTime(0, db_->clock()->Now()));
    RETURN_IF_ERROR(stmt.BindInt64(1, reason));
    RETURN_IF_ERROR(stmt.BindInt64(2, id));
    RETURN_IF_ERROR(stmt.Run());
  }
  return transaction.Commit();
}

}  // namespace certfleet::storage
