#include "tests/support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace certfleet::testing::child_process {
namespace {

absl::Status CannotStart(const std::string& program, int error) {
  return absl::UnavailableError(absl::StrCat("cannot start ", program, ": ", strerror(error)));
}

}  // namespace

int ExitCodeOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) return absl::InvalidArgumentError("no program to start");
  // Everything the child needs is prepared here: after fork only async-signal-safe calls.
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  char** child_env = environ;
  if (!options.env.empty()) {
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry(*e);
      if (options.env.count(entry.substr(0, entry.find('='))) == 0) {
        env_strings.push_back(std::move(entry));
      }
    }
    for (const auto& [key, value] : options.env) {
      env_strings.push_back(absl::StrCat(key, "=", value));
    }
    for (std::string& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    child_env = envp.data();
  }

  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (options.append ? O_APPEND : O_TRUNC);
  int out = open(options.stdout_path.c_str(), flags, 0644);
  if (out < 0) return CannotStart(argv[0], errno);
  int err = out;
  if (options.stderr_path != options.stdout_path) {
    err = open(options.stderr_path.c_str(), flags, 0644);
    if (err < 0) {
      int saved = errno;
      close(out);
      return CannotStart(argv[0], saved);
    }
  }
  auto close_files = [&] {
    close(out);
    if (err != out) close(err);
  };
  // Reports a failed exec's errno to the parent; closed by a successful exec.
  int exec_error[2];
  if (pipe2(exec_error, O_CLOEXEC) != 0) {
    int saved = errno;
    close_files();
    return CannotStart(argv[0], saved);
  }

  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // Die with the test: a crashed or killed test binary must not leave servers, agents or
    // Apache running (the signal follows the spawning thread, so spawn from a lasting one).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    close(exec_error[0]);
    int null_in = open("/dev/null", O_RDONLY);
    if (null_in >= 0) dup2(null_in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
#ifdef SYS_close_range
    // Leaves the program nothing of ours but stdin/stdout/stderr, even descriptors opened
    // elsewhere in the test without O_CLOEXEC (the exec-error pipe is CLOEXEC already).
    syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
#endif
    // Unblock every signal: gtest or gRPC threads may have blocked some.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(args[0], args.data(), child_env);
    int exec_errno = errno;
    ssize_t ignored = write(exec_error[1], &exec_errno, sizeof(exec_errno));
    (void)ignored;
    _exit(127);
  }
  int fork_errno = errno;
  close_files();
  close(exec_error[1]);
  if (pid < 0) {
    close(exec_error[0]);
    return CannotStart(argv[0], fork_errno);
  }
  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(exec_error[0], &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  close(exec_error[0]);
  if (n == static_cast<ssize_t>(sizeof(exec_errno)) && !options.exec_failure_exits_127) {
    int status = 0;
    waitpid(pid, &status, 0);
    return CannotStart(argv[0], exec_errno);
  }
  return pid;
}

bool Running(pid_t pid, bool* reaped, int* exit_code) {
  if (*reaped) return false;
  int status = 0;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == 0) return true;
  *reaped = true;  // Exited, or no longer our child (ECHILD).
  if (r == pid) *exit_code = ExitCodeOf(status);
  return false;
}

int Wait(pid_t pid, absl::Duration timeout, absl::Duration poll_interval, bool* reaped,
         int* exit_code) {
  absl::Time deadline = absl::Now() + timeout;
  while (Running(pid, reaped, exit_code)) {
    if (absl::Now() > deadline) {
      KillAndReap(pid, reaped, exit_code);
      break;
    }
    absl::SleepFor(poll_interval);  // Polls the child's exit; not a synchronisation.
  }
  return *exit_code;
}

void KillAndReap(pid_t pid, bool* reaped, int* exit_code) {
  if (*reaped) return;
  kill(pid, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  *reaped = true;
  if (r == pid) *exit_code = ExitCodeOf(status);
}

RunResult Run(const std::vector<std::string>& argv, const SpawnOptions& options,
              absl::Duration timeout, absl::Duration poll_interval) {
  RunResult result;
  absl::StatusOr<pid_t> pid = Spawn(argv, options);
  if (!pid.ok()) {
    result.err = std::string(pid.status().message());
    return result;
  }
  bool reaped = false;
  result.exit_code = Wait(*pid, timeout, poll_interval, &reaped, &result.exit_code);
  result.out = ReadFileOrEmpty(options.stdout_path);
  result.err = ReadFileOrEmpty(options.stderr_path);
  return result;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace certfleet::testing::child_process
