#include "server/acme/retry_after.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"

namespace certfleet::acme {
namespace {

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool TryParse(const char* format, const std::string& text, absl::Time* out) {
  std::string err;
  return absl::ParseTime(format, text, absl::UTCTimeZone(), out, &err);
}

}  // namespace

absl::StatusOr<absl::Time> ParseRetryAfter(std::string_view value, absl::Time now) {
  std::string text(absl::StripAsciiWhitespace(absl::string_view(value.data(), value.size())));
  if (AllDigits(text)) {
    int64_t seconds = 0;
    if (text.size() > 12 || !absl::SimpleAtoi(text, &seconds)) {
      return absl::InvalidArgumentError(absl::StrCat("Retry-After \"", text, "\" is too large"));
    }
    return now + absl::Seconds(seconds);
  }
  absl::Time t;
  // IMF-fixdate. absl::ParseTime's %a/%b are case-sensitive English names.
  if (TryParse("%a, %d %b %Y %H:%M:%S GMT", text, &t)) return t;
  // asctime: "Sun Nov  6 08:49:37 1994" (day space-padded); collapse runs of spaces.
  std::string collapsed = absl::StrJoin(
      std::vector<std::string>(absl::StrSplit(text, ' ', absl::SkipEmpty())), " ");
  if (TryParse("%a %b %d %H:%M:%S %Y", collapsed, &t)) return t;
  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT". Two-digit years: RFC 9110 says a year that
  // appears more than 50 years in the future is in the past century.
  size_t comma = text.find(", ");
  if (comma != std::string::npos) {
    std::string rest = text.substr(comma + 2);
    std::vector<std::string> parts = absl::StrSplit(rest, absl::MaxSplits(' ', 1));
    std::vector<std::string> dmy = absl::StrSplit(parts[0], '-');
    if (parts.size() == 2 && dmy.size() == 3 && dmy[2].size() == 2 && AllDigits(dmy[2])) {
      int yy = 0;
      absl::SimpleAtoi(dmy[2], &yy);
      int now_year = static_cast<int>(absl::ToCivilYear(now, absl::UTCTimeZone()).year());
      int year = (now_year / 100) * 100 + yy;
      if (year > now_year + 50) year -= 100;
      std::string rebuilt = absl::StrCat(dmy[0], "-", dmy[1], "-", year, " ", parts[1]);
      if (TryParse("%d-%b-%Y %H:%M:%S GMT", rebuilt, &t)) return t;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("Retry-After \"", text, "\" is neither delta-seconds nor an HTTP-date"));
}

std::optional<absl::Time> ReadRetryAfter(const HttpHeaders& headers, absl::Time now) {
  std::string value = headers.Get("Retry-After");
  if (value.empty()) return std::nullopt;
  auto t = ParseRetryAfter(value, now);
  if (!t.ok()) return std::nullopt;
  return *t;
}

}  // namespace certfleet::acme
