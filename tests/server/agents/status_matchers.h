#pragma once

#include <gmock/gmock.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"

namespace certfleet::agents::testing {

// Matches an absl::Status (or StatusOr) with `code` whose message contains `substring`.
MATCHER_P2(StatusIs, code, substring, "") {
  const absl::Status status = [&] {
    if constexpr (std::is_same_v<std::decay_t<arg_type>, absl::Status>) {
      return arg;
    } else {
      return arg.status();
    }
  }();
  *result_listener << "status is " << status;
  return status.code() == code && absl::StrContains(status.message(), std::string(substring));
}

// Matches a grpc::Status with `code` whose message contains `substring`.
MATCHER_P2(GrpcStatusIs, code, substring, "") {
  *result_listener << "status is " << arg.error_code() << ": " << arg.error_message();
  return arg.error_code() == code && absl::StrContains(arg.error_message(), std::string(substring));
}

}  // namespace certfleet::agents::testing
