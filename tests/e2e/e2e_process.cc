#include "tests/e2e/e2e_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace certfleet::e2e {
namespace {

int ExitCodeOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

// Forks and execs `argv` with stdout to `out_path` and stderr to `err_path` (appending).
// Returns the child's pid, or -1 with errno set.
pid_t ForkExec(const std::vector<std::string>& argv, const std::string& out_path,
               const std::string& err_path) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return -1;
  int err = out;
  if (err_path != out_path) {
    err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (err < 0) {
      close(out);
      return -1;
    }
  }
  pid_t pid = fork();
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    int null_in = open("/dev/null", O_RDONLY);
    if (null_in >= 0) dup2(null_in, 0);
    dup2(out, 1);
    dup2(err, 2);
    // Unblock every signal: gtest or gRPC threads may have blocked some.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int saved = errno;
  close(out);
  if (err != out) close(err);
  errno = saved;
  return pid;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Spawn(const std::vector<std::string>& argv,
                                                      const std::string& log_path) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  pid_t pid = ForkExec(argv, log_path, log_path);
  if (pid < 0) {
    return absl::InternalError(absl::StrCat("cannot start ", argv[0], ": ", strerror(errno)));
  }
  return std::unique_ptr<Daemon>(new Daemon(pid, log_path));
}

Daemon::~Daemon() {
  if (!reaped_) {
    kill(pid_, SIGKILL);
    Wait(absl::Seconds(10));
  }
}

void Daemon::Signal(int signal) {
  if (!reaped_) kill(pid_, signal);
}

bool Daemon::Running() {
  if (reaped_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    exit_code_ = ExitCodeOf(status);
    return false;
  }
  return r == 0;
}

int Daemon::Wait(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      int status = 0;
      if (waitpid(pid_, &status, 0) == pid_) {
        reaped_ = true;
        exit_code_ = ExitCodeOf(status);
      }
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));  // Poll interval for the child's exit.
  }
  return exit_code_;
}

std::string Daemon::Log() const { return ReadFileOrEmpty(log_path_); }

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& work_dir,
                         absl::Duration timeout) {
  static std::atomic<int> counter{0};
  int n = counter.fetch_add(1);
  std::string out_path = absl::StrCat(work_dir, "/cmd-", n, ".out");
  std::string err_path = absl::StrCat(work_dir, "/cmd-", n, ".err");
  CommandResult result;
  pid_t pid = ForkExec(argv, out_path, err_path);
  if (pid < 0) {
    result.err = absl::StrCat("cannot start ", argv.empty() ? "" : argv[0], ": ", strerror(errno));
    return result;
  }
  absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));  // Poll interval for the child's exit.
  }
  result.exit_code = ExitCodeOf(status);
  result.out = ReadFileOrEmpty(out_path);
  result.err = ReadFileOrEmpty(err_path);
  return result;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool WriteFileWithMode(const std::string& path, const std::string& content, int mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return false;
  bool ok = write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ok = fchmod(fd, mode) == 0 && ok;
  return close(fd) == 0 && ok;
}

bool PollUntil(const std::function<bool()>& condition, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (condition()) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(50));  // Poll interval of a real condition.
  }
}

}  // namespace certfleet::e2e
