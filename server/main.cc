// certfleet-server: flags/config, wiring (server/app), signal handling. The only server
// file not linked into tests.
//
// Exit codes: 0 after a clean SIGTERM/SIGINT shutdown, 1 when the server cannot start,
// 2 for a bad command line or configuration.

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "server/app/app.h"
#include "server/app/config.h"

namespace {

// Writes `port` to `path` atomically (a temporary file renamed over it).
bool WritePortFile(const std::string& path, int port) {
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return false;
    out << port << "\n";
    if (!out.good()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<certfleet::server::ServerFlags> flags =
      certfleet::server::ParseServerFlags(args);
  if (!flags.ok()) {
    std::cerr << "certfleet-server: " << flags.status().message() << "\n"
              << certfleet::server::ServerUsage();
    return 2;
  }
  if (flags->help) {
    std::cout << certfleet::server::ServerUsage();
    return 0;
  }
  if (!flags->log_level.empty()) {
    certfleet::LogLevel level;
    if (!certfleet::ParseLogLevel(flags->log_level, &level)) {
      std::cerr << "certfleet-server: --log-level: unknown level \"" << flags->log_level
                << "\" (debug, info, warning, error)\n";
      return 2;
    }
    certfleet::SetLogLevel(level);
  }
  absl::StatusOr<certfleet::server::ServerConfig> config =
      certfleet::server::BuildServerConfig(*flags);
  if (!config.ok()) {
    std::cerr << "certfleet-server: " << config.status().message() << "\n";
    return 2;
  }

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::string port_file = config->port_file;
  certfleet::server::App app(*std::move(config));
  absl::Status started = app.Start();
  if (!started.ok()) {
    std::cerr << "certfleet-server: " << started.message() << "\n";
    app.Shutdown(absl::ZeroDuration());
    return 1;
  }
  if (!port_file.empty() && !WritePortFile(port_file, app.port())) {
    std::cerr << "certfleet-server: --port-file: cannot write " << port_file << "\n";
    app.Shutdown(absl::ZeroDuration());
    return 1;
  }
  std::cout << "certfleet-server listening on " << app.listen_address() << std::endl;

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  CF_LOG(INFO) << "signal received; draining" << certfleet::Kv("signal", signal_number);
  app.Shutdown(absl::Seconds(10));
  return 0;
}
