#pragma once

// The CLI's exit codes and how gRPC errors map to them.

#include <string>

#include "grpcpp/support/status.h"

namespace certfleet::cli {

// Exit codes scripts can rely on (documented in --help).
enum ExitCode : int {
  kExitOk = 0,
  // The operation ran and failed (issuance failed, watch saw a failure).
  kExitFailed = 1,
  // Bad command line.
  kExitUsage = 2,
  // The server could not be reached (UNAVAILABLE, or DEADLINE_EXCEEDED before connecting).
  kExitUnavailable = 3,
  // NOT_FOUND.
  kExitNotFound = 4,
  // INVALID_ARGUMENT or FAILED_PRECONDITION from the server.
  kExitInvalidArgument = 5,
  // Any other server error.
  kExitServerError = 6,
  // UNAUTHENTICATED or PERMISSION_DENIED: missing or wrong --token-file.
  kExitNotAuthorized = 7,
};

// The gRPC name of a status code ("INVALID_ARGUMENT", ...).
std::string StatusCodeName(grpc::StatusCode code);

// The exit code for a failed RPC; `connected` tells a deadline that passed while connecting
// (exit 3) from one that passed on a connected channel (exit 6).
int ExitCodeForStatus(const grpc::Status& status, bool connected);

}  // namespace certfleet::cli
