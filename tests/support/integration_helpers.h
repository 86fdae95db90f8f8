#pragma once

// Small helpers the process-level integration tests share: where the binaries are and polling
// for a condition (tests/support/poll.h), and reading the server's SQLite file.

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "tests/support/poll.h"

namespace certfleet::testing {

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
