#include "storage/schema.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace certfleet::storage {
namespace {

struct Migration {
  int version;             // The version the file is at after this migration.
  int compatible_version;  // The compatible_version written with it.
  const char* sql;
};

// Never edit a released migration: add a new one and bump kCurrentSchemaVersion.
constexpr Migration kMigrations[] = {
    {1, 1, R"sql(
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY NOT NULL,
  value
);
CREATE TABLE accounts (
  id INTEGER PRIMARY KEY,
  ca_name TEXT NOT NULL,
  directory_url TEXT NOT NULL,
  key_pem TEXT NOT NULL,
  account_url TEXT NOT NULL DEFAULT '',
  contact TEXT NOT NULL DEFAULT '[]',
  status TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (ca_name, directory_url)
);
CREATE TABLE managed_certificates (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  identifiers TEXT NOT NULL,
  ca_name TEXT NOT NULL,
  key_type TEXT NOT NULL,
  challenge_preference TEXT NOT NULL DEFAULT '[]',
  renew_before_seconds INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE issuances (
  id TEXT PRIMARY KEY NOT NULL,
  managed_certificate_id INTEGER NOT NULL REFERENCES managed_certificates (id),
  reason TEXT NOT NULL CHECK (reason IN ('issue', 'renew')),
  state TEXT NOT NULL
      CHECK (state IN ('pending', 'running', 'valid', 'failed', 'cancelled')),
  step TEXT NOT NULL DEFAULT '',
  progress_json TEXT NOT NULL DEFAULT '',
  cert_key_pem TEXT NOT NULL DEFAULT '',
  error_code INTEGER NOT NULL DEFAULT 0,
  error_message TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX issuances_by_certificate ON issuances (managed_certificate_id, created_at);
CREATE INDEX issuances_by_state ON issuances (state);
CREATE TABLE certificate_versions (
  id INTEGER PRIMARY KEY,
  managed_certificate_id INTEGER NOT NULL REFERENCES managed_certificates (id),
  issuance_id TEXT REFERENCES issuances (id),
  serial_hex TEXT NOT NULL,
  not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  chain_pem TEXT NOT NULL,
  key_pem TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX certificate_versions_by_certificate
    ON certificate_versions (managed_certificate_id, id);
)sql"},
    {2, 1, R"sql(
ALTER TABLE certificate_versions ADD COLUMN issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE certificate_versions ADD COLUMN revocation_reason INTEGER;
)sql"},
    {3, 3, R"sql(
ALTER TABLE issuances ADD COLUMN request_id TEXT;
CREATE UNIQUE INDEX issuances_by_request_id ON issuances (request_id)
    WHERE request_id IS NOT NULL;
-- Older versions did not enforce one active issuance per certificate: keep the oldest.
UPDATE issuances
   SET state = 'cancelled',
       error_code = 10,
       error_message = 'superseded by an older active issuance (schema migration to v3)',
       finished_at = updated_at
 WHERE state IN ('pending', 'running')
   AND rowid NOT IN (SELECT MIN(rowid) FROM issuances
                      WHERE state IN ('pending', 'running')
                      GROUP BY managed_certificate_id);
CREATE UNIQUE INDEX issuances_one_active_per_certificate
    ON issuances (managed_certificate_id) WHERE state IN ('pending', 'running');
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  issuance_id TEXT REFERENCES issuances (id),
  managed_certificate_id INTEGER REFERENCES managed_certificates (id),
  kind TEXT NOT NULL,
  message TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
CREATE INDEX events_by_issuance ON events (issuance_id, id);
)sql"},
};

static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kCurrentSchemaVersion,
              "one migration per schema version");

absl::Status CheckCompatible(Database* db) ABSL_EXCLUSIVE_LOCKS_REQUIRED(db->mu()) {
  ASSIGN_OR_RETURN(std::optional<int64_t> compatible, ReadMetaInt(db, "compatible_version"));
  if (compatible.has_value() && *compatible > kCurrentSchemaVersion) {
    ASSIGN_OR_RETURN(std::optional<int64_t> version, ReadMetaInt(db, "version"));
    return TooNewError(version.value_or(*compatible));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<int64_t>> ReadMetaInt(Database* db, std::string_view key) {
  {
    ASSIGN_OR_RETURN(Statement exists,
                     db->Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                 "name = 'meta'"));
    ASSIGN_OR_RETURN(bool has_meta, exists.Step());
    if (!has_meta) return std::optional<int64_t>();
  }
  ASSIGN_OR_RETURN(Statement stmt, db->Prepare("SELECT value FROM meta WHERE key = ?"));
  RETURN_IF_ERROR(stmt.BindText(0, key));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<int64_t>();
  return std::optional<int64_t>(stmt.ColumnInt64(0));
}

absl::Status WriteMetaInt(Database* db, std::string_view key, int64_t value) {
  ASSIGN_OR_RETURN(Statement stmt,
                   db->Prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"));
  RETURN_IF_ERROR(stmt.BindText(0, key));
  RETURN_IF_ERROR(stmt.BindInt64(1, value));
  return stmt.Run();
}

absl::Status MigrateToCurrent(Database* db) {
  {
    // Fast path without a write transaction; the version never goes down, so a current
    // database stays current.
    RETURN_IF_ERROR(CheckCompatible(db));
    ASSIGN_OR_RETURN(std::optional<int64_t> version, ReadMetaInt(db, "version"));
    if (version.value_or(0) >= kCurrentSchemaVersion) return absl::OkStatus();
  }
  std::optional<int64_t> from;
  int to = 0;
  for (const Migration& migration : kMigrations) {
    Transaction transaction(db);
    RETURN_IF_ERROR(transaction.Begin());
    // Re-checked under the write lock: another process may have upgraded the file since.
    RETURN_IF_ERROR(CheckCompatible(db));
    ASSIGN_OR_RETURN(std::optional<int64_t> version, ReadMetaInt(db, "version"));
    if (version.value_or(0) >= migration.version) continue;
    if (version.value_or(0) != migration.version - 1) {
      return absl::DataLossError(absl::StrCat("database schema version ", version.value_or(0),
                                              " is not a known certfleet version"));
    }
    absl::Status status = db->Execute(migration.sql);
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("migrating the database to schema v",
                                                      migration.version, ": ", status.message()));
    }
    RETURN_IF_ERROR(WriteMetaInt(db, "version", migration.version));
    RETURN_IF_ERROR(WriteMetaInt(db, "compatible_version", migration.compatible_version));
    RETURN_IF_ERROR(transaction.Commit());
    if (!from.has_value()) from = version.value_or(0);
    to = migration.version;
  }
  if (from.has_value()) {
    CF_LOG(INFO) << "migrated database schema" << Kv("path", db->path()) << Kv("from", *from)
                 << Kv("to", to);
  }
  return absl::OkStatus();
}

}  // namespace certfleet::storage
