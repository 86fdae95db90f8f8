#pragma once

// One web host as deployed: a private Apache serving `names` from the cert dir of one
// certfleet-agent ("apache-host") that owns them, certfleet-server, and Pebble validating
// tls-alpn-01 on the agent's listener (all names resolve to 127.0.0.1).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tests/e2e/e2e_process.h"
#include "tests/e2e/private_apache.h"
#include "tests/support/pebble_fixture.h"

namespace certfleet::e2e {

// The processes of one Apache host and where they write.
struct ApacheHostStack {
  std::string work_dir;
  std::unique_ptr<testing::PebbleFixture> pebble;
  int tls_port = 0;  // The agent's tls-alpn-01 listener (Pebble's tlsPort).
  std::unique_ptr<Daemon> server;
  std::string server_address;  // 127.0.0.1:PORT
  std::unique_ptr<PrivateApache> apache;
  std::string cert_dir;  // The agent's --cert-dir, where Apache reads its files.
  std::string status_file;  // The agent's --status-file.
  std::unique_ptr<Daemon> agent;
};

// How to assemble an ApacheHostStack.
struct ApacheHostOptions {
  std::string label;  // Prefix of the temporary directory and of the agent's token.
  std::vector<std::string> names;  // Served by Apache, owned by the agent.
  // Apache's modules and directives beyond the skeleton (its `names` are filled in).
  std::function<PrivateApache::Options(const PrivateApache&)> apache_options;
  // True once Apache serves (Apache is up).
  std::function<bool()> apache_serving;
  // The agent's reload command; Apache's graceful restart when empty.
  std::function<std::string(const ApacheHostStack&)> reload_command;
  // Flags appended to the agent's command line (after its --name flags).
  std::function<std::vector<std::string>(const ApacheHostStack&)> extra_agent_flags;
};

// Starts Apache, Pebble, certfleet-server and the agent into `stack` (which the callbacks may
// read), each ready within `timeout`; the first failure otherwise.
absl::Status StartApacheHostStack(ApacheHostStack& stack, const ApacheHostOptions& options,
                                  absl::Duration timeout);

// Stops the agent, the server (expecting clean exits) and Apache (PrivateApache::Stop).
// Returns whether Apache was running.
bool StopApacheHostStack(ApacheHostStack& stack);

// The agent's and the server's logs and Apache's error log, for failure messages.
std::string ApacheHostLogs(const ApacheHostStack& stack);

}  // namespace certfleet::e2e
