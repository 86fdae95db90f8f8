#include "tests/e2e/e2e_stack.h"

#include <signal.h>

#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace certfleet::e2e {

using nlohmann::json;

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

absl::Status WriteOrFail(const std::string& path, const std::string& content, int mode) {
  if (!WriteFileWithMode(path, content, mode)) {
    return absl::InternalError("cannot write " + path);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<testing::PebbleFixture>> StartPebble(int tls_port) {
  testing::PebbleOptions options;
  options.tls_port = tls_port;
  return testing::PebbleFixture::Start(options);
}

json PebbleServerConfig(const testing::PebbleFixture& pebble, const std::string& database,
                        const json& grants, int workers) {
  return {
      {"listen", "127.0.0.1:0"},
      {"database", database},
      {"cas",
       {{"pebble",
         {{"directory_url", pebble.directory_url()},
          {"ca_bundle", pebble.ca_bundle_path()},
          {"contact", {"mailto:ops@e2e.test"}},
          {"terms_of_service_agreed", true}}}}},
      {"default_ca", "pebble"},
      {"defaults", {{"challenge_preference", {"tls-alpn-01"}}, {"workers", workers}}},
      {"agents", {{"agents", grants}}},
  };
}

absl::StatusOr<ServerProcess> StartServer(const std::string& work_dir, const json& config,
                                          absl::Duration timeout) {
  std::string config_path = work_dir + "/server.json";
  std::string port_file = work_dir + "/server.port";
  absl::Status written = WriteOrFail(config_path, config.dump(2), 0600);
  if (!written.ok()) return written;
  auto daemon = Daemon::Spawn({absl::StrCat(BuildDir(), "/server/certfleet-server"), "--config",
                               config_path, "--port-file", port_file},
                              work_dir + "/server.log");
  if (!daemon.ok()) return daemon.status();
  ServerProcess server;
  server.daemon = *std::move(daemon);
  int port = 0;
  bool listening = PollUntil(
      [&] {
        std::string text(absl::StripAsciiWhitespace(ReadFileOrEmpty(port_file)));
        return (absl::SimpleAtoi(text, &port) && port > 0) || !server.daemon->Running();
      },
      timeout);
  if (!listening || port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("certfleet-server did not start:\n", server.daemon->Log()));
  }
  server.address = absl::StrCat("127.0.0.1:", port);
  return server;
}

std::vector<std::string> AgentArgv(const AgentFlags& flags) {
  return {absl::StrCat(BuildDir(), "/client/agent/certfleet-agent"),
          "--server", flags.server_address, "--insecure-plaintext",
          "--agent-id", flags.agent_id, "--token-file", flags.token_file,
          "--tls-alpn-listen", flags.tls_alpn_listen,
          "--cert-dir", flags.cert_dir,
          "--reload-command", flags.reload_command,
          "--status-file", flags.status_file,
          "--heartbeat-seconds", "5",
          "--reconnect-backoff-initial", "100ms", "--reconnect-backoff-max", "1s"};
}

json ReadAgentStatus(const std::string& path) {
  json parsed = json::parse(ReadFileOrEmpty(path), nullptr, /*allow_exceptions=*/false);
  return parsed.is_object() ? parsed : json::object();
}

bool AgentConnected(const json& status) {
  return status.value("connected", false) && status.value("tls_alpn_port", 0) > 0;
}

absl::StatusOr<std::unique_ptr<Daemon>> StartAgent(const std::vector<std::string>& argv,
                                                   const std::string& log_path,
                                                   const std::string& status_file,
                                                   const std::string& label,
                                                   absl::Duration timeout) {
  auto agent = Daemon::Spawn(argv, log_path);
  if (!agent.ok()) return agent.status();
  std::unique_ptr<Daemon> daemon = *std::move(agent);
  bool connected = PollUntil(
      [&] { return AgentConnected(ReadAgentStatus(status_file)) || !daemon->Running(); },
      timeout);
  if (!connected || !daemon->Running()) {
    return absl::UnavailableError(absl::StrCat(label, " did not connect:\n", daemon->Log()));
  }
  return daemon;
}

void ExpectCleanStop(Daemon* daemon, const std::string& label) {
  if (daemon == nullptr || !daemon->Running()) return;
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(absl::Seconds(30)), 0) << label << daemon->Log();
}

void RemoveWorkDirIfPassed(const std::string& work_dir) {
  bool passed = ::testing::UnitTest::GetInstance()->current_test_suite()->Passed();
  if (passed && !work_dir.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(work_dir, ignored);
  }
}

}  // namespace certfleet::e2e
