#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/database.h"
#include "storage/records.h"

namespace certfleet::storage {

// The event log. Thread-safe; each call takes the Database lock. `db` is not owned and
// must outlive the repository.
class EventRepository {
 public:
  explicit EventRepository(Database* db) : db_(db) {}

  // Appends an event (id and created_at are assigned) and returns it. InvalidArgument
  // when kind is empty; FailedPrecondition when a referenced row does not exist.
  absl::StatusOr<EventRecord> Append(const EventRecord& event);
  // Events of one issuance in order of appending.
  absl::StatusOr<std::vector<EventRecord>> ListForIssuance(std::string_view issuance_id);
  // Up to `limit` events with id > after_id, in order (for tailing the log).
  absl::StatusOr<std::vector<EventRecord>> ListSince(int64_t after_id, int limit);

 private:
  Database* const db_;
};

}  // namespace certfleet::storage
