#include "bench/bench_process.h"

#include <signal.h>

#include "tests/support/child_process.h"

namespace certfleet::bench {
namespace child_process = certfleet::testing::child_process;

namespace {
constexpr absl::Duration kPollInterval = absl::Milliseconds(2);  // Bounds the timing error.
}  // namespace

std::string ReadFileOrEmpty(const std::string& path) {
  return child_process::ReadFileOrEmpty(path);
}

absl::StatusOr<std::unique_ptr<BenchProcess>> BenchProcess::Spawn(
    const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
    const std::string& log_prefix) {
  child_process::SpawnOptions options;
  options.stdout_path = log_prefix + ".out";
  options.stderr_path = log_prefix + ".err";
  options.env = env;
  absl::StatusOr<pid_t> pid = child_process::Spawn(argv, options);
  if (!pid.ok()) return pid.status();
  return std::unique_ptr<BenchProcess>(new BenchProcess(*pid, log_prefix));
}

BenchProcess::~BenchProcess() { child_process::KillAndReap(pid_, &reaped_, &exit_code_); }

void BenchProcess::Signal(int signal) {
  if (!reaped_) kill(pid_, signal);
}

bool BenchProcess::Running() { return child_process::Running(pid_, &reaped_, &exit_code_); }

int BenchProcess::Wait(absl::Duration timeout) {
  return child_process::Wait(pid_, timeout, kPollInterval, &reaped_, &exit_code_);
}

std::string BenchProcess::Stderr() const { return ReadFileOrEmpty(log_prefix_ + ".err"); }
std::string BenchProcess::Stdout() const { return ReadFileOrEmpty(log_prefix_ + ".out"); }

int RunToCompletion(const std::vector<std::string>& argv,
                    const std::map<std::string, std::string>& env, const std::string& log_prefix,
                    absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<BenchProcess>> child =
      BenchProcess::Spawn(argv, env, log_prefix);
  if (!child.ok()) return -1;
  return (*child)->Wait(timeout);
}

}  // namespace certfleet::bench
