#pragma once

// absl::Status <-> grpc::Status with the same code and message.

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace certfleet::api {

// The grpc::Status with `status`'s code and message (codes share their numbering).
grpc::Status ToGrpcStatus(const absl::Status& status);
// The absl::Status with `status`'s code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace certfleet::api
