#include "storage/database.h"

#include <sys/stat.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/schema.h"
#include "tests/storage/storage_test_util.h"

namespace certfleet::storage {
namespace {

using ::certfleet::storage::testing::ExecRaw;
using ::certfleet::storage::testing::StatusIs;
using ::certfleet::storage::testing::TempDir;

int Mode(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return st.st_mode & 0777;
}

// Runs a one-value query under the lock.
std::string QueryText(Database* db, std::string_view sql) {
  absl::MutexLock lock(db->mu());
  auto stmt = db->Prepare(sql);
  EXPECT_TRUE(stmt.ok()) << stmt.status();
  if (!stmt.ok()) return "";
  auto row = stmt->Step();
  EXPECT_TRUE(row.ok() && *row) << sql;
  return stmt->ColumnText(0);
}

TEST(DatabaseTest, CreatesFileAndSideFilesOwnerOnly) {
  TempDir dir;
  std::string path = dir.File("certfleet.db");
  mode_t old_umask = umask(0022);  // A permissive umask must not leak keys.
  auto db = Database::Open(path);
  umask(old_umask);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(Mode(path), 0600);
  EXPECT_EQ(Mode(path + "-wal"), 0600);
  EXPECT_EQ(Mode(path + "-shm"), 0600);
}

TEST(DatabaseTest, TightensModeOfExistingFile) {
  TempDir dir;
  std::string path = dir.File("certfleet.db");
  { ASSERT_TRUE(Database::Open(path).ok()); }
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  auto db = Database::Open(path);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(Mode(path), 0600);
}

TEST(DatabaseTest, ConfiguresConnection) {
  TempDir dir;
  auto db = Database::Open(dir.File("certfleet.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(QueryText(db->get(), "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(QueryText(db->get(), "PRAGMA foreign_keys"), "1");
  EXPECT_EQ(QueryText(db->get(), "PRAGMA busy_timeout"), "5000");
  EXPECT_EQ(QueryText(db->get(), "PRAGMA synchronous"), "1");  // NORMAL
  auto version = (*db)->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, kCurrentSchemaVersion);
}

TEST(DatabaseTest, TransactionRollsBackUnlessCommitted) {
  TempDir dir;
  auto opened = Database::Open(dir.File("certfleet.db"));
  ASSERT_TRUE(opened.ok()) << opened.status();
  Database* db = opened->get();
  constexpr char kInsert[] =
      "INSERT INTO accounts (ca_name, directory_url, key_pem, created_at, updated_at) "
      "VALUES (?, 'https://ca/dir', 'k', 1, 1)";
  {
    absl::MutexLock lock(db->mu());
    Transaction transaction(db);
    ASSERT_TRUE(transaction.Begin().ok());
    for (const char* ca : {"a", "b"}) {
      auto stmt = db->Prepare(kInsert);
      ASSERT_TRUE(stmt.ok());
      ASSERT_TRUE(stmt->BindText(0, ca).ok());
      ASSERT_TRUE(stmt->Run().ok());
    }
    // Destroyed without Commit().
  }
  EXPECT_EQ(*db->CountRows("accounts"), 0);
  {
    absl::MutexLock lock(db->mu());
    Transaction transaction(db);
    ASSERT_TRUE(transaction.Begin().ok());
    auto stmt = db->Prepare(kInsert);
    ASSERT_TRUE(stmt.ok());
    ASSERT_TRUE(stmt->BindText(0, "c").ok());
    ASSERT_TRUE(stmt->Run().ok());
    ASSERT_TRUE(transaction.Commit().ok());
  }
  EXPECT_EQ(*db->CountRows("accounts"), 1);
}

TEST(DatabaseTest, CachedStatementIsReusedAndNestedUseGetsItsOwn) {
  TempDir dir;
  auto opened = Database::Open(dir.File("certfleet.db"));
  ASSERT_TRUE(opened.ok());
  Database* db = opened->get();
  absl::MutexLock lock(db->mu());
  constexpr char kSql[] = "SELECT value FROM meta WHERE key = ?";
  auto outer = db->Prepare(kSql);
  ASSERT_TRUE(outer.ok());
  ASSERT_TRUE(outer->BindText(0, "version").ok());
  ASSERT_TRUE(*outer->Step());
  {
    auto inner = db->Prepare(kSql);  // The cached one is busy: a private statement.
    ASSERT_TRUE(inner.ok());
    ASSERT_TRUE(inner->BindText(0, "compatible_version").ok());
    ASSERT_TRUE(*inner->Step());
    EXPECT_EQ(inner->ColumnInt64(0), kCompatibleSchemaVersion);
  }
  EXPECT_EQ(outer->ColumnInt64(0), kCurrentSchemaVersion);  // Outer not disturbed.
  ASSERT_FALSE(*outer->Step());
}

TEST(DatabaseTest, EmptyTextBindsAsEmptyStringNotNull) {
  TempDir dir;
  auto opened = Database::Open(dir.File("certfleet.db"));
  ASSERT_TRUE(opened.ok());
  Database* db = opened->get();
  absl::MutexLock lock(db->mu());
  auto stmt = db->Prepare("SELECT ? IS NULL, length(?)");
  ASSERT_TRUE(stmt.ok()) << stmt.status();
  // A default-constructed view has a null data(): it must still be "" (an OK status's
  // message is one, and error_message is NOT NULL).
  ASSERT_TRUE(stmt->BindText(0, std::string_view()).ok());
  ASSERT_TRUE(stmt->BindText(1, std::string_view()).ok());
  auto row = stmt->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ(stmt->ColumnInt64(0), 0);
  EXPECT_EQ(stmt->ColumnInt64(1), 0);
}

TEST(DatabaseTest, ErrorsCarrySqliteMessage) {
  TempDir dir;
  auto opened = Database::Open(dir.File("certfleet.db"));
  ASSERT_TRUE(opened.ok());
  Database* db = opened->get();
  absl::MutexLock lock(db->mu());
  EXPECT_THAT(db->Prepare("SELEC 1").status(),
              StatusIs(absl::StatusCode::kInternal, "syntax error"));
  auto stmt = db->Prepare(
      "INSERT INTO accounts (ca_name, directory_url, key_pem, created_at, updated_at) "
      "VALUES (NULL, 'd', 'k', 1, 1)");
  ASSERT_TRUE(stmt.ok());
  EXPECT_THAT(stmt->Run(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                    "NOT NULL constraint failed: accounts.ca_name"));
  auto bind = db->Prepare("SELECT ?");
  ASSERT_TRUE(bind.ok());
  EXPECT_THAT(bind->BindInt64(5, 1),
              StatusIs(absl::StatusCode::kInternal, "column index out of range"));
}

TEST(DatabaseTest, RefusesNonDatabaseFile) {
  TempDir dir;
  std::string path = dir.File("garbage.db");
  {
    std::ofstream out(path);
    out << std::string(4096, 'x');
  }
  EXPECT_THAT(Database::Open(path).status(),
              StatusIs(absl::StatusCode::kDataLoss, "file is not a database"));
}

TEST(DatabaseTest, CountRowsRejectsUnknownTable) {
  TempDir dir;
  auto db = Database::Open(dir.File("certfleet.db"));
  ASSERT_TRUE(db.ok());
  EXPECT_THAT((*db)->CountRows("sqlite_master; DROP TABLE meta"),
              StatusIs(absl::StatusCode::kInvalidArgument, "unknown table"));
}

}  // namespace
}  // namespace certfleet::storage
