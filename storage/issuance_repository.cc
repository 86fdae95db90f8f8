#include "storage/issuance_repository.h"

#include <sqlite3.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/absl_compat.h"
#include "storage/row_codec.h"

namespace certfleet::storage {
namespace {

std::string NewIssuanceId() {
  unsigned char bytes[8];
  sqlite3_randomness(sizeof(bytes), bytes);
  return absl::StrCat("iss_",
                      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), 8)));
}

absl::StatusOr<IssuanceRecord> SelectByRequestId(Database* db, std::string_view request_id)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(db->mu()) {
  ASSIGN_OR_RETURN(Statement stmt, db->Prepare("SELECT " CF_ISSUANCE_COLUMNS
                                               " FROM issuances WHERE request_id = ?"));
  RETURN_IF_ERROR(stmt.BindText(0, request_id));
  return internal::ReadOne(
      stmt, internal::ReadIssuance,
      absl::StrCat("no issuance has request_id '", internal::Av(request_id), "'"));
}

absl::StatusOr<IssuanceRecord> SelectActive(Database* db, int64_t certificate_id)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(db->mu()) {
  ASSIGN_OR_RETURN(Statement stmt, db->Prepare("SELECT " CF_ISSUANCE_COLUMNS
                                               " FROM issuances WHERE managed_certificate_id = ? "
                                               "AND state IN ('pending', 'running')"));
  RETURN_IF_ERROR(stmt.BindInt64(0, certificate_id));
  return internal::ReadOne(
      stmt, internal::ReadIssuance,
      absl::StrCat("managed certificate ", certificate_id, " has no active issuance"));
}

// Applies `update` (an UPDATE ... WHERE id = ? statement whose last parameter is the id)
// to an active issuance inside a transaction, and logs an event with `event_message` whose
// kind is `event_kind(row before the update)`; an empty kind logs no event.
template <typename BindFn, typename EventKindFn>
absl::Status UpdateActive(Database* db, std::string_view id, const char* sql, BindFn bind,
                          EventKindFn event_kind_of, std::string_view event_message)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(db->mu()) {
  Transaction transaction(db);
  RETURN_IF_ERROR(transaction.Begin());
  ASSIGN_OR_RETURN(IssuanceRecord issuance, internal::SelectActiveIssuance(db, id));
  const std::string_view event_kind = event_kind_of(issuance);
  {
    ASSIGN_OR_RETURN(Statement stmt, db->Prepare(sql));
    RETURN_IF_ERROR(bind(stmt, issuance));
    RETURN_IF_ERROR(stmt.Run());
  }
  if (!event_kind.empty()) {
    EventRecord event;
    event.issuance_id = issuance.id;
    event.managed_certificate_id = issuance.managed_certificate_id;
    event.kind = std::string(event_kind);
    event.message = std::string(event_message);
    RETURN_IF_ERROR(internal::InsertEvent(db, event, db->clock()->Now()).status());
  }
  return transaction.Commit();
}

std::string_view NoEvent(const IssuanceRecord&) { return ""; }
std::string_view StateChangedEvent(const IssuanceRecord&) { return kEventStateChanged; }

}  // namespace

absl::StatusOr<IssueResult> IssuanceRepository::IssueOrJoin(const IssueRequest& request) {
  if (request.name.empty()) return absl::InvalidArgumentError("certificate name is empty");
  if (request.identifiers.empty()) {
    return absl::InvalidArgumentError("no identifiers to issue a certificate for");
  }
  if (request.request_id.has_value() && request.request_id->empty()) {
    return absl::InvalidArgumentError("request_id is set but empty");
  }
  absl::MutexLock lock(db_->mu());
  absl::Time now = db_->clock()->Now();
  Transaction transaction(db_);
  RETURN_IF_ERROR(transaction.Begin());
  IssueResult result;

  if (request.request_id.has_value()) {
    absl::StatusOr<IssuanceRecord> existing = SelectByRequestId(db_, *request.request_id);
    if (existing.ok()) {
      ASSIGN_OR_RETURN(result.certificate,
                       internal::SelectCertificateById(db_, existing->managed_certificate_id));
      result.issuance = *std::move(existing);
      RETURN_IF_ERROR(transaction.Commit());
      return result;
    }
    if (!absl::IsNotFound(existing.status())) return existing.status();
  }

  absl::StatusOr<ManagedCertificateRecord> certificate =
      internal::SelectCertificateByName(db_, request.name);
  if (absl::IsNotFound(certificate.status())) {
    ManagedCertificateRecord record;
    record.name = request.name;
    record.identifiers = request.identifiers;
    record.policy = request.policy;
    record.state = kCertificateStateActive;
    certificate = internal::InsertCertificate(db_, record, now);
  } else if (certificate.ok()) {
    absl::StatusOr<IssuanceRecord> active = SelectActive(db_, certificate->id);
    if (active.ok()) {
      result.certificate = *std::move(certificate);
      result.issuance = *std::move(active);
      RETURN_IF_ERROR(transaction.Commit());
      return result;
    }
    if (!absl::IsNotFound(active.status())) return active.status();
    if (certificate->identifiers != request.identifiers || certificate->policy != request.policy ||
        certificate->state != kCertificateStateActive) {
      ASSIGN_OR_RETURN(Statement update,
                       db_->Prepare("UPDATE managed_certificates SET identifiers = ?, "
                                    "ca_name = ?, key_type = ?, challenge_preference = ?, "
                                    "renew_before_seconds = ?, state = ?, updated_at = ? "
                                    "WHERE id = ?"));
      RETURN_IF_ERROR(update.BindText(0, internal::EncodeIdentifiers(request.identifiers)));
      RETURN_IF_ERROR(update.BindText(1, request.policy.ca_name));
      RETURN_IF_ERROR(update.BindText(2, request.policy.key_type));
      RETURN_IF_ERROR(
          update.BindText(3, internal::EncodeStrings(request.policy.challenge_preference)));
      RETURN_IF_ERROR(update.BindInt64(4, absl::ToInt64Seconds(request.policy.renew_before)));
      RETURN_IF_ERROR(update.BindText(5, kCertificateStateActive));
      RETURN_IF_ERROR(update.BindTime(6, now));
      RETURN_IF_ERROR(update.BindInt64(7, certificate->id));
      RETURN_IF_ERROR(update.Run());
      certificate = internal::SelectCertificateById(db_, certificate->id);
    }
  }
  if (!certificate.ok()) return certificate.status();
  result.certificate = *std::move(certificate);

  std::string id = NewIssuanceId();
  {
    ASSIGN_OR_RETURN(
        Statement insert,
        db_->Prepare("INSERT INTO issuances (id, managed_certificate_id, request_id, reason, "
                     "state, cert_key_pem, created_at, updated_at) "
                     "VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)"));
    RETURN_IF_ERROR(insert.BindText(0, id));
    RETURN_IF_ERROR(insert.BindInt64(1, result.certificate.id));
    RETURN_IF_ERROR(insert.BindOptionalText(2, request.request_id));
    RETURN_IF_ERROR(insert.BindText(3, IssuanceReasonName(request.reason)));
    RETURN_IF_ERROR(insert.BindText(4, request.cert_key_pem));
    RETURN_IF_ERROR(insert.BindTime(5, now));
    RETURN_IF_ERROR(insert.BindTime(6, now));
    RETURN_IF_ERROR(insert.Run());
  }
  EventRecord event;
  event.issuance_id = id;
  event.managed_certificate_id = result.certificate.id;
  event.kind = kEventStateChanged;
  event.message = std::string(IssuanceStateName(IssuanceState::kPending));
  RETURN_IF_ERROR(internal::InsertEvent(db_, event, now).status());
  ASSIGN_OR_RETURN(result.issuance, internal::SelectIssuance(db_, id));
  RETURN_IF_ERROR(transaction.Commit());
  result.created = true;
  return result;
}

absl::StatusOr<IssuanceRecord> IssuanceRepository::Get(std::string_view id) {
  absl::MutexLock lock(db_->mu());
  return internal::SelectIssuance(db_, id);
}

absl::StatusOr<IssuanceRecord> IssuanceRepository::GetActiveForCertificate(
    int64_t managed_certificate_id) {
  absl::MutexLock lock(db_->mu());
  return SelectActive(db_, managed_certificate_id);
}

absl::StatusOr<std::vector<IssuanceRecord>> IssuanceRepository::ListUnfinished() {
  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(Statement stmt, db_->Prepare("SELECT " CF_ISSUANCE_COLUMNS " FROM issuances "
                                                "WHERE state IN ('pending', 'running') "
                                                "ORDER BY created_at, rowid"));
  return internal::ReadAll(stmt, internal::ReadIssuance);
}

absl::StatusOr<std::vector<IssuanceRecord>> IssuanceRepository::ListByState(IssuanceState state) {
  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(Statement stmt,
                   db_->Prepare("SELECT " CF_ISSUANCE_COLUMNS " FROM issuances WHERE state = ? "
                                "ORDER BY created_at, rowid"));
  RETURN_IF_ERROR(stmt.BindText(0, IssuanceStateName(state)));
  return internal::ReadAll(stmt, internal::ReadIssuance);
}

absl::StatusOr<std::vector<IssuanceRecord>> IssuanceRepository::ListForCertificate(
    int64_t managed_certificate_id) {
  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(Statement stmt, db_->Prepare("SELECT " CF_ISSUANCE_COLUMNS
                                                " FROM issuances WHERE managed_certificate_id "
                                                "= ? ORDER BY created_at DESC, rowid DESC"));
  RETURN_IF_ERROR(stmt.BindInt64(0, managed_certificate_id));
  return internal::ReadAll(stmt, internal::ReadIssuance);
}

absl::StatusOr<IssuanceRecord> IssuanceRepository::LatestForCertificate(
    int64_t managed_certificate_id) {
  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(Statement stmt, db_->Prepare("SELECT " CF_ISSUANCE_COLUMNS
                                                " FROM issuances WHERE managed_certificate_id "
                                                "= ? ORDER BY created_at DESC, rowid DESC "
                                                "LIMIT 1"));
  RETURN_IF_ERROR(stmt.BindInt64(0, managed_certificate_id));
  return internal::ReadOne(
      stmt, internal::ReadIssuance,
      absl::StrCat("managed certificate ", managed_certificate_id, " has no issuances"));
}

absl::Status IssuanceRepository::SaveProgress(std::string_view id, std::string_view step,
                                              std::string_view progress_json) {
  absl::MutexLock lock(db_->mu());
  absl::Time now = db_->clock()->Now();
  return UpdateActive(
      db_, id, "UPDATE issuances SET step = ?, progress_json = ?, updated_at = ? WHERE id = ?",
      [&](Statement& stmt, const IssuanceRecord& issuance) -> absl::Status {
        RETURN_IF_ERROR(stmt.BindText(0, step));
        RETURN_IF_ERROR(stmt.BindText(1, progress_json));
        RETURN_IF_ERROR(stmt.BindTime(2, now));
        return stmt.BindText(3, issuance.id);
      },
      // An event only when the step changes.
      [&](const IssuanceRecord& old) { return old.step != step ? kEventStep : ""; }, step);
}

absl::Status IssuanceRepository::SaveCertKey(std::string_view id, std::string_view cert_key_pem) {
  absl::MutexLock lock(db_->mu());
  absl::Time now = db_->clock()->Now();
  return UpdateActive(
      db_, id, "UPDATE issuances SET cert_key_pem = ?, updated_at = ? WHERE id = ?",
      [&](Statement& stmt, const IssuanceRecord& issuance) -> absl::Status {
        RETURN_IF_ERROR(stmt.BindText(0, cert_key_pem));
        RETURN_IF_ERROR(stmt.BindTime(1, now));
        return stmt.BindText(2, issuance.id);
      },
      NoEvent, "");
}

absl::Status IssuanceRepository::MarkRunning(std::string_view id) {
  absl::MutexLock lock(db_->mu());
  absl::Time now = db_->clock()->Now();
  return UpdateActive(
      db_, id,
      "UPDATE issuances SET state = 'running', attempts = attempts + 1, "
      "next_attempt_at = NULL, updated_at = ? WHERE id = ?",
      [&](Statement& stmt, const IssuanceRecord& issuance) -> absl::Status {
        RETURN_IF_ERROR(stmt.BindTime(0, now));
        return stmt.BindText(1, issuance.id);
      },
      StateChangedEvent, IssuanceStateName(IssuanceState::kRunning));
}

absl::Status IssuanceRepository::ScheduleRetry(std::string_view id, absl::Time next_attempt_at,
                                               const absl::Status& error) {
  absl::MutexLock lock(db_->mu());
  absl::Time now = db_->clock()->Now();
  return UpdateActive(
      db_, id,
      "UPDATE issuances SET state = 'pending', next_attempt_at = ?, error_code = ?, "
      "error_message = ?, updated_at = ? WHERE id = ?",
      [&](Statement& stmt, const IssuanceRecord& issuance) -> absl::Status {
        RETURN_IF_ERROR(stmt.BindTime(0, next_attempt_at));
        RETURN_IF_ERROR(stmt.BindInt64(1, static_cast<int>(error.code())));
        RETURN_IF_ERROR(stmt.BindText(2, internal::Sv(error.message())));
        RETURN_IF_ERROR(stmt.BindTime(3, now));
        return stmt.BindText(4, issuance.id);
      },
      StateChangedEvent, IssuanceStateName(IssuanceState::kPending));
}

absl::Status IssuanceRepository::Finish(std::string_view id, IssuanceState state,
                                        const absl::Status& error) {
  if (IsActive(state)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot finish issuance '", internal::Av(id),
                                                   "' in active state ",
                                                   internal::Av(IssuanceStateName(state))));
  }
  absl::MutexLock lock(db_->mu());
  absl::Time now = db_->clock()->Now();
  return UpdateActive(
      db_, id,
      "UPDATE issuances SET state = ?, error_code = ?, error_message = ?, "
      "next_attempt_at = NULL, updated_at = ?, finished_at = ? WHERE id = ?",
      [&](Statement& stmt, const IssuanceRecord& issuance) -> absl::Status {
        RETURN_IF_ERROR(stmt.BindText(0, IssuanceStateName(state)));
        RETURN_IF_ERROR(stmt.BindInt64(1, static_cast<int>(error.code())));
        RETURN_IF_ERROR(stmt.BindText(2, internal::Sv(error.message())));
        RETURN_IF_ERROR(stmt.BindTime(3, now));
        RETURN_IF_ERROR(stmt.BindTime(4, now));
        return stmt.BindText(5, issuance.id);
      },
      StateChangedEvent, IssuanceStateName(state));
}

absl::StatusOr<int64_t> IssuanceRepository::Count(std::optional<IssuanceState> state) {
  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(Statement stmt,
                   db_->Prepare("SELECT COUNT(*) FROM issuances WHERE ?1 IS NULL OR state = ?1"));
  if (state.has_value()) {
    RETURN_IF_ERROR(stmt.BindText(0, IssuanceStateName(*state)));
  }
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::InternalError("COUNT(*) returned no row");
  return stmt.ColumnInt64(0);
}

}  // namespace certfleet::storage
