#include "storage/row_codec.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/absl_compat.h"

namespace certfleet::storage::internal {
namespace {

absl::StatusOr<std::vector<std::string>> DecodeStrings(std::string_view table,
                                                       std::string_view column,
                                                       const std::string& text) {
  try {
    nlohmann::json json = nlohmann::json::parse(text);
    if (!json.is_array()) return CorruptRow(table, absl::StrCat(Av(column), " is not an array"));
    std::vector<std::string> values;
    for (const auto& item : json) values.push_back(item.get<std::string>());
    return values;
  } catch (const nlohmann::json::exception& e) {
    return CorruptRow(table, absl::StrCat(Av(column), ": ", e.what()));
  }
}

absl::StatusOr<std::vector<IdentifierRecord>> DecodeIdentifiers(const std::string& text) {
  try {
    nlohmann::json json = nlohmann::json::parse(text);
    if (!json.is_array()) return CorruptRow("managed_certificates", "identifiers is not an array");
    std::vector<IdentifierRecord> identifiers;
    for (const auto& item : json) {
      identifiers.push_back(
          {item.at("type").get<std::string>(), item.at("value").get<std::string>()});
    }
    return identifiers;
  } catch (const nlohmann::json::exception& e) {
    return CorruptRow("managed_certificates", absl::StrCat("identifiers: ", e.what()));
  }
}

}  // namespace

absl::Status CorruptRow(std::string_view table, std::string_view detail) {
  return absl::DataLossError(absl::StrCat("corrupt row in ", Av(table), ": ", Av(detail)));
}

std::string EncodeStrings(const std::vector<std::string>& values) {
  return nlohmann::json(values).dump();
}

std::string EncodeIdentifiers(const std::vector<IdentifierRecord>& identifiers) {
  nlohmann::json json = nlohmann::json::array();
  for (const IdentifierRecord& id : identifiers) {
    json.push_back({{"type", id.type}, {"value", id.value}});
  }
  return json.dump();
}

absl::StatusOr<AccountRecord> ReadAccount(const Statement& stmt) {
  AccountRecord account;
  account.id = stmt.ColumnInt64(0);
  account.ca_name = stmt.ColumnText(1);
  account.directory_url = stmt.ColumnText(2);
  account.key_pem = stmt.ColumnText(3);
  account.account_url = stmt.ColumnText(4);
  ASSIGN_OR_RETURN(account.contact, DecodeStrings("accounts", "contact", stmt.ColumnText(5)));
  account.status = stmt.ColumnText(6);
  account.created_at = stmt.ColumnTime(7);
  account.updated_at = stmt.ColumnTime(8);
  return account;
}

absl::StatusOr<ManagedCertificateRecord> ReadCertificate(const Statement& stmt) {
  ManagedCertificateRecord cert;
  cert.id = stmt.ColumnInt64(0);
  cert.name = stmt.ColumnText(1);
  ASSIGN_OR_RETURN(cert.identifiers, DecodeIdentifiers(stmt.ColumnText(2)));
  cert.policy.ca_name = stmt.ColumnText(3);
  cert.policy.key_type = stmt.ColumnText(4);
  ASSIGN_OR_RETURN(
      cert.policy.challenge_preference,
      DecodeStrings("managed_certificates", "challenge_preference", stmt.ColumnText(5)));
  cert.policy.renew_before = absl::Seconds(stmt.ColumnInt64(6));
  cert.state = stmt.ColumnText(7);
  cert.created_at = stmt.ColumnTime(8);
  cert.updated_at = stmt.ColumnTime(9);
  return cert;
}

absl::StatusOr<IssuanceRecord> ReadIssuance(const Statement& stmt) {
  IssuanceRecord issuance;
  issuance.id = stmt.ColumnText(0);
  issuance.managed_certificate_id = stmt.ColumnInt64(1);
  issuance.request_id = stmt.ColumnOptionalText(2);
  absl::StatusOr<IssuanceReason> reason = ParseIssuanceReason(stmt.ColumnText(3));
  if (!reason.ok()) return CorruptRow("issuances", Sv(reason.status().message()));
  issuance.reason = *reason;
  absl::StatusOr<IssuanceState> state = ParseIssuanceState(stmt.ColumnText(4));
  if (!state.ok()) return CorruptRow("issuances", Sv(state.status().message()));
  issuance.state = *state;
  issuance.step = stmt.ColumnText(5);
  issuance.progress_json = stmt.ColumnText(6);
  issuance.cert_key_pem = stmt.ColumnText(7);
  issuance.error_code = static_cast<int>(stmt.ColumnInt64(8));
  issuance.error_message = stmt.ColumnText(9);
  issuance.attempts = static_cast<int>(stmt.ColumnInt64(10));
  issuance.next_attempt_at = stmt.ColumnOptionalTime(11);
  issuance.created_at = stmt.ColumnTime(12);
  issuance.updated_at = stmt.ColumnTime(13);
  issuance.finished_at = stmt.ColumnOptionalTime(14);
  return issuance;
}

absl::StatusOr<CertificateVersionRecord> ReadVersion(const Statement& stmt) {
  CertificateVersionRecord version;
  version.id = stmt.ColumnInt64(0);
  version.managed_certificate_id = stmt.ColumnInt64(1);
  version.issuance_id = stmt.ColumnOptionalText(2);
  version.serial_hex = stmt.ColumnText(3);
  version.not_before = stmt.ColumnTime(4);
  version.not_after = stmt.ColumnTime(5);
  version.issuer = stmt.ColumnText(6);
  version.chain_pem = stmt.ColumnText(7);
  version.key_pem = stmt.ColumnText(8);
  version.created_at = stmt.ColumnTime(9);
  version.revoked_at = stmt.ColumnOptionalTime(10);
  std::optional<int64_t> reason = stmt.ColumnOptionalInt64(11);
  if (reason.has_value()) version.revocation_reason = static_cast<int>(*reason);
  return version;
}

absl::StatusOr<EventRecord> ReadEvent(const Statement& stmt) {
  EventRecord event;
  event.id = stmt.ColumnInt64(0);
  event.issuance_id = stmt.ColumnOptionalText(1);
  event.managed_certificate_id = stmt.ColumnOptionalInt64(2);
  event.kind = stmt.ColumnText(3);
  event.message = stmt.ColumnText(4);
  event.created_at = stmt.ColumnTime(5);
  return event;
}

absl::StatusOr<EventRecord> InsertEvent(Database* db, const EventRecord& event, absl::Time now) {
  if (event.kind.empty()) return absl::InvalidArgumentError("event kind is empty");
  ASSIGN_OR_RETURN(Statement stmt,
                   db->Prepare("INSERT INTO events (issuance_id, managed_certificate_id, kind, "
                               "message, created_at) VALUES (?, ?, ?, ?, ?)"));
  RETURN_IF_ERROR(stmt.BindOptionalText(0, event.issuance_id));
  RETURN_IF_ERROR(stmt.BindOptionalInt64(1, event.managed_certificate_id));
  RETURN_IF_ERROR(stmt.BindText(2, event.kind));
  RETURN_IF_ERROR(stmt.BindText(3, event.message));
  RETURN_IF_ERROR(stmt.BindTime(4, now));
  RETURN_IF_ERROR(stmt.Run());
  EventRecord stored = event;
  stored.id = db->LastInsertRowId();
  stored.created_at = absl::FromUnixSeconds(absl::ToUnixSeconds(now));
  return stored;
}

absl::StatusOr<ManagedCertificateRecord> SelectCertificateByName(Database* db,
                                                                 std::string_view name) {
  ASSIGN_OR_RETURN(Statement stmt, db->Prepare("SELECT " CF_CERTIFICATE_COLUMNS
                                               " FROM managed_certificates WHERE name = ?"));
  RETURN_IF_ERROR(stmt.BindText(0, name));
  return ReadOne(stmt, ReadCertificate,
                 absl::StrCat("managed certificate '", Av(name), "' not found"));
}

absl::StatusOr<ManagedCertificateRecord> SelectCertificateById(Database* db, int64_t id) {
  ASSIGN_OR_RETURN(Statement stmt, db->Prepare("SELECT " CF_CERTIFICATE_COLUMNS
                                               " FROM managed_certificates WHERE id = ?"));
  RETURN_IF_ERROR(stmt.BindInt64(0, id));
  return ReadOne(stmt, ReadCertificate, absl::StrCat("managed certificate ", id, " not found"));
}

absl::StatusOr<ManagedCertificateRecord> InsertCertificate(
    Database* db, const ManagedCertificateRecord& certificate, absl::Time now) {
  if (certificate.name.empty()) {
    return absl::InvalidArgumentError("managed certificate name is empty");
  }
  if (certificate.identifiers.empty()) {
    return absl::InvalidArgumentError("managed certificate has no identifiers");
  }
  ASSIGN_OR_RETURN(Statement stmt,
                   db->Prepare("INSERT INTO managed_certificates (name, identifiers, ca_name, "
                               "key_type, challenge_preference, renew_before_seconds, state, "
                               "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  RETURN_IF_ERROR(stmt.BindText(0, certificate.name));
  RETURN_IF_ERROR(stmt.BindText(1, EncodeIdentifiers(certificate.identifiers)));
  RETURN_IF_ERROR(stmt.BindText(2, certificate.policy.ca_name));
  RETURN_IF_ERROR(stmt.BindText(3, certificate.policy.key_type));
  RETURN_IF_ERROR(stmt.BindText(4, EncodeStrings(certificate.policy.challenge_preference)));
  RETURN_IF_ERROR(stmt.BindInt64(5, absl::ToInt64Seconds(certificate.policy.renew_before)));
  RETURN_IF_ERROR(stmt.BindText(6, certificate.state));
  RETURN_IF_ERROR(stmt.BindTime(7, now));
  RETURN_IF_ERROR(stmt.BindTime(8, now));
  absl::Status status = stmt.Run();
  if (absl::IsAlreadyExists(status)) {
    return absl::AlreadyExistsError(
        absl::StrCat("managed certificate '", certificate.name, "' already exists"));
  }
  RETURN_IF_ERROR(status);
  return SelectCertificateById(db, db->LastInsertRowId());
}

absl::StatusOr<IssuanceRecord> SelectIssuance(Database* db, std::string_view id) {
  ASSIGN_OR_RETURN(Statement stmt,
                   db->Prepare("SELECT " CF_ISSUANCE_COLUMNS " FROM issuances WHERE id = ?"));
  RETURN_IF_ERROR(stmt.BindText(0, id));
  return ReadOne(stmt, ReadIssuance, absl::StrCat("issuance '", Av(id), "' not found"));
}

absl::StatusOr<IssuanceRecord> SelectActiveIssuance(Database* db, std::string_view id) {
  ASSIGN_OR_RETURN(IssuanceRecord issuance, SelectIssuance(db, id));
  if (!IsActive(issuance.state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("issuance '", Av(id), "' is already ", Av(IssuanceStateName(issuance.state))));
  }
  return issuance;
}

}  // namespace certfleet::storage::internal
