#include "storage/event_repository.h"

#include "common/status_macros.h"
#include "storage/row_codec.h"

namespace certfleet::storage {

absl::StatusOr<EventRecord> EventRepository::Append(const EventRecord& event) {
  absl::MutexLock lock(db_->mu());
  return internal::InsertEvent(db_, event, db_->clock()->Now());
}

absl::StatusOr<std::vector<EventRecord>> EventRepository::ListForIssuance(
    std::string_view issuance_id) {
  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(Statement stmt, db_->Prepare("SELECT " CF_EVENT_COLUMNS
                                                " FROM events WHERE issuance_id = ? ORDER BY id"));
  RETURN_IF_ERROR(stmt.BindText(0, issuance_id));
  return internal::ReadAll(stmt, internal::ReadEvent);
}

absl::StatusOr<std::vector<EventRecord>> EventRepository::ListSince(int64_t after_id, int limit) {
  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(Statement stmt, db_->Prepare("SELECT " CF_EVENT_COLUMNS
                                                " FROM events WHERE id > ? ORDER BY id LIMIT ?"));
  RETURN_IF_ERROR(stmt.BindInt64(0, after_id));
  RETURN_IF_ERROR(stmt.BindInt64(1, limit > 0 ? limit : 1000));
  return internal::ReadAll(stmt, internal::ReadEvent);
}

}  // namespace certfleet::storage
