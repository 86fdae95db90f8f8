#pragma once

// RAII wrappers over SQLite (modelled on Chromium's sql/database.h, sql/statement.h and
// sql/transaction.h): a Database that owns one connection and a cache of prepared
// statements, a Statement handle that resets its cached sqlite3_stmt after each use, and a
// Transaction that rolls back unless Commit() was called.
//
// Thread safety: one Database is shared by all threads of a process, over ONE sqlite
// connection. Every access is serialised by the Database's absl::Mutex (mu()): callers
// (the repositories) hold it for a whole operation or transaction. Prepare(), Execute(),
// LastInsertRowId(), ChangedRows(), ErrorStatus(), Statement and Transaction require it;
// Open(), CountRows() and SchemaVersion() take it themselves. absl::Mutex is not
// re-entrant: never call a repository while holding mu(). We chose one mutex over
// SQLITE_OPEN_FULLMUTEX because FULLMUTEX serialises single calls only: two threads could
// still interleave statements inside one BEGIN..COMMIT on the shared connection. Other
// processes are handled by SQLite's own locking plus busy_timeout=5000 and BEGIN IMMEDIATE.
//
// Private keys (account keys, certificate keys) are stored as PEM in this file, so it is
// created with mode 0600, and so are its -wal/-shm side files (SQLite copies the main
// file's mode; we also chmod them). Never log bound values or row contents.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

struct sqlite3;
struct sqlite3_stmt;

namespace certfleet::storage {

class Database;

// Options for Database::Open.
struct DatabaseOptions {
  // Source of created_at/updated_at timestamps. Not owned; must outlive the Database.
  Clock* clock = RealClock();
  // SQLite busy timeout for locks held by other processes.
  absl::Duration busy_timeout = absl::Seconds(5);
};

// A prepared statement borrowed from the Database's cache (or, when the cached one is
// already in use by an outer Statement, a private one). Bindings are cleared on creation
// and the statement is reset on destruction. Bind and column indices are 0-based.
// Must not outlive the lock on the Database it came from. Move-only.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Typed binders; fail with the sqlite message (e.g. index out of range).
  absl::Status BindInt64(int index, int64_t value);
  absl::Status BindText(int index, std::string_view value);
  absl::Status BindNull(int index);
  absl::Status BindTime(int index, absl::Time value);  // Unix seconds (UTC).
  absl::Status BindOptionalInt64(int index, const std::optional<int64_t>& value);
  absl::Status BindOptionalText(int index, const std::optional<std::string>& value);
  absl::Status BindOptionalTime(int index, const std::optional<absl::Time>& value);

  // Advances: true when a row is available, false when the statement is done; an error
  // status carries sqlite's message (constraint violations map to AlreadyExists /
  // FailedPrecondition, SQLITE_BUSY to Unavailable).
  absl::StatusOr<bool> Step();
  // Steps to completion, expecting no result rows (INSERT/UPDATE/DDL).
  absl::Status Run();

  // Column readers for the current row. NULL reads as 0 / "" / nullopt.
  int64_t ColumnInt64(int index) const;
  std::string ColumnText(int index) const;
  bool ColumnIsNull(int index) const;
  absl::Time ColumnTime(int index) const;
  std::optional<int64_t> ColumnOptionalInt64(int index) const;
  std::optional<std::string> ColumnOptionalText(int index) const;
  std::optional<absl::Time> ColumnOptionalTime(int index) const;

 private:
  friend class Database;
  Statement(Database* db, sqlite3_stmt* stmt, bool* in_use, bool owned);

  Database* db_;
  sqlite3_stmt* stmt_;
  bool* in_use_;  // The cache slot's flag, or null for an owned statement.
  bool owned_;    // Finalize on destruction (not cached).
};

// One SQLite connection to one database file, opened, configured and migrated to the
// current schema version (storage/schema.h). Create with Open(); thread-safe only through
// mu() as described at the top of this file.
class Database {
 public:
  // Opens (creating with mode 0600 when absent) the database at `path`, sets WAL,
  // foreign_keys=ON, busy_timeout, synchronous=NORMAL, and migrates it to the current
  // schema. A file whose compatible_version is newer than this binary is refused with
  // FailedPrecondition before anything is written to it. Other failures carry sqlite's
  // message. The caller owns the result.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                                        DatabaseOptions options = {});

  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // The lock that serialises every use of this connection (see the file comment).
  absl::Mutex* mu() ABSL_LOCK_RETURNED(mu_) { return &mu_; }
  // The clock used for timestamps; not owned.
  Clock* clock() const { return clock_; }
  // The database file path.
  const std::string& path() const { return path_; }

  // Returns the statement for `sql`, preparing it on first use and caching it by its text.
  absl::StatusOr<Statement> Prepare(std::string_view sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs one or more SQL statements without results (schema, pragmas, BEGIN/COMMIT).
  absl::Status Execute(std::string_view sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // rowid of the last successful INSERT on this connection.
  int64_t LastInsertRowId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t ChangedRows() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Takes the lock and counts the rows of `table` (a test helper; `table` must be one of
  // the schema's tables, else InvalidArgument).
  absl::StatusOr<int64_t> CountRows(std::string_view table) ABSL_LOCKS_EXCLUDED(mu_);
  // Takes the lock and reads meta.version.
  absl::StatusOr<int> SchemaVersion() ABSL_LOCKS_EXCLUDED(mu_);

  // Builds a status from the connection's current error, prefixed with `context`.
  absl::Status ErrorStatus(int rc, std::string_view context) const;

 private:
  Database(std::string path, sqlite3* db, Clock* clock);
  absl::Status Configure(absl::Duration busy_timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };

  const std::string path_;
  Clock* const clock_;
  absl::Mutex mu_;
  sqlite3* const db_;
  std::map<std::string, CachedStatement, std::less<>> cache_ ABSL_GUARDED_BY(mu_);
};

// BEGIN IMMEDIATE ... COMMIT. Rolls back on destruction unless Commit() succeeded.
// The caller must hold db->mu() for the Transaction's whole life.
class Transaction {
 public:
  explicit Transaction(Database* db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // Starts the transaction (takes SQLite's write lock, waiting up to busy_timeout).
  absl::Status Begin();
  // Commits; on failure the transaction is rolled back by the destructor.
  absl::Status Commit();
  // Rolls back now (idempotent).
  void Rollback();

 private:
  Database* db_;
  bool active_ = false;
};

// Maps a SQLite result code and message to an absl::Status (a free helper for code that
// holds a raw sqlite3 handle, e.g. tests and the open-time version check).
absl::Status SqliteStatus(int rc, std::string_view message, std::string_view context);

}  // namespace certfleet::storage
