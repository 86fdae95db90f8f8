#pragma once

// Clock seam: renewal, backoff and Retry-After use an injected Clock so tests
// can move time without sleeping.

#include "absl/time/time.h"

namespace certfleet {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // Blocks the calling thread until `deadline` by this clock (a fake clock
  // returns as soon as its time has been advanced past it).
  virtual void SleepUntil(absl::Time deadline) = 0;
};

// The real wall clock. Never null; not owned by the caller.
Clock* RealClock();

}  // namespace certfleet
