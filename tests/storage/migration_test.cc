// Migrations: a database at every earlier schema version (tests/testdata/storage/
// schema_v<N>.sql, with data) upgrades to the current version with its data intact, and a
// database newer than this binary is refused without being touched.

#include <sqlite3.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/account_repository.h"
#include "storage/certificate_repository.h"
#include "storage/certificate_version_repository.h"
#include "storage/database.h"
#include "storage/event_repository.h"
#include "storage/issuance_repository.h"
#include "storage/schema.h"
#include "tests/storage/storage_test_util.h"

namespace certfleet::storage {
namespace {

using ::certfleet::storage::testing::ExecRaw;
using ::certfleet::storage::testing::ReadBytes;
using ::certfleet::storage::testing::ReadFixture;
using ::certfleet::storage::testing::StatusIs;
using ::certfleet::storage::testing::TempDir;
using ::testing::ElementsAre;

// Rows of `sql` as "a|b|c" strings, through a raw read-only connection.
std::vector<std::string> Rows(const std::string& path, const std::string& sql) {
  std::vector<std::string> rows;
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
    std::string row;
    for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
      const unsigned char* text = sqlite3_column_text(stmt, i);
      if (i > 0) row += "|";
      row += text != nullptr ? reinterpret_cast<const char*>(text) : "NULL";
    }
    rows.push_back(row);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

// A semantic description of the schema: objects, columns, indexes and foreign keys.
std::vector<std::string> SchemaOf(const std::string& path) {
  std::vector<std::string> schema;
  for (const std::string& object :
       Rows(path, "SELECT type, name, tbl_name FROM sqlite_master ORDER BY type, name")) {
    schema.push_back(object);
  }
  for (const std::string& table :
       Rows(path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")) {
    for (const char* pragma : {"table_info", "index_list", "foreign_key_list"}) {
      for (const std::string& row :
           Rows(path, "SELECT * FROM pragma_" + std::string(pragma) + "('" + table + "')")) {
        schema.push_back(table + " " + pragma + ": " + row);
      }
    }
  }
  for (const std::string& index : Rows(path,
                                       "SELECT name || ': ' || sql FROM sqlite_master "
                                       "WHERE type = 'index' AND sql IS NOT NULL "
                                       "ORDER BY name")) {
    schema.push_back(index);
  }
  return schema;
}

class MigrationTest : public ::testing::Test {
 protected:
  // Builds a database file from a fixture with the raw sqlite3 API.
  std::string FromFixture(const std::string& fixture) {
    std::string path = dir_.File(fixture + ".db");
    EXPECT_TRUE(ExecRaw(path, ReadFixture(fixture)));
    return path;
  }
  // The schema of a database created from scratch by this binary.
  std::vector<std::string> CurrentSchema() {
    std::string path = dir_.File("fresh.db");
    { EXPECT_TRUE(Database::Open(path).ok()); }
    return SchemaOf(path);
  }

  TempDir dir_;
};

TEST_F(MigrationTest, FixturesAreAtTheirVersions) {
  EXPECT_THAT(Rows(FromFixture("schema_v1.sql"), "SELECT value FROM meta WHERE key='version'"),
              ElementsAre("1"));
  EXPECT_THAT(Rows(FromFixture("schema_v2.sql"), "SELECT value FROM meta WHERE key='version'"),
              ElementsAre("2"));
}

TEST_F(MigrationTest, UpgradesV1WithDataIntact) {
  std::string path = FromFixture("schema_v1.sql");
  auto opened = Database::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Database* db = opened->get();
  EXPECT_EQ(*db->SchemaVersion(), kCurrentSchemaVersion);

  auto account = AccountRepository(db).Get("pebble", "https://localhost:14000/dir");
  ASSERT_TRUE(account.ok()) << account.status();
  EXPECT_EQ(account->id, 1);
  EXPECT_EQ(account->account_url, "https://localhost:14000/my-account/1");
  EXPECT_THAT(account->contact, ElementsAre("mailto:ops@example.com"));
  EXPECT_EQ(account->status, "valid");
  EXPECT_NE(account->key_pem.find("FIXTUREACCOUNTKEY1"), std::string::npos);
  EXPECT_EQ(account->created_at, absl::FromUnixSeconds(1700000000));

  CertificateRepository certificates(db);
  auto www = certificates.GetByName("www.example.com");
  ASSERT_TRUE(www.ok()) << www.status();
  ASSERT_EQ(www->identifiers.size(), 2u);
  EXPECT_EQ(www->identifiers[1].value, "example.com");
  EXPECT_EQ(www->policy.ca_name, "pebble");
  EXPECT_THAT(www->policy.challenge_preference, ElementsAre("tls-alpn-01", "http-01"));
  EXPECT_EQ(www->policy.renew_before, absl::Hours(24 * 30));
  auto api = certificates.GetById(2);
  ASSERT_TRUE(api.ok());
  EXPECT_EQ(api->policy.key_type, "rsa-2048");

  IssuanceRepository issuances(db);
  auto running = issuances.Get("iss_00000000000000a2");
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ(running->state, IssuanceState::kRunning);
  EXPECT_EQ(running->step, "authorizations");
  EXPECT_EQ(running->progress_json, "{\"order\":\"https://localhost:14000/my-order/2\"}");
  EXPECT_EQ(running->cert_key_pem, "CERTKEY-A2");
  EXPECT_EQ(running->attempts, 2);
  EXPECT_FALSE(running->request_id.has_value());  // Column added by v3.
  auto unfinished = issuances.ListUnfinished();
  ASSERT_TRUE(unfinished.ok());
  ASSERT_EQ(unfinished->size(), 1u);
  EXPECT_EQ((*unfinished)[0].id, "iss_00000000000000a2");

  auto version = CertificateVersionRepository(db).Latest(1);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->serial_hex, "0a1b2c");
  EXPECT_EQ(version->issuer, "");  // Column added by v2 with its default.
  EXPECT_FALSE(version->revocation_reason.has_value());
  EXPECT_EQ(version->not_after, absl::FromUnixSeconds(1707776000));
  EXPECT_EQ(version->issuance_id, "iss_00000000000000a1");

  // v3 objects exist and work.
  EXPECT_EQ(*db->CountRows("events"), 0);
  EventRecord event;
  event.issuance_id = "iss_00000000000000a2";
  event.kind = "note";
  EXPECT_TRUE(EventRepository(db).Append(event).ok());

  opened->reset();
  EXPECT_EQ(SchemaOf(path), CurrentSchema());
}

TEST_F(MigrationTest, UpgradesV2WithDataIntactAndOneActiveIssuance) {
  std::string path = FromFixture("schema_v2.sql");
  auto opened = Database::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Database* db = opened->get();
  EXPECT_EQ(*db->SchemaVersion(), kCurrentSchemaVersion);

  auto version = CertificateVersionRepository(db).Get(4);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->issuer, "CN=(STAGING) Ersatz Edamame E1");
  EXPECT_EQ(version->revocation_reason, 4);
  EXPECT_EQ(version->revoked_at, absl::FromUnixSeconds(1711000000));
  EXPECT_EQ(version->chain_pem, "CHAIN-PEM-4");
  EXPECT_EQ(version->key_pem, "KEY-PEM-4");

  auto account = AccountRepository(db).GetById(7);
  ASSERT_TRUE(account.ok());
  EXPECT_EQ(account->ca_name, "letsencrypt");
  EXPECT_TRUE(account->contact.empty());

  // v2 allowed two active issuances per certificate; v3 keeps the oldest.
  IssuanceRepository issuances(db);
  auto kept = issuances.Get("iss_00000000000000b2");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->state, IssuanceState::kPending);
  EXPECT_EQ(kept->next_attempt_at, absl::FromUnixSeconds(1710000900));
  auto superseded = issuances.Get("iss_00000000000000b3");
  ASSERT_TRUE(superseded.ok());
  EXPECT_EQ(superseded->state, IssuanceState::kCancelled);
  EXPECT_THAT(superseded->error_message, ::testing::HasSubstr("superseded"));
  EXPECT_TRUE(superseded->finished_at.has_value());
  EXPECT_EQ(*issuances.Count(), 3);

  opened->reset();
  EXPECT_EQ(SchemaOf(path), CurrentSchema());
}

TEST_F(MigrationTest, ReopeningCurrentDatabaseChangesNothing) {
  std::string path = dir_.File("current.db");
  { ASSERT_TRUE(Database::Open(path).ok()); }
  std::vector<std::string> before = SchemaOf(path);
  auto db = Database::Open(path);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(*(*db)->SchemaVersion(), kCurrentSchemaVersion);
  db->reset();
  EXPECT_EQ(SchemaOf(path), before);
}

struct FileState {
  std::string bytes;
  struct timespec mtime;
};

FileState Snapshot(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0);
  return {ReadBytes(path), st.st_mtim};
}

void ExpectUntouched(const FileState& before, const std::string& path) {
  FileState after = Snapshot(path);
  EXPECT_TRUE(after.bytes == before.bytes) << "database bytes changed";
  EXPECT_EQ(after.mtime.tv_sec, before.mtime.tv_sec);
  EXPECT_EQ(after.mtime.tv_nsec, before.mtime.tv_nsec);
}

constexpr char kTooNew[] =
    "database schema version 99 is newer than this certfleet (supports up to 3); upgrade "
    "certfleet";

TEST_F(MigrationTest, RefusesNewerDatabaseWithoutTouchingIt) {
  static_assert(kCurrentSchemaVersion == 3, "update kTooNew");
  std::string path = FromFixture("schema_v2.sql");
  ASSERT_TRUE(ExecRaw(path,
                      "UPDATE meta SET value = 99 WHERE key IN ('version', 'compatible_version');"
                      "CREATE TABLE from_the_future (x);"));
  FileState before = Snapshot(path);
  EXPECT_THAT(Database::Open(path).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, kTooNew));
  ExpectUntouched(before, path);
  EXPECT_THAT(Rows(path, "SELECT value FROM meta WHERE key = 'version'"), ElementsAre("99"));
}

TEST_F(MigrationTest, RefusesNewerWalDatabaseWithoutTouchingIt) {
  // A file a newer certfleet left in WAL mode.
  std::string path = dir_.File("wal.db");
  { ASSERT_TRUE(Database::Open(path).ok()); }
  ASSERT_TRUE(ExecRaw(path,
                      "UPDATE meta SET value = 99 WHERE key IN ('version', "
                      "'compatible_version')"));
  ASSERT_THAT(Rows(path, "PRAGMA journal_mode"), ElementsAre("wal"));
  FileState before = Snapshot(path);
  EXPECT_THAT(Database::Open(path).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, kTooNew));
  ExpectUntouched(before, path);
}

TEST_F(MigrationTest, NewerButCompatibleDatabaseOpensWithoutDowngrade) {
  std::string path = dir_.File("compatible.db");
  { ASSERT_TRUE(Database::Open(path).ok()); }
  ASSERT_TRUE(ExecRaw(path, "UPDATE meta SET value = 4 WHERE key = 'version'"));
  auto db = Database::Open(path);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(*(*db)->SchemaVersion(), 4);
}

}  // namespace
}  // namespace certfleet::storage
