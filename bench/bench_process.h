#pragma once

// Child processes for the benchmark: the server, the agent and lego runs, with their output
// in files and extra environment variables.

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace certfleet::bench {

// A running child whose stdout/stderr go to files. Killed (SIGKILL) and reaped on
// destruction when still running.
class BenchProcess {
 public:
  // Starts argv[0] (a path) with `argv` and the parent's environment plus `env`
  // (overriding); stdout and stderr go to `log_prefix`.out / .err. Unavailable when the
  // program cannot be started.
  static absl::StatusOr<std::unique_ptr<BenchProcess>> Spawn(
      const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
      const std::string& log_prefix);
  ~BenchProcess();
  BenchProcess(const BenchProcess&) = delete;
  BenchProcess& operator=(const BenchProcess&) = delete;

  // Sends `signal` unless the child was already reaped.
  void Signal(int signal);
  // Waits up to `timeout` for the child to exit (then SIGKILLs it) and returns its exit
  // code, 128 + signal when it was killed.
  int Wait(absl::Duration timeout);
  // True while the child has not exited.
  bool Running();
  // Its stderr so far.
  std::string Stderr() const;
  // Its stdout so far.
  std::string Stdout() const;

 private:
  BenchProcess(pid_t pid, std::string log_prefix)
      : pid_(pid), log_prefix_(std::move(log_prefix)) {}
  pid_t pid_;
  std::string log_prefix_;
  bool reaped_ = false;
  int exit_code_ = -1;
};

// Runs argv to completion (killed after `timeout`) and returns its exit code; output goes
// to `log_prefix`.out / .err. -1 when it could not be started.
int RunToCompletion(const std::vector<std::string>& argv,
                    const std::map<std::string, std::string>& env, const std::string& log_prefix,
                    absl::Duration timeout);

// The content of `path`, or "" when it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace certfleet::bench
