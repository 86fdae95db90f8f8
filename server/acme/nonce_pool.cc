#include "server/acme/nonce_pool.h"

namespace certfleet::acme {
namespace {
constexpr size_t kSeenLimit = 4096;
}  // namespace

NoncePool::NoncePool(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

void NoncePool::Add(const std::string& nonce) {
  if (nonce.empty()) return;
  absl::MutexLock lock(&mu_);
  if (!seen_.insert(nonce).second) return;
  seen_order_.push_back(nonce);
  if (seen_order_.size() > kSeenLimit) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  nonces_.push_back(nonce);
  while (nonces_.size() > capacity_) nonces_.pop_front();
}

std::optional<std::string> NoncePool::Take() {
  absl::MutexLock lock(&mu_);
  if (nonces_.empty()) return std::nullopt;
  std::string nonce = std::move(nonces_.back());
  nonces_.pop_back();
  return nonce;
}

size_t NoncePool::size() const {
  absl::MutexLock lock(&mu_);
  return nonces_.size();
}

}  // namespace certfleet::acme
