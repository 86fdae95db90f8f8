#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/database.h"
#include "storage/records.h"

namespace certfleet::storage {

// Input of IssuanceRepository::IssueOrJoin.
struct IssueRequest {
  std::string name;  // The managed certificate's stable name (e.g. first identifier).
  std::vector<IdentifierRecord> identifiers;  // Already normalised; non-empty.
  CertificatePolicy policy;
  std::optional<std::string> request_id;  // Idempotency key; nullopt = none.
  IssuanceReason reason = IssuanceReason::kIssue;
  std::string cert_key_pem;  // PRIVATE; may be empty and set later with SaveCertKey.
};

// Output of IssuanceRepository::IssueOrJoin.
struct IssueResult {
  IssuanceRecord issuance;
  ManagedCertificateRecord certificate;  // As stored after the call.
  bool created = false;                  // false: joined an active issuance or matched request_id.
};

// Issuances and their persisted progress. Every state change also appends an event
// (kEventStateChanged / kEventStep) in the same transaction. Thread-safe; each call takes
// the Database lock. `db` is not owned and must outlive the repository.
class IssuanceRepository {
 public:
  explicit IssuanceRepository(Database* db) : db_(db) {}

  // In ONE transaction: returns the issuance with the same request_id if any (whatever
  // its certificate or state); else finds the managed certificate by name (creating it
  // from the request when absent) and returns its active (pending/running) issuance if
  // any; else updates the certificate's identifiers/policy from the request and creates a
  // pending issuance. InvalidArgument for an empty name or identifier list.
  absl::StatusOr<IssueResult> IssueOrJoin(const IssueRequest& request);
  // NotFound when absent.
  absl::StatusOr<IssuanceRecord> Get(std::string_view id);
  // The active (pending/running) issuance of a certificate; NotFound when none.
  absl::StatusOr<IssuanceRecord> GetActiveForCertificate(int64_t managed_certificate_id);
  // pending and running issuances, oldest first (for resuming on start).
  absl::StatusOr<std::vector<IssuanceRecord>> ListUnfinished();
  // Issuances in `state`, oldest first.
  absl::StatusOr<std::vector<IssuanceRecord>> ListByState(IssuanceState state);
  // All issuances of a certificate, newest first.
  absl::StatusOr<std::vector<IssuanceRecord>> ListForCertificate(int64_t managed_certificate_id);
  // The newest issuance of a certificate (the first of ListForCertificate); NotFound when
  // it has none.
  absl::StatusOr<IssuanceRecord> LatestForCertificate(int64_t managed_certificate_id);
  // Persists the engine checkpoint. NotFound when absent, FailedPrecondition when finished.
  absl::Status SaveProgress(std::string_view id, std::string_view step,
                            std::string_view progress_json);
  // Stores the key of the certificate being ordered. NotFound / FailedPrecondition as above.
  absl::Status SaveCertKey(std::string_view id, std::string_view cert_key_pem);
  // pending -> running and attempts += 1 (also from running, on resume); clears
  // next_attempt_at. NotFound / FailedPrecondition as above.
  absl::Status MarkRunning(std::string_view id);
  // Records a transient failure and when to try again: state -> pending, error stored,
  // next_attempt_at set. NotFound / FailedPrecondition as above.
  absl::Status ScheduleRetry(std::string_view id, absl::Time next_attempt_at,
                             const absl::Status& error);
  // Ends the issuance in `state` (kFailed, kCancelled, or kValid without a certificate -
  // prefer CertificateVersionRepository::CompleteIssuance), storing `error`, setting
  // finished_at. InvalidArgument for an active state, NotFound, FailedPrecondition when
  // already finished.
  absl::Status Finish(std::string_view id, IssuanceState state, const absl::Status& error);
  // Number of issuances, in `state` when given (test and metrics helper).
  absl::StatusOr<int64_t> Count(std::optional<IssuanceState> state = std::nullopt);

 private:
  Database* const db_;
};

}  // namespace certfleet::storage
