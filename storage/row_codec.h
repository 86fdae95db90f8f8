#pragma once

// Internal to storage/: column lists, row readers and the inserts shared by several
// repositories (so a transaction in one repository can touch another's table). All
// functions taking a Database require its lock.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/database.h"
#include "storage/records.h"

// Column lists, in the order the Read* functions below expect. Macros so that whole SQL
// statements stay string literals (the statement cache is keyed by the SQL text).
#define CF_ACCOUNT_COLUMNS \
  "id, ca_name, directory_url, key_pem, account_url, contact, status, created_at, updated_at"
#define CF_CERTIFICATE_COLUMNS                                                             \
  "id, name, identifiers, ca_name, key_type, challenge_preference, renew_before_seconds, " \
  "state, created_at, updated_at"
#define CF_ISSUANCE_COLUMNS                                                                    \
  "id, managed_certificate_id, request_id, reason, state, step, progress_json, cert_key_pem, " \
  "error_code, error_message, attempts, next_attempt_at, created_at, updated_at, finished_at"
#define CF_VERSION_COLUMNS                                                               \
  "id, managed_certificate_id, issuance_id, serial_hex, not_before, not_after, issuer, " \
  "chain_pem, key_pem, created_at, revoked_at, revocation_reason"
#define CF_EVENT_COLUMNS "id, issuance_id, managed_certificate_id, kind, message, created_at"

namespace certfleet::storage::internal {

// Row readers for the current row of `stmt`; DataLoss for undecodable JSON or enum text.
absl::StatusOr<AccountRecord> ReadAccount(const Statement& stmt);
absl::StatusOr<ManagedCertificateRecord> ReadCertificate(const Statement& stmt);
absl::StatusOr<IssuanceRecord> ReadIssuance(const Statement& stmt);
absl::StatusOr<CertificateVersionRecord> ReadVersion(const Statement& stmt);
absl::StatusOr<EventRecord> ReadEvent(const Statement& stmt);

// JSON encoders for the TEXT columns holding arrays.
std::string EncodeStrings(const std::vector<std::string>& values);
std::string EncodeIdentifiers(const std::vector<IdentifierRecord>& identifiers);

// Steps `stmt` and reads every row with `read` (a function of const Statement&).
template <typename Read>
auto ReadAll(Statement& stmt, Read read)
    -> absl::StatusOr<std::vector<typename decltype(read(stmt))::value_type>> {
  std::vector<typename decltype(read(stmt))::value_type> rows;
  while (true) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!*row) return rows;
    auto value = read(stmt);
    if (!value.ok()) return value.status();
    rows.push_back(*std::move(value));
  }
}

// Steps once and reads one row; NotFound(`what`) when there is none.
template <typename Read>
auto ReadOne(Statement& stmt, Read read, std::string_view what) -> decltype(read(stmt)) {
  absl::StatusOr<bool> row = stmt.Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError(std::string(what));
  return read(stmt);
}

// Appends an event row stamped `now`; returns it with its id.
absl::StatusOr<EventRecord> InsertEvent(Database* db, const EventRecord& event, absl::Time now);

// Finds a managed certificate by name; NotFound when absent.
absl::StatusOr<ManagedCertificateRecord> SelectCertificateByName(Database* db,
                                                                 std::string_view name);
// Finds a managed certificate by id; NotFound when absent.
absl::StatusOr<ManagedCertificateRecord> SelectCertificateById(Database* db, int64_t id);
// Inserts a managed certificate stamped `now`; AlreadyExists for a taken name.
absl::StatusOr<ManagedCertificateRecord> InsertCertificate(
    Database* db, const ManagedCertificateRecord& certificate, absl::Time now);
// Finds an issuance by id; NotFound when absent.
absl::StatusOr<IssuanceRecord> SelectIssuance(Database* db, std::string_view id);
// Finds an issuance that is still active; NotFound when absent, FailedPrecondition
// ("issuance 'x' is already valid") when it has finished.
absl::StatusOr<IssuanceRecord> SelectActiveIssuance(Database* db, std::string_view id);

// Wraps IssuanceStateName etc. for readers that must fail on unknown text.
absl::Status CorruptRow(std::string_view table, std::string_view detail);

}  // namespace certfleet::storage::internal
