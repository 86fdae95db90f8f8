#pragma once

// The server's ACME accounts, one per configured CA: an AcmeClient per CA created lazily
// and cached, with its account key loaded from storage or generated, stored and registered
// (newAccount, with EAB when configured). Thread-safe; every method blocks on the network
// and must run on a worker or executor thread.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/crypto/key.h"
#include "server/acme/acme_client.h"
#include "server/issuance/settings.h"
#include "storage/account_repository.h"
#include "storage/database.h"

namespace certfleet::issuance {

class AcmeAccounts {
 public:
  // `db` and `clock` are not owned and must outlive this object.
  AcmeAccounts(storage::Database* db, CaSettingsMap cas, Clock* clock);

  // The client for CA `ca` signing with its registered account, registering one when there
  // is none (the key is stored before newAccount is sent). InvalidArgument for an unknown CA;
  // the CA's error otherwise. The returned client is shared and thread-safe.
  absl::StatusOr<std::shared_ptr<acme::AcmeClient>> ClientFor(const std::string& ca);
  // As ClientFor, returning the stored account.
  absl::StatusOr<storage::AccountRecord> Ensure(const std::string& ca);
  // The stored account of `ca` (no network). NotFound when none has been registered.
  absl::StatusOr<storage::AccountRecord> Get(const std::string& ca);
  // Every stored account.
  absl::StatusOr<std::vector<storage::AccountRecord>> List();
  // Deactivates the account with the CA and marks it so; the next use registers a new one.
  absl::StatusOr<storage::AccountRecord> Deactivate(const std::string& ca);
  // keyChange to a fresh key of `type` (the current type when nullopt); the new key is
  // stored once the CA accepted it.
  absl::StatusOr<storage::AccountRecord> RollOver(const std::string& ca,
                                                  std::optional<crypto::KeyType> type);

  // The settings of `ca`; InvalidArgument when not configured.
  absl::StatusOr<CaSettings> Settings(const std::string& ca) const;

 private:
  struct Entry {
    absl::Mutex mu;  // Held while registering, so one CA registers once.
    std::shared_ptr<acme::AcmeClient> client ABSL_GUARDED_BY(mu);
  };
  Entry* EntryFor(const std::string& ca);
  absl::StatusOr<std::shared_ptr<acme::AcmeClient>> ClientLocked(const CaSettings& settings,
                                                                 Entry* entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry->mu);

  storage::Database* const db_;
  storage::AccountRepository accounts_;
  const CaSettingsMap cas_;
  Clock* const clock_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certfleet::issuance
