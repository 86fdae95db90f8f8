#include "tests/integration/server/server_process.h"

#include <signal.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "tests/support/child_process.h"

namespace certfleet::testing {
namespace {
constexpr absl::Duration kPollInterval = absl::Milliseconds(10);
}  // namespace

std::string ReadFileOrEmpty(const std::string& path) {
  return child_process::ReadFileOrEmpty(path);
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(
    const std::vector<std::string>& argv, const std::string& stdout_path,
    const std::string& stderr_path) {
  child_process::SpawnOptions options;
  options.stdout_path = stdout_path;
  options.stderr_path = stderr_path;
  absl::StatusOr<pid_t> pid = child_process::Spawn(argv, options);
  if (!pid.ok()) return pid.status();
  return std::unique_ptr<ChildProcess>(new ChildProcess(*pid, stdout_path, stderr_path));
}

ChildProcess::~ChildProcess() { child_process::KillAndReap(pid_, &reaped_, &exit_code_); }

void ChildProcess::Signal(int signal) {
  if (!reaped_) kill(pid_, signal);
}

bool ChildProcess::Running() { return child_process::Running(pid_, &reaped_, &exit_code_); }

int ChildProcess::Wait(absl::Duration timeout) {
  return child_process::Wait(pid_, timeout, kPollInterval, &reaped_, &exit_code_);
}

std::string ChildProcess::Stdout() const { return ReadFileOrEmpty(out_); }
std::string ChildProcess::Stderr() const { return ReadFileOrEmpty(err_); }

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& work_dir,
                         absl::Duration timeout) {
  static std::atomic<int> counter{0};
  int n = counter++;
  child_process::SpawnOptions options;
  options.stdout_path = absl::StrCat(work_dir, "/run", n, ".out");
  options.stderr_path = absl::StrCat(work_dir, "/run", n, ".err");
  child_process::RunResult run = child_process::Run(argv, options, timeout, kPollInterval);
  ProcessResult result;
  result.exit_code = run.exit_code;
  result.out = std::move(run.out);
  result.err = std::move(run.err);
  return result;
}

}  // namespace certfleet::testing
