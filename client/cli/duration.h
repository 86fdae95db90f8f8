#pragma once

// Durations on the command line: "30s", "10m", "1h30m", "500ms", "7d".

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace certfleet::cli {

// Parses a positive duration made of one or more <integer><unit> parts, units ms, s, m, h, d
// (e.g. "90s", "1h30m", "7d"). Fails with kInvalidArgument naming the bad text otherwise.
absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text);

}  // namespace certfleet::cli
