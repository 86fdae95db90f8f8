#pragma once

// Child processes for the server integration tests: the certfleet-server under test and
// certfleet CLI invocations, with their output captured in files.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace certfleet::testing {

// What a finished process left behind.
struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed by a signal.
  std::string out;
  std::string err;
};

// A running child whose stdout/stderr go to files. Killed (SIGKILL) and reaped on
// destruction when still running.
class ChildProcess {
 public:
  // Starts argv[0] (a path) with `argv`; stdout/stderr to the given files (truncated).
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(const std::vector<std::string>& argv,
                                                             const std::string& stdout_path,
                                                             const std::string& stderr_path);
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Sends `signal`.
  void Signal(int signal);
  // Reaps the child, waiting up to `timeout` (then SIGKILL). Returns the exit code
  // (128 + signal when killed).
  int Wait(absl::Duration timeout);
  // True while it has not exited.
  bool Running();
  // Output so far.
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  ChildProcess(pid_t pid, std::string out, std::string err)
      : pid_(pid), out_(std::move(out)), err_(std::move(err)) {}
  pid_t pid_;
  bool reaped_ = false;
  int exit_code_ = -1;
  std::string out_;
  std::string err_;
};

// Runs argv to completion within `timeout` (killed after it) and captures its output in
// files under `work_dir`.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& work_dir,
                         absl::Duration timeout = absl::Seconds(120));

// The whole content of `path`, or "" when it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace certfleet::testing
