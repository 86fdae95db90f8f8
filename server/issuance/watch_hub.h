#pragma once

// Fan-out of issuance changes to watchers (WatchIssuances streams, waiting RPCs).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/records.h"

namespace certfleet::issuance {

// An issuance as watchers see it: private keys are always cleared.
struct IssuanceView {
  storage::IssuanceRecord issuance;
  storage::ManagedCertificateRecord certificate;
  // The version it produced, once valid.
  std::optional<storage::CertificateVersionRecord> version;
  // Install results of that version on the hosts (events "installed"/"install_failed").
  std::vector<storage::EventRecord> installs;
};

class WatchHub {
 public:
  // Called for every change, in order per issuance, on the publishing thread. It must not
  // block and must not call Subscribe/Unsubscribe.
  using Callback = std::function<void(const IssuanceView&)>;

  // Registers `callback`; returns a handle for Unsubscribe.
  uint64_t Subscribe(Callback callback);
  // Removes a subscriber. When it returns, its callback is not running and never will be.
  void Unsubscribe(uint64_t handle);
  // Delivers `view` to every subscriber.
  void Publish(const IssuanceView& view);
  // Number of subscribers (tests).
  size_t size() const;

 private:
  mutable absl::Mutex mu_;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Callback> subscribers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certfleet::issuance
