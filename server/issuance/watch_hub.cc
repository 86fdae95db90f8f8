#include "server/issuance/watch_hub.h"

#include <utility>

namespace certfleet::issuance {

uint64_t WatchHub::Subscribe(Callback callback) {
  absl::MutexLock lock(&mu_);
  uint64_t handle = next_++;
  subscribers_.emplace(handle, std::move(callback));
  return handle;
}

void WatchHub::Unsubscribe(uint64_t handle) {
  absl::MutexLock lock(&mu_);
  subscribers_.erase(handle);
}

void WatchHub::Publish(const IssuanceView& view) {
  // Callbacks run under the lock: it orders deliveries and makes Unsubscribe a barrier.
  absl::MutexLock lock(&mu_);
  for (auto& [handle, callback] : subscribers_) callback(view);
}

size_t WatchHub::size() const {
  absl::MutexLock lock(&mu_);
  return subscribers_.size();
}

}  // namespace certfleet::issuance
