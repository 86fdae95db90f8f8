#pragma once

// Child processes for the end-to-end tests: long-running daemons (certfleet-server,
// certfleet-agent) with their output in files, and short commands (the certfleet CLI) run to
// completion with their output captured.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/poll.h"

namespace certfleet::e2e {

// A running child whose stdout and stderr go to one log file. SIGKILLed and reaped on
// destruction when still running.
class Daemon {
 public:
  // Starts argv[0] (a path) with `argv`; stdout and stderr appended to `log_path`.
  // Internal when fork/exec fails (exec failures show as exit code 127).
  static absl::StatusOr<std::unique_ptr<Daemon>> Spawn(const std::vector<std::string>& argv,
                                                       const std::string& log_path);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // The child's process id.
  pid_t pid() const { return pid_; }
  // Sends `signal` (no-op once reaped).
  void Signal(int signal);
  // True while the child has not exited (waitpid WNOHANG; reaps it when it has).
  bool Running();
  // Waits up to `timeout` for the child to exit, then SIGKILLs it. Returns the exit code,
  // 128 + signal when killed by a signal.
  int Wait(absl::Duration timeout);
  // The log so far.
  std::string Log() const;
  // The log file's path.
  const std::string& log_path() const { return log_path_; }

 private:
  Daemon(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  bool reaped_ = false;
  int exit_code_ = -1;
  std::string log_path_;
};

// What a finished command left behind.
struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed by a signal.
  std::string out;
  std::string err;
};

// Runs `argv` to completion (SIGKILLed after `timeout`), capturing stdout and stderr through
// files under `work_dir`.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& work_dir,
                         absl::Duration timeout);

// The whole content of `path`, or "" when it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

// Writes `content` to `path` with permission `mode`; false on failure.
bool WriteFileWithMode(const std::string& path, const std::string& content, int mode);

// PollUntil (every 50 ms unless told) and BuildDir, shared with the integration tests.
using testing::BuildDir;
using testing::PollUntil;

}  // namespace certfleet::e2e
