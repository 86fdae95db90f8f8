#include "client/cli/duration.h"

#include <cctype>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace certfleet::cli {

absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid duration \"", text, "\": want a number with a unit (ms, s, m, h, d), e.g. 30s"));
  };
  if (text.empty()) return bad();
  absl::Duration total = absl::ZeroDuration();
  size_t i = 0;
  while (i < text.size()) {
    size_t digits_start = i;
    int64_t number = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      number = number * 10 + (text[i] - '0');
      if (number > 1'000'000'000) return bad();
      ++i;
    }
    if (i == digits_start) return bad();
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    absl::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit == "ms") {
      total += absl::Milliseconds(number);
    } else if (unit == "s") {
      total += absl::Seconds(number);
    } else if (unit == "m") {
      total += absl::Minutes(number);
    } else if (unit == "h") {
      total += absl::Hours(number);
    } else if (unit == "d") {
      total += absl::Hours(24 * number);
    } else {
      return bad();
    }
  }
  if (total <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid duration \"", text, "\": must be greater than zero"));
  }
  return total;
}

}  // namespace certfleet::cli
