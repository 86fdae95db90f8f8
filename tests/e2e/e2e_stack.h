#pragma once

// The pieces every end-to-end suite assembles its stack from: Pebble on a chosen tls-alpn-01
// port, a certfleet-server process configured against it, certfleet-agent processes, and the
// suite's clean stop.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/e2e/e2e_process.h"
#include "tests/support/pebble_fixture.h"

namespace certfleet::e2e {

// `s` single-quoted for /bin/sh.
std::string ShellQuote(const std::string& s);

// WriteFileWithMode as a Status: Internal "cannot write PATH" on failure.
absl::Status WriteOrFail(const std::string& path, const std::string& content, int mode);

// Starts Pebble (and challtestsrv) validating tls-alpn-01 on `tls_port`.
absl::StatusOr<std::unique_ptr<testing::PebbleFixture>> StartPebble(int tls_port);

// A certfleet-server config: SQLite at `database`, the single CA "pebble" (the fixture's),
// tls-alpn-01 preferred, `workers` issuance workers and the agent `grants`.
nlohmann::json PebbleServerConfig(const testing::PebbleFixture& pebble,
                                  const std::string& database, const nlohmann::json& grants,
                                  int workers);

// A running certfleet-server and the address it listens on (127.0.0.1:PORT).
struct ServerProcess {
  std::unique_ptr<Daemon> daemon;
  std::string address;
};

// Writes `config` to WORK_DIR/server.json and starts certfleet-server on it (log in
// WORK_DIR/server.log); Unavailable when it does not report its port within `timeout`.
absl::StatusOr<ServerProcess> StartServer(const std::string& work_dir, const nlohmann::json& config,
                                          absl::Duration timeout);

// The flags every certfleet-agent of the suites runs with.
struct AgentFlags {
  std::string server_address;
  std::string agent_id;
  std::string token_file;
  std::string tls_alpn_listen;  // HOST:PORT
  std::string cert_dir;
  std::string reload_command;
  std::string status_file;
};

// certfleet-agent's argv for `flags` (plaintext to the server, 5 s heartbeats, fast
// reconnects); callers append --name and any other flags.
std::vector<std::string> AgentArgv(const AgentFlags& flags);

// The agent status file at `path` parsed; an empty object while it does not parse.
nlohmann::json ReadAgentStatus(const std::string& path);

// True when `status` says the agent is connected and its tls-alpn-01 listener is up.
bool AgentConnected(const nlohmann::json& status);

// Starts the agent `argv` (log at `log_path`) and waits up to `timeout` until its status file
// says it is connected; Unavailable "`label` did not connect" with its log otherwise.
absl::StatusOr<std::unique_ptr<Daemon>> StartAgent(const std::vector<std::string>& argv,
                                                   const std::string& log_path,
                                                   const std::string& status_file,
                                                   const std::string& label,
                                                   absl::Duration timeout);

// When `daemon` runs: SIGTERM, and expects (gtest) a clean exit 0 within 30 s; `label`
// prefixes the failure message.
void ExpectCleanStop(Daemon* daemon, const std::string& label = "");

// Removes `work_dir` when the current test suite passed (kept for inspection otherwise).
void RemoveWorkDirIfPassed(const std::string& work_dir);

}  // namespace certfleet::e2e
