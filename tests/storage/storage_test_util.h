#pragma once

// Helpers shared by the storage tests: temporary directories, a fixed clock, raw sqlite3
// access for building fixture databases, and a status matcher.

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certfleet::storage::testing {

// True when `status` has `code` and its message contains `substring`.
MATCHER_P2(StatusIs, code, substring, "") {
  const absl::Status& status = [](const auto& s) -> const absl::Status& {
    if constexpr (std::is_same_v<std::decay_t<decltype(s)>, absl::Status>) {
      return s;
    } else {
      return s.status();
    }
  }(arg);
  std::string message(status.message());
  *result_listener << "status is " << status.ToString();
  return status.code() == code && message.find(substring) != std::string::npos;
}

// A clock frozen at a settable time.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time now) : now_(now) {}
  absl::Time Now() const override { return now_; }
  void SleepUntil(absl::Time deadline) override {
    if (deadline > now_) now_ = deadline;
  }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  absl::Time now_;
};

// A fresh directory under $TEST_TMPDIR or /tmp, removed on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/cf-storage-XXXXXX";
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  // Path of `name` inside the directory.
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// Runs `sql` on the database file at `path` through the raw sqlite3 API.
inline ::testing::AssertionResult ExecRaw(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    std::string error = sqlite3_errmsg(db);
    sqlite3_close(db);
    return ::testing::AssertionFailure() << "open " << path << ": " << error;
  }
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  if (rc != SQLITE_OK) return ::testing::AssertionFailure() << "exec: " << message;
  return ::testing::AssertionSuccess();
}

// The whole content of a file ("" when absent).
inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The text of a fixture under tests/testdata/storage (CERTFLEET_SOURCE_DIR, set by
// certfleet_test(), or the source tree this file was compiled from).
inline std::string ReadFixture(std::string_view name) {
  const char* source = std::getenv("CERTFLEET_SOURCE_DIR");
  std::string root =
      source != nullptr
          ? std::string(source)
          : std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().string();
  std::string path = root + "/tests/testdata/storage/" + std::string(name);
  std::string text = ReadBytes(path);
  EXPECT_FALSE(text.empty()) << "missing fixture " << path;
  return text;
}

}  // namespace certfleet::storage::testing
