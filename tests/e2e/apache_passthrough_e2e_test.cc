// certfleet-agent sharing "port 443" with a real Apache httpd (--tls-alpn-passthrough): Pebble
// and challtestsrv (the fixture), the certfleet-server binary, one certfleet-agent binary, the
// certfleet CLI and a private Apache (Debian's /usr/sbin/apache2) started by this test.
//
// Layout of one run (all on loopback, all ports picked free):
//   - The agent listens on 127.0.0.1:P, Pebble's tlsPort (it stands in for :443), with
//     --tls-alpn-passthrough 127.0.0.1:A --tls-alpn-proxy-protocol.
//   - Apache serves HTTPS only on 127.0.0.1:A with mod_remoteip `RemoteIPProxyProtocol On`,
//     so every connection to it must start with a PROXY v2 header (the agent sends one; the
//     test sends a LOCAL one when it talks to Apache directly).
//   - Pebble validates tls-alpn-01 at 127.0.0.1:P: the agent answers. A browser-like TLS
//     client to 127.0.0.1:P reaches Apache through the agent and sees the certificate
//     certfleet issued and installed; Apache's access log shows the client's real address.
//
// Apache runs with -DFOREGROUND as a child of this test (see tests/e2e/private_apache.h).

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/crypto/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/apache_host_stack.h"
#include "tests/e2e/e2e_process.h"
#include "tests/e2e/e2e_stack.h"
#include "tests/e2e/private_apache.h"
#include "tests/support/pebble_fixture.h"

namespace certfleet::e2e {
namespace {

using nlohmann::json;

constexpr absl::Duration kStartTimeout = absl::Seconds(60);
constexpr absl::Duration kServeTimeout = absl::Seconds(60);
constexpr absl::Duration kCliTimeout = absl::Minutes(5);

// The name Apache serves and the agent owns.
constexpr char kName[] = "www.passthrough.e2e.test";
// The source address of the test's client through the agent (any 127/8 address is local).
constexpr char kClientAddress[] = "127.0.0.2";

using Stack = ApacheHostStack;

Stack* stack = nullptr;
std::string stack_error;

// How a test connection reaches Apache.
using Route = TlsRoute;

Route Direct() { return {stack->apache->port(), true, "127.0.0.1", false}; }
Route ThroughAgent() { return {stack->tls_port, false, kClientAddress, false}; }

absl::Status StartStack() {
  ApacheHostOptions options;
  options.label = "apache-passthrough-e2e";
  options.names = {kName};
  options.apache_options = [](const PrivateApache& apache) {
    PrivateApache::Options apache_options;
    apache_options.extra_modules = {"remoteip_module mod_remoteip.so"};
    apache_options.extra_config = absl::StrCat(
        "RemoteIPProxyProtocol On\n",
        "LogFormat \"%a %{SSL_TLS_SNI}x %>s\" passthrough\n",
        "CustomLog \"", apache.access_log(), "\" passthrough\n");
    return apache_options;
  };
  options.apache_serving = [] { return !ServedSerial(kName, Direct()).empty(); };
  options.extra_agent_flags = [](const ApacheHostStack& host) {
    return std::vector<std::string>{"--tls-alpn-passthrough",
                                    absl::StrCat("127.0.0.1:", host.apache->port()),
                                    "--tls-alpn-proxy-protocol"};
  };
  return StartApacheHostStack(*stack, options, kStartTimeout);
}

std::string Logs() { return ApacheHostLogs(*stack); }

class ApachePassthroughE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack = new Stack();
    absl::Status started = StartStack();
    if (!started.ok()) stack_error = std::string(started.message());
    std::cerr << "apache passthrough e2e: processes' logs under " << stack->work_dir << "\n";
  }

  static void TearDownTestSuite() {
    StopApacheHostStack(*stack);
    std::string work_dir = stack->work_dir;
    delete stack;
    stack = nullptr;
    RemoveWorkDirIfPassed(work_dir);
  }

  void SetUp() override { ASSERT_TRUE(stack_error.empty()) << stack_error; }
};

TEST_F(ApachePassthroughE2eTest, PebbleValidatesThroughTheAgentAndClientsReachApache) {
  // Before issuance: through the agent's port, Apache's self-signed seed.
  auto seed = crypto::Certificate::FromPem(
      ReadFileOrEmpty(absl::StrCat(stack->cert_dir, "/", kName, "/fullchain.pem")));
  ASSERT_TRUE(seed.ok()) << seed.status();
  absl::StatusOr<std::vector<crypto::Certificate>> before = ServedChain(kName, ThroughAgent());
  ASSERT_TRUE(before.ok()) << before.status() << Logs();
  EXPECT_EQ(before->front().SerialHex(), seed->SerialHex());

  // Issue through the real CLI: Pebble validates tls-alpn-01 on the agent's (shared) port.
  CommandResult r = RunCommand(
      {absl::StrCat(BuildDir(), "/client/cli/certfleet"), "--server", stack->server_address,
       "--output", "json", "issue", kName, "--ca", "pebble", "--challenge", "tls-alpn-01",
       "--wait", "--timeout", "4m"},
      stack->work_dir, kCliTimeout);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Logs();
  json issued = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(issued.is_object()) << r.out;
  EXPECT_EQ(issued.value("state", ""), "STATE_VALID") << r.out;
  ASSERT_TRUE(issued.contains("certificate") && issued["certificate"].is_object()) << r.out;
  const std::string serial = issued["certificate"].value("serial", "");
  ASSERT_FALSE(serial.empty()) << r.out;
  EXPECT_FALSE(absl::EqualsIgnoreCase(serial, seed->SerialHex()));

  // A normal TLS client on the agent's port reaches Apache, which now serves the issued
  // certificate (graceful restarts are asynchronous: poll).
  ASSERT_TRUE(PollUntil(
      [&] { return absl::EqualsIgnoreCase(ServedSerial(kName, ThroughAgent()), serial); },
      kServeTimeout))
      << "through the agent: " << ServedSerial(kName, ThroughAgent()) << ", want " << serial
      << Logs();
  absl::StatusOr<std::vector<crypto::Certificate>> chain = ServedChain(kName, ThroughAgent());
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_THAT(chain->front().DnsNames(), ::testing::ElementsAre(kName));
  auto intermediate_pem = stack->pebble->ManagementGet("/intermediates/0");
  ASSERT_TRUE(intermediate_pem.ok()) << intermediate_pem.status();
  auto intermediate = crypto::Certificate::FromPem(*intermediate_pem);
  ASSERT_TRUE(intermediate.ok()) << intermediate.status();
  EXPECT_TRUE(chain->front().IsIssuedBy(*intermediate));
  // Directly on Apache's port: the same certificate.
  EXPECT_TRUE(absl::EqualsIgnoreCase(ServedSerial(kName, Direct()), serial));

  // An HTTP request through the agent: Apache answers, and thanks to the PROXY v2 header
  // logs the client's real address (127.0.0.2), not the agent's (127.0.0.1).
  Route request = ThroughAgent();
  request.http_request = true;
  std::string status_line;
  absl::StatusOr<std::vector<crypto::Certificate>> served =
      ServedChain(kName, request, &status_line);
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(status_line, "HTTP/1.1 403 Forbidden");
  const std::string want = absl::StrCat(kClientAddress, " ", kName, " 403");
  EXPECT_TRUE(PollUntil(
      [&] { return absl::StrContains(ReadFileOrEmpty(stack->apache->access_log()), want); },
      kServeTimeout))
      << ReadFileOrEmpty(stack->apache->access_log());
  EXPECT_TRUE(stack->agent->Running());
}

}  // namespace
}  // namespace certfleet::e2e
