#pragma once

// Where the certfleet binaries are built, and polling for a condition: shared by the
// integration tests, the end-to-end tests and the benchmarks (no gtest or SQLite here).

#include <cstdlib>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace certfleet::testing {

// $CERTFLEET_BUILD_DIR (where the certfleet binaries are built), "" when unset.
inline std::string BuildDir() {
  const char* dir = std::getenv("CERTFLEET_BUILD_DIR");
  return dir != nullptr ? dir : "";
}

// Polls `condition` (every `poll_interval`) until it holds or `timeout` passes; returns
// whether it held. The last check comes after `timeout` has passed.
template <typename F>
bool PollUntil(F condition, absl::Duration timeout,
               absl::Duration poll_interval = absl::Milliseconds(50)) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (condition()) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(poll_interval);  // Poll interval of a real condition.
  }
}

}  // namespace certfleet::testing
