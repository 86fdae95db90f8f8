#pragma once

// A thread-safe fake Clock for the issuance tests: time moves only when the test calls
// Advance; SleepUntil blocks until it has been advanced far enough.

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace certfleet::issuance::testing {

class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000)) : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  // Blocks until Advance has moved the clock to `deadline` or past it.
  void SleepUntil(absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    while (now_ < deadline) advanced_.Wait(&mu_);
  }
  // Moves the clock forward by `d`.
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
    advanced_.SignalAll();
  }
  // Sets the clock to `t` when that is later than now.
  void AdvanceTo(absl::Time t) {
    absl::MutexLock lock(&mu_);
    if (t > now_) now_ = t;
    advanced_.SignalAll();
  }

 private:
  mutable absl::Mutex mu_;
  absl::CondVar advanced_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certfleet::issuance::testing
