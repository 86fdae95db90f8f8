#pragma once

// Anti-replay nonces (RFC 8555 section 7.2): a pool fed by the Replay-Nonce header of every
// response. Thread-safe. A nonce leaves the pool when taken and is never handed out twice.

#include <deque>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace certfleet::acme {

class NoncePool {
 public:
  // Keeps at most `capacity` nonces (the oldest are dropped first).
  explicit NoncePool(size_t capacity = 16);

  // Adds a nonce from a response. Ignores "" and nonces already seen (added or taken).
  void Add(const std::string& nonce);
  // Takes the newest nonce, or nullopt when the pool is empty (then HEAD newNonce).
  std::optional<std::string> Take();
  size_t size() const;

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<std::string> nonces_ ABSL_GUARDED_BY(mu_);
  // Every nonce ever seen, bounded: a nonce is never used twice.
  absl::flat_hash_set<std::string> seen_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> seen_order_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certfleet::acme
