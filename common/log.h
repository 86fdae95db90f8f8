#pragma once

// A small logging facade: leveled, structured `key=value` lines on stderr.
//
//   CF_LOG(INFO) << "issuance started" << Kv("issuance", id) << Kv("names", names);
//
// Never pass private keys, account keys or EAB secrets to a log line.

#include <sstream>
#include <string>
#include <string_view>

namespace certfleet {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Sets the minimum level written (default kInfo; CERTFLEET_LOG_LEVEL=debug|info|warning|error
// in the environment overrides the default at first use).
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Parses "debug", "info", "warning"/"warn", "error"; returns false for anything else.
bool ParseLogLevel(std::string_view text, LogLevel* level);

// One key=value field; values with spaces, quotes or '=' are quoted.
struct Kv {
  template <typename T>
  Kv(std::string_view k, const T& v) : key(k) {
    std::ostringstream os;
    os << v;
    value = os.str();
  }
  std::string key;
  std::string value;
};

// Accumulates one line and writes it atomically to stderr on destruction.
class LogLine {
 public:
  LogLine(LogLevel level, const char* file, int line);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  LogLine& operator<<(const Kv& kv);
  template <typename T>
  LogLine& operator<<(const T& message) {
    msg_ << message;
    return *this;
  }

 private:
  LogLevel level_;
  std::ostringstream msg_;
  std::string fields_;
};

}  // namespace certfleet

#define CF_LOG_LEVEL_DEBUG ::certfleet::LogLevel::kDebug
#define CF_LOG_LEVEL_INFO ::certfleet::LogLevel::kInfo
#define CF_LOG_LEVEL_WARNING ::certfleet::LogLevel::kWarning
#define CF_LOG_LEVEL_ERROR ::certfleet::LogLevel::kError

#define CF_LOG(severity)                                                         \
  if (CF_LOG_LEVEL_##severity < ::certfleet::GetLogLevel()) {                    \
  } else                                                                         \
    ::certfleet::LogLine(CF_LOG_LEVEL_##severity, __FILE__, __LINE__)
