#include "storage/certificate_repository.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/absl_compat.h"
#include "storage/row_codec.h"

namespace certfleet::storage {
namespace {

absl::Status NotFoundUnlessChanged(Database* db, int64_t id)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(db->mu()) {
  if (db->ChangedRows() == 0) {
    return absl::NotFoundError(absl::StrCat("managed certificate ", id, " not found"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ManagedCertificateRecord> CertificateRepository::Create(
    const ManagedCertificateRecord& certificate) {
  absl::MutexLock lock(db_->mu());
  return internal::InsertCertificate(db_, certificate, db_->clock()->Now());
}

absl::StatusOr<ManagedCertificateRecord> CertificateRepository::GetByName(std::string_view name) {
  absl::MutexLock lock(db_->mu());
  return internal::SelectCertificateByName(db_, name);
}

absl::StatusOr<ManagedCertificateRecord> CertificateRepository::GetById(int64_t id) {
  absl::MutexLock lock(db_->mu());
  return internal::SelectCertificateById(db_, id);
}

absl::StatusOr<CertificatePage> CertificateRepository::List(const CertificateFilter& filter,
                                                            int page_size,
                                                            std::string_view page_token) {
  int64_t after_id = 0;
  if (!page_token.empty() &&
      (!absl::SimpleAtoi(internal::Av(page_token), &after_id) || after_id <= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid page_token '", internal::Av(page_token), "'"));
  }
  if (page_size <= 0) page_size = kDefaultPageSize;
  page_size = std::min(page_size, kMaxPageSize);

  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT " CF_CERTIFICATE_COLUMNS " FROM managed_certificates m "
                   "WHERE m.id > ?1 "
                   "AND (?2 = '' OR instr(m.name, ?2) > 0) "
                   "AND (?3 = '' OR m.state = ?3) "
                   "AND (?4 IS NULL OR (SELECT v.not_after FROM certificate_versions v "
                   "WHERE v.managed_certificate_id = m.id ORDER BY v.id DESC LIMIT 1) < ?4) "
                   "ORDER BY m.id LIMIT ?5"));
  RETURN_IF_ERROR(stmt.BindInt64(0, after_id));
  RETURN_IF_ERROR(stmt.BindText(1, filter.name_contains));
  RETURN_IF_ERROR(stmt.BindText(2, filter.state));
  RETURN_IF_ERROR(stmt.BindOptionalTime(3, filter.expiring_before));
  RETURN_IF_ERROR(stmt.BindInt64(4, page_size + 1));  // One extra: is there a next page?
  ASSIGN_OR_RETURN(std::vector<ManagedCertificateRecord> rows,
                   internal::ReadAll(stmt, internal::ReadCertificate));
  CertificatePage page;
  if (rows.size() > static_cast<size_t>(page_size)) {
    rows.resize(page_size);
    page.next_page_token = absl::StrCat(rows.back().id);
  }
  page.certificates = std::move(rows);
  return page;
}

absl::Status CertificateRepository::UpdatePolicy(int64_t id, const CertificatePolicy& policy) {
  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(Statement stmt,
                   db_->Prepare("UPDATE managed_certificates SET ca_name = ?, key_type = ?, "
                                "challenge_preference = ?, renew_before_seconds = ?, "
                                "updated_at = ? WHERE id = ?"));
  RETURN_IF_ERROR(stmt.BindText(0, policy.ca_name));
  RETURN_IF_ERROR(stmt.BindText(1, policy.key_type));
  RETURN_IF_ERROR(stmt.BindText(2, internal::EncodeStrings(policy.challenge_preference)));
  RETURN_IF_ERROR(stmt.BindInt64(3, absl::ToInt64Seconds(policy.renew_before)));
  RETURN_IF_ERROR(stmt.BindTime(4, db_->clock()->Now()));
  RETURN_IF_ERROR(stmt.BindInt64(5, id));
  RETURN_IF_ERROR(stmt.Run());
  return NotFoundUnlessChanged(db_, id);
}

absl::Status CertificateRepository::UpdateState(int64_t id, std::string_view state) {
  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("UPDATE managed_certificates SET state = ?, updated_at = ? WHERE id = ?"));
  RETURN_IF_ERROR(stmt.BindText(0, state));
  RETURN_IF_ERROR(stmt.BindTime(1, db_->clock()->Now()));
  RETURN_IF_ERROR(stmt.BindInt64(2, id));
  RETURN_IF_ERROR(stmt.Run());
  return NotFoundUnlessChanged(db_, id);
}

}  // namespace certfleet::storage
