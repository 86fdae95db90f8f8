#include "tests/e2e/apache_host_stack.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/e2e/e2e_stack.h"

namespace certfleet::e2e {

using nlohmann::json;

absl::Status StartApacheHostStack(ApacheHostStack& stack, const ApacheHostOptions& options,
                                  absl::Duration timeout) {
  stack.work_dir = testing::MakeTempDir(absl::StrCat("certfleet-", options.label));
  stack.cert_dir = stack.work_dir + "/live";
  std::filesystem::create_directories(stack.cert_dir);

  stack.apache = std::make_unique<PrivateApache>(stack.work_dir, stack.cert_dir);
  PrivateApache::Options apache_options;
  if (options.apache_options) apache_options = options.apache_options(*stack.apache);
  apache_options.names = options.names;
  absl::Status apache = stack.apache->Start(apache_options, options.apache_serving, timeout);
  if (!apache.ok()) return apache;

  stack.tls_port = testing::PickFreePort();
  auto pebble = StartPebble(stack.tls_port);
  if (!pebble.ok()) return pebble.status();
  stack.pebble = *std::move(pebble);
  for (const std::string& name : options.names) {
    absl::Status mapped = stack.pebble->AddARecord(name, "127.0.0.1");
    if (!mapped.ok()) return mapped;
  }

  std::string token_file = stack.work_dir + "/agent.token";
  absl::Status written = WriteOrFail(
      token_file,
      absl::StrCat(options.label, "-", getpid(), "-", absl::ToUnixNanos(absl::Now())), 0600);
  if (!written.ok()) return written;

  json grants = json::array();
  grants.push_back(
      {{"id", "apache-host"}, {"token_file", token_file}, {"names", options.names}});
  auto server = StartServer(
      stack.work_dir,
      PebbleServerConfig(*stack.pebble, stack.work_dir + "/certfleet.db", grants, 2), timeout);
  if (!server.ok()) return server.status();
  stack.server = std::move(server->daemon);
  stack.server_address = server->address;

  stack.status_file = stack.work_dir + "/agent-status.json";
  std::string reload =
      options.reload_command ? options.reload_command(stack) : stack.apache->GracefulCommand();
  std::vector<std::string> argv =
      AgentArgv({stack.server_address, "apache-host", token_file,
                 absl::StrCat("127.0.0.1:", stack.tls_port), stack.cert_dir, reload,
                 stack.status_file});
  for (const std::string& name : options.names) argv.insert(argv.end(), {"--name", name});
  if (options.extra_agent_flags) {
    std::vector<std::string> extra = options.extra_agent_flags(stack);
    argv.insert(argv.end(), extra.begin(), extra.end());
  }
  auto agent = StartAgent(argv, stack.work_dir + "/agent.log", stack.status_file,
                          "certfleet-agent", timeout);
  if (!agent.ok()) return agent.status();
  stack.agent = *std::move(agent);
  return absl::OkStatus();
}

bool StopApacheHostStack(ApacheHostStack& stack) {
  ExpectCleanStop(stack.agent.get());
  ExpectCleanStop(stack.server.get());
  if (stack.apache == nullptr || !stack.apache->Running()) return false;
  stack.apache->Stop();
  return true;
}

std::string ApacheHostLogs(const ApacheHostStack& stack) {
  return absl::StrCat("\n--- agent:\n", stack.agent->Log(), "\n--- server:\n",
                      stack.server->Log(), "\n--- apache error.log:\n",
                      ReadFileOrEmpty(stack.apache->error_log()));
}

}  // namespace certfleet::e2e
