#include "tests/e2e/e2e_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/child_process.h"

namespace certfleet::e2e {
namespace child_process = certfleet::testing::child_process;

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Spawn(const std::vector<std::string>& argv,
                                                      const std::string& log_path) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  child_process::SpawnOptions options;
  options.stdout_path = log_path;
  options.stderr_path = log_path;
  options.append = true;
  options.exec_failure_exits_127 = true;
  absl::StatusOr<pid_t> pid = child_process::Spawn(argv, options);
  if (!pid.ok()) return absl::InternalError(pid.status().message());
  return std::unique_ptr<Daemon>(new Daemon(*pid, log_path));
}

Daemon::~Daemon() { child_process::KillAndReap(pid_, &reaped_, &exit_code_); }

void Daemon::Signal(int signal) {
  if (!reaped_) kill(pid_, signal);
}

bool Daemon::Running() { return child_process::Running(pid_, &reaped_, &exit_code_); }

int Daemon::Wait(absl::Duration timeout) {
  return child_process::Wait(pid_, timeout, absl::Milliseconds(20), &reaped_, &exit_code_);
}

std::string Daemon::Log() const { return ReadFileOrEmpty(log_path_); }

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& work_dir,
                         absl::Duration timeout) {
  static std::atomic<int> counter{0};
  int n = counter.fetch_add(1);
  child_process::SpawnOptions options;
  options.stdout_path = absl::StrCat(work_dir, "/cmd-", n, ".out");
  options.stderr_path = absl::StrCat(work_dir, "/cmd-", n, ".err");
  options.append = true;
  options.exec_failure_exits_127 = true;
  child_process::RunResult run =
      child_process::Run(argv, options, timeout, absl::Milliseconds(10));
  CommandResult result;
  result.exit_code = run.exit_code;
  result.out = std::move(run.out);
  result.err = std::move(run.err);
  return result;
}

std::string ReadFileOrEmpty(const std::string& path) {
  return child_process::ReadFileOrEmpty(path);
}

bool WriteFileWithMode(const std::string& path, const std::string& content, int mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return false;
  bool ok = write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ok = fchmod(fd, mode) == 0 && ok;
  return close(fd) == 0 && ok;
}

}  // namespace certfleet::e2e
