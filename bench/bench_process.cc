#include "bench/bench_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace certfleet::bench {

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::unique_ptr<BenchProcess>> BenchProcess::Spawn(
    const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
    const std::string& log_prefix) {
  if (argv.empty()) return absl::InvalidArgumentError("no program to start");
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    std::string key = entry.substr(0, entry.find('='));
    if (env.count(key) == 0) env_strings.push_back(std::move(entry));
  }
  for (const auto& [key, value] : env) env_strings.push_back(absl::StrCat(key, "=", value));
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args_copy = argv;
  std::vector<char*> args;
  for (std::string& a : args_copy) args.push_back(a.data());
  args.push_back(nullptr);

  std::string out = log_prefix + ".out";
  std::string err = log_prefix + ".err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot start ", argv[0], ": ", std::strerror(rc)));
  }
  return std::unique_ptr<BenchProcess>(new BenchProcess(pid, log_prefix));
}

BenchProcess::~BenchProcess() {
  if (!reaped_) {
    kill(pid_, SIGKILL);
    Wait(absl::Seconds(10));
  }
}

void BenchProcess::Signal(int signal) {
  if (!reaped_) kill(pid_, signal);
}

bool BenchProcess::Running() {
  if (reaped_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  if (r < 0 && errno == ECHILD) {
    reaped_ = true;
    return false;
  }
  return true;
}

int BenchProcess::Wait(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      deadline = absl::InfiniteFuture();
    }
    absl::SleepFor(absl::Milliseconds(2));  // Polls the exit; 2 ms bounds the timing error.
  }
  return exit_code_;
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
