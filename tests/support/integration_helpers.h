#pragma once

// Small helpers the process-level integration tests share: where the binaries are, polling
// for a condition, and reading the server's SQLite file.

#include <sqlite3.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace certfleet::testing {

// $CERTFLEET_BUILD_DIR (where the certfleet binaries are built), "" when unset.
inline std::string BuildDir() {
  const char* dir = std::getenv("CERTFLEET_BUILD_DIR");
  return dir != nullptr ? dir : "";
}

// Polls `condition` (every 50 ms) until it holds or `timeout` passes; returns whether it held.
template <typename F>
bool PollUntil(F condition, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (condition()) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(50));  // Poll interval of a real condition.
  }
}

// Row counts and queries on an SQLite file (the server's database), opened read-only; open and
// query errors are gtest failures.
class ReadOnlyDb {
 public:
  // Opens `path` read-only (5 s busy timeout).
  explicit ReadOnlyDb(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "cannot open " << path;
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~ReadOnlyDb() { sqlite3_close(db_); }
  ReadOnlyDb(const ReadOnlyDb&) = delete;
  ReadOnlyDb& operator=(const ReadOnlyDb&) = delete;

  // The rows of a query, each column as text.
  std::vector<std::vector<std::string>> Query(const std::string& sql) {
    std::vector<std::vector<std::string>> rows;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return rows;
    }
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const unsigned char* text = sqlite3_column_text(stmt, i);
        row.push_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
    return rows;
  }

  // SELECT COUNT(*) of `table`; -1 when the query fails.
  int64_t Count(const std::string& table) {
    auto rows = Query("SELECT COUNT(*) FROM " + table);
    int64_t n = -1;
    if (!rows.empty()) (void)absl::SimpleAtoi(rows[0][0], &n);
    return n;
  }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace certfleet::testing
