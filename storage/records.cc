#include "storage/records.h"

#include "absl/strings/str_cat.h"
#include "storage/absl_compat.h"

namespace certfleet::storage {

std::string_view IssuanceReasonName(IssuanceReason reason) {
  switch (reason) {
    case IssuanceReason::kIssue:
      return "issue";
    case IssuanceReason::kRenew:
      return "renew";
  }
  return "issue";
}

absl::StatusOr<IssuanceReason> ParseIssuanceReason(std::string_view text) {
  if (text == "issue") return IssuanceReason::kIssue;
  if (text == "renew") return IssuanceReason::kRenew;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown issuance reason '", internal::Av(text), "'"));
}

std::string_view IssuanceStateName(IssuanceState state) {
  switch (state) {
    case IssuanceState::kPending:
      return "pending";
    case IssuanceState::kRunning:
      return "running";
    case IssuanceState::kValid:
      return "valid";
    case IssuanceState::kFailed:
      return "failed";
    case IssuanceState::kCancelled:
      return "cancelled";
  }
  return "pending";
}

absl::StatusOr<IssuanceState> ParseIssuanceState(std::string_view text) {
  for (IssuanceState state :
       {IssuanceState::kPending, IssuanceState::kRunning, IssuanceState::kValid,
        IssuanceState::kFailed, IssuanceState::kCancelled}) {
    if (IssuanceStateName(state) == text) return state;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown issuance state '", internal::Av(text), "'"));
}

bool IsActive(IssuanceState state) {
  return state == IssuanceState::kPending || state == IssuanceState::kRunning;
}

absl::Status IssuanceRecord::error() const {
  if (error_code == 0) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(error_code), error_message);
}

}  // namespace certfleet::storage
