#include "client/agent/command_runner.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace certfleet::agent {
namespace {

int ExitStatusOf(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

// Waits for `pid` until `deadline`. Returns true and fills `wstatus` when it exited.
bool WaitUntil(pid_t pid, absl::Time deadline, int* wstatus) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  while (true) {
    pid_t r = waitpid(pid, wstatus, WNOHANG);
    if (r == pid) {
      if (pidfd >= 0) close(pidfd);
      return true;
    }
    if (r < 0 && errno != EINTR) {
      if (pidfd >= 0) close(pidfd);
      *wstatus = 0;
      return true;
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      if (pidfd >= 0) close(pidfd);
      return false;
    }
    if (pidfd >= 0) {
      // The pidfd becomes readable when the child exits.
      struct pollfd pfd = {pidfd, POLLIN, 0};
      poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    } else {
      // Kernels without pidfd_open: poll the child.
      absl::SleepFor(std::min(left, absl::Milliseconds(10)));
    }
  }
}

}  // namespace

absl::StatusOr<int> RunShellCommand(const std::string& command, absl::Duration timeout) {
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGHUP);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
  // The reload command (e.g. apachectl) must not inherit our sockets or files.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  const char* argv[] = {"sh", "-c", command.c_str(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, const_cast<char* const*>(argv),
                       environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("cannot start /bin/sh: ", strerror(rc)));
  }
  int wstatus = 0;
  if (WaitUntil(pid, absl::Now() + timeout, &wstatus)) return ExitStatusOf(wstatus);
  kill(-pid, SIGKILL);
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  return absl::DeadlineExceededError(
      absl::StrCat("command did not finish within ", absl::FormatDuration(timeout),
                   " and was killed: ", command));
}

}  // namespace certfleet::agent
