#include "storage/database.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "storage/absl_compat.h"
#include "storage/schema.h"

namespace certfleet::storage {

using internal::Av;

absl::Status SqliteStatus(int rc, std::string_view message, std::string_view context) {
  std::string text = absl::StrCat(Av(context), ": ", Av(message), " (sqlite code ", rc, ")");
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return absl::OkStatus();
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(text);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return absl::AlreadyExistsError(text);
      }
      return absl::FailedPreconditionError(text);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(text);
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return absl::ResourceExhaustedError(text);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
      return absl::UnavailableError(text);
    case SQLITE_RANGE:
    case SQLITE_MISUSE:
    case SQLITE_ERROR:
    default:
      return absl::InternalError(text);
  }
}

// ---------------------------------------------------------------------------- Statement

Statement::Statement(Database* db, sqlite3_stmt* stmt, bool* in_use, bool owned)
    : db_(db), stmt_(stmt), in_use_(in_use), owned_(owned) {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  if (in_use_ != nullptr) *in_use_ = true;
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), in_use_(other.in_use_), owned_(other.owned_) {
  other.stmt_ = nullptr;
  other.in_use_ = nullptr;
  other.owned_ = false;
}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  if (owned_) {
    sqlite3_finalize(stmt_);
    return;
  }
  // Reset so the statement holds no read snapshot, and drop bound values (keys) early.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  if (in_use_ != nullptr) *in_use_ = false;
}

absl::Status Statement::BindInt64(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index + 1, value);
  return rc == SQLITE_OK ? absl::OkStatus() : db_->ErrorStatus(rc, "bind");
}

absl::Status Statement::BindText(int index, std::string_view value) {
  // An empty view may have a null data(), which SQLite would bind as NULL, not as "".
  int rc = sqlite3_bind_text64(stmt_, index + 1, value.data() != nullptr ? value.data() : "",
                               value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return rc == SQLITE_OK ? absl::OkStatus() : db_->ErrorStatus(rc, "bind");
}

absl::Status Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index + 1);
  return rc == SQLITE_OK ? absl::OkStatus() : db_->ErrorStatus(rc, "bind");
}

absl::Status Statement::BindTime(int index, absl::Time value) {
  return BindInt64(index, absl::ToUnixSeconds(value));
}

absl::Status Statement::BindOptionalInt64(int index, const std::optional<int64_t>& value) {
  return value.has_value() ? BindInt64(index, *value) : BindNull(index);
}

absl::Status Statement::BindOptionalText(int index, const std::optional<std::string>& value) {
  return value.has_value() ? BindText(index, *value) : BindNull(index);
}

absl::Status Statement::BindOptionalTime(int index, const std::optional<absl::Time>& value) {
  return value.has_value() ? BindTime(index, *value) : BindNull(index);
}

absl::StatusOr<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // sqlite3_step returns the extended code with extended result codes enabled.
  absl::Status status = db_->ErrorStatus(rc, "step");
  sqlite3_reset(stmt_);
  return status;
}

absl::Status Statement::Run() {
  while (true) {
    ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return absl::OkStatus();
  }
}

int64_t Statement::ColumnInt64(int index) const { return sqlite3_column_int64(stmt_, index); }

std::string Statement::ColumnText(int index) const {
  const unsigned char* text = sqlite3_column_text(stmt_, index);
  if (text == nullptr) return std::string();
  int size = sqlite3_column_bytes(stmt_, index);
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

bool Statement::ColumnIsNull(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

absl::Time Statement::ColumnTime(int index) const {
  return absl::FromUnixSeconds(ColumnInt64(index));
}

std::optional<int64_t> Statement::ColumnOptionalInt64(int index) const {
  if (ColumnIsNull(index)) return std::nullopt;
  return ColumnInt64(index);
}

std::optional<std::string> Statement::ColumnOptionalText(int index) const {
  if (ColumnIsNull(index)) return std::nullopt;
  return ColumnText(index);
}

std::optional<absl::Time> Statement::ColumnOptionalTime(int index) const {
  if (ColumnIsNull(index)) return std::nullopt;
  return ColumnTime(index);
}

// ----------------------------------------------------------------------------- Database

namespace {

// Closes a raw handle on scope exit unless released.
struct RawDbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using RawDb = std::unique_ptr<sqlite3, RawDbCloser>;

absl::Status RawError(sqlite3* db, int rc, std::string_view context) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  int code = db != nullptr ? sqlite3_extended_errcode(db) : rc;
  return SqliteStatus(code, message, context);
}

// Reads an integer from the meta table through a raw handle; nullopt when the table or
// key is absent.
absl::StatusOr<std::optional<int64_t>> ReadMetaRaw(sqlite3* db, const char* key) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(
      db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'", -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return RawError(db, rc, "reading the schema");
  rc = sqlite3_step(stmt);
  bool has_meta = rc == SQLITE_ROW;
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return RawError(db, rc, "reading the schema");
  if (!has_meta) return std::optional<int64_t>();

  rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return RawError(db, rc, "reading the meta table");
  sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
  rc = sqlite3_step(stmt);
  std::optional<int64_t> value;
  if (rc == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return RawError(db, rc, "reading the meta table");
  return value;
}

// Opens an existing file read-only and refuses it when its schema is newer than this binary
// understands. Writes nothing to the file.
absl::Status CheckNotTooNew(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  RawDb db(raw);
  if (rc != SQLITE_OK) return RawError(raw, rc, absl::StrCat("opening ", path, " read-only"));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  ASSIGN_OR_RETURN(std::optional<int64_t> compatible, ReadMetaRaw(raw, "compatible_version"));
  if (compatible.has_value() && *compatible > kCurrentSchemaVersion) {
    ASSIGN_OR_RETURN(std::optional<int64_t> version, ReadMetaRaw(raw, "version"));
    return TooNewError(version.value_or(*compatible));
  }
  return absl::OkStatus();
}

// Keys live in the database: keep it and its side files owner-only.
void RestrictMode(const std::string& file) {
  struct stat st;
  if (stat(file.c_str(), &st) != 0) return;
  if ((st.st_mode & 0077) == 0) return;
  if (chmod(file.c_str(), 0600) != 0) {
    CF_LOG(WARNING) << "cannot restrict database file mode" << Kv("path", file)
                    << Kv("error", std::strerror(errno));
  }
}

}  // namespace

absl::Status TooNewError(int64_t version) {
  return absl::FailedPreconditionError(absl::StrCat(
      "database schema version ", version, " is newer than this certfleet (supports up to ",
      kCurrentSchemaVersion, "); upgrade certfleet"));
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                         DatabaseOptions options) {
  if (path.empty()) return absl::InvalidArgumentError("database path is empty");
  struct stat st;
  bool exists = stat(path.c_str(), &st) == 0;
  if (exists && st.st_size > 0) {
    RETURN_IF_ERROR(CheckNotTooNew(path));
  }
  if (!exists) {
    // Create the file owner-only before SQLite does (SQLite would honour the umask).
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) {
      return absl::UnavailableError(
          absl::StrCat("cannot create database ", path, ": ", std::strerror(errno)));
    }
    if (fd >= 0) ::close(fd);
  }
  RestrictMode(path);

  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = RawError(raw, rc, absl::StrCat("opening ", path));
    sqlite3_close_v2(raw);
    return status;
  }
  sqlite3_extended_result_codes(raw, 1);
  std::unique_ptr<Database> db(new Database(path, raw, options.clock));
  absl::MutexLock lock(&db->mu_);
  RETURN_IF_ERROR(db->Configure(options.busy_timeout));
  RestrictMode(path + "-wal");
  RestrictMode(path + "-shm");
  RETURN_IF_ERROR(MigrateToCurrent(db.get()));
  return db;
}

Database::Database(std::string path, sqlite3* db, Clock* clock)
    : path_(std::move(path)), clock_(clock), db_(db) {}

Database::~Database() {
  {
    absl::MutexLock lock(&mu_);
    for (auto& [sql, cached] : cache_) {
      sqlite3_finalize(cached.stmt);
    }
    cache_.clear();
  }
  sqlite3_close_v2(db_);
}

absl::Status Database::Configure(absl::Duration busy_timeout) {
  // busy_timeout first so the following pragmas wait for other processes' locks.
  RETURN_IF_ERROR(
      Execute(absl::StrCat("PRAGMA busy_timeout = ", absl::ToInt64Milliseconds(busy_timeout))));
  {
    ASSIGN_OR_RETURN(Statement wal, Prepare("PRAGMA journal_mode = WAL"));
    ASSIGN_OR_RETURN(bool row, wal.Step());
    std::string mode = row ? wal.ColumnText(0) : "";
    if (mode != "wal") {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot switch ", path_, " to WAL mode (journal_mode is '", mode, "')"));
    }
  }
  RETURN_IF_ERROR(Execute("PRAGMA synchronous = NORMAL"));
  RETURN_IF_ERROR(Execute("PRAGMA foreign_keys = ON"));
  return absl::OkStatus();
}

absl::StatusOr<Statement> Database::Prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end() && !it->second.in_use) {
    return Statement(this, it->second.stmt, &it->second.in_use, /*owned=*/false);
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    return ErrorStatus(rc, absl::StrCat("preparing \"", Av(sql), "\""));
  }
  if (stmt == nullptr) return absl::InvalidArgumentError("empty SQL statement");
  if (it != cache_.end()) {
    // The cached one is busy in an outer scope: use a private statement this once.
    return Statement(this, stmt, nullptr, /*owned=*/true);
  }
  auto [inserted, ok] = cache_.emplace(std::string(sql), CachedStatement{stmt, false});
  return Statement(this, stmt, &inserted->second.in_use, /*owned=*/false);
}

absl::Status Database::Execute(std::string_view sql) {
  std::string text(sql);
  char* error = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return absl::OkStatus();
  std::string message = error != nullptr ? error : sqlite3_errstr(rc);
  sqlite3_free(error);
  return SqliteStatus(sqlite3_extended_errcode(db_), message, "executing SQL");
}

int64_t Database::LastInsertRowId() { return sqlite3_last_insert_rowid(db_); }

int64_t Database::ChangedRows() { return sqlite3_changes64(db_); }

absl::Status Database::ErrorStatus(int rc, std::string_view context) const {
  int code = sqlite3_extended_errcode(db_);
  if (code == SQLITE_OK) code = rc;
  return SqliteStatus(code, sqlite3_errmsg(db_), context);
}

absl::StatusOr<int64_t> Database::CountRows(std::string_view table) {
  static constexpr std::string_view kTables[] = {
      "meta", "accounts", "managed_certificates", "issuances", "certificate_versions", "events"};
  bool known = false;
  for (std::string_view t : kTables) known = known || t == table;
  if (!known) return absl::InvalidArgumentError(absl::StrCat("unknown table '", Av(table), "'"));
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement stmt, Prepare(absl::StrCat("SELECT COUNT(*) FROM ", Av(table))));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::InternalError("COUNT(*) returned no row");
  return stmt.ColumnInt64(0);
}

absl::StatusOr<int> Database::SchemaVersion() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(std::optional<int64_t> version, ReadMetaInt(this, "version"));
  return static_cast<int>(version.value_or(0));
}

// -------------------------------------------------------------------------- Transaction

Transaction::Transaction(Database* db) : db_(db) {}

Transaction::~Transaction() { Rollback(); }

absl::Status Transaction::Begin() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (active_) return absl::FailedPreconditionError("transaction already begun");
  RETURN_IF_ERROR(db_->Execute("BEGIN IMMEDIATE"));
  active_ = true;
  return absl::OkStatus();
}

absl::Status Transaction::Commit() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (!active_) return absl::FailedPreconditionError("no transaction to commit");
  RETURN_IF_ERROR(db_->Execute("COMMIT"));
  active_ = false;
  return absl::OkStatus();
}

void Transaction::Rollback() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (!active_) return;
  active_ = false;
  absl::Status status = db_->Execute("ROLLBACK");
  if (!status.ok()) {
    CF_LOG(WARNING) << "rollback failed" << Kv("error", status.message());
  }
}

}  // namespace certfleet::storage
