#pragma once

// Runs a shell command (the web server's reload command) with a time limit.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace certfleet::agent {

// Runs `command` with /bin/sh -c in its own process group, with default signal
// dispositions, an empty signal mask, stdin/stdout/stderr inherited and every other
// descriptor closed. Returns the exit status
// (128 + N when killed by signal N). DeadlineExceeded when it runs longer than `timeout`
// (the whole process group is then killed with SIGKILL); Internal when it cannot start.
absl::StatusOr<int> RunShellCommand(const std::string& command, absl::Duration timeout);

}  // namespace certfleet::agent
