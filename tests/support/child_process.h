#pragma once

// Child processes for tests and benchmarks: fork/exec with stdout/stderr in files, exit
// polling and reaping. The single implementation behind bench/bench_process.h,
// tests/integration/server/server_process.h and tests/e2e/e2e_process.h.

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace certfleet::testing::child_process {

// How to start a child.
struct SpawnOptions {
  // Files receiving the child's stdout and stderr; may be the same path (one log).
  std::string stdout_path;
  std::string stderr_path;
  // Appends to the files instead of truncating them.
  bool append = false;
  // Added to (overriding) the parent's environment.
  std::map<std::string, std::string> env;
  // When exec fails: true lets the child exit with code 127; false makes Spawn fail.
  bool exec_failure_exits_127 = false;
};

// Starts argv[0] (a path) with `argv`, stdin from /dev/null, every signal unblocked and no
// other inherited descriptor (close-on-exec set on all from 3 up).
// InvalidArgument for an empty argv; Unavailable ("cannot start <argv[0]>: <reason>") when
// the files cannot be opened, fork fails, or (unless exec_failure_exits_127) exec fails.
// The child gets SIGKILL when the spawning thread (or the whole test) dies.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options);

// Whether child `pid` still runs (waitpid WNOHANG). Once it has exited (or is gone), sets
// `*reaped` and, when it could be reaped, `*exit_code`; false from then on.
bool Running(pid_t pid, bool* reaped, int* exit_code);

// Waits (polling every `poll_interval`) up to `timeout` for `pid` to exit, then SIGKILLs and
// reaps it. Returns `*exit_code` (128 + signal when killed by a signal).
int Wait(pid_t pid, absl::Duration timeout, absl::Duration poll_interval, bool* reaped,
         int* exit_code);

// SIGKILLs and reaps `pid` unless already reaped (for destructors).
void KillAndReap(pid_t pid, bool* reaped, int* exit_code);

// The exit code for a waitpid status: the code, 128 + signal when signalled, else -1.
int ExitCodeOf(int wait_status);

// What a finished child left behind.
struct RunResult {
  int exit_code = -1;  // -1 when it could not be started.
  std::string out;
  std::string err;  // The Spawn error message when it could not be started.
};

// Runs `argv` to completion (SIGKILLed after `timeout`, exit polled every `poll_interval`)
// and returns its exit code and the content of its output files.
RunResult Run(const std::vector<std::string>& argv, const SpawnOptions& options,
              absl::Duration timeout, absl::Duration poll_interval);

// The whole content of `path`, or "" when it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace certfleet::testing::child_process
