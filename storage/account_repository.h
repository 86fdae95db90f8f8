#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/database.h"
#include "storage/records.h"

namespace certfleet::storage {

// ACME accounts, one per (ca_name, directory_url). Thread-safe; each call takes the
// Database lock. `db` is not owned and must outlive the repository.
class AccountRepository {
 public:
  explicit AccountRepository(Database* db) : db_(db) {}

  // Inserts the account or, when (ca_name, directory_url) exists, replaces its key,
  // account URL, contact and status. Returns the stored row (id and timestamps filled).
  // InvalidArgument when ca_name, directory_url or key_pem is empty.
  absl::StatusOr<AccountRecord> Upsert(const AccountRecord& account);
  // The account for (ca_name, directory_url); NotFound when absent.
  absl::StatusOr<AccountRecord> Get(std::string_view ca_name, std::string_view directory_url);
  // The account with `id`; NotFound when absent.
  absl::StatusOr<AccountRecord> GetById(int64_t id);
  // All accounts ordered by id.
  absl::StatusOr<std::vector<AccountRecord>> List();
  // Sets the ACME status (e.g. "deactivated"); NotFound when absent.
  absl::Status UpdateStatus(int64_t id, std::string_view status);
  // Replaces the account key after a key roll-over; NotFound when absent.
  absl::Status UpdateKey(int64_t id, std::string_view key_pem);

 private:
  Database* const db_;
};

}  // namespace certfleet::storage
