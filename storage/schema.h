#pragma once

// The schema, its version history and the meta table (Chromium's sql/meta_table.h model):
// meta(key TEXT PRIMARY KEY, value) holds `version` (the schema the file is at) and
// `compatible_version` (the oldest binary schema version that may still use the file).
// A binary refuses a file whose compatible_version exceeds kCurrentSchemaVersion.
//
// History (each migration runs in its own BEGIN IMMEDIATE transaction):
//   v1  meta, accounts, managed_certificates, issuances, certificate_versions
//   v2  certificate_versions.issuer and .revocation_reason
//   v3  issuances.request_id (unique), one-active-issuance-per-certificate index, events

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/database.h"

namespace certfleet::storage {

// The schema version this binary creates and migrates to.
inline constexpr int kCurrentSchemaVersion = 3;
// Written as compatible_version: binaries older than this must not open the file
// (v3 relies on the events table and request_id semantics older code would ignore).
inline constexpr int kCompatibleSchemaVersion = 3;

// Brings the database up to kCurrentSchemaVersion, one transaction per migration; no-op
// when current. FailedPrecondition (TooNewError) when the file is newer than this binary.
absl::Status MigrateToCurrent(Database* db) ABSL_EXCLUSIVE_LOCKS_REQUIRED(db->mu());

// Reads an integer meta value; nullopt when the meta table or the key is absent.
absl::StatusOr<std::optional<int64_t>> ReadMetaInt(Database* db, std::string_view key)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(db->mu());

// Inserts or replaces an integer meta value.
absl::Status WriteMetaInt(Database* db, std::string_view key, int64_t value)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(db->mu());

// The FailedPrecondition returned for a database at schema `version` that is too new.
absl::Status TooNewError(int64_t version);

}  // namespace certfleet::storage
