// certfleet with a real Apache httpd as the web server it feeds: Pebble and challtestsrv (the
// fixture), the certfleet-server binary, one certfleet-agent binary, the certfleet CLI, and a
// private Apache instance (Debian's /usr/sbin/apache2) started by this test.
//
// Layout of one run (all on loopback, all ports picked free):
//   - Pebble validates tls-alpn-01 at <name>:P; challtestsrv answers 127.0.0.1 for the names,
//     and the agent listens for tls-alpn-01 on 127.0.0.1:P (--tls-alpn-listen).
//   - Apache serves HTTPS on its own free port A (never 80/443, never the system's Apache).
//     As in deploy/docker, Apache and the agent's tls-alpn-01 listener are separate
//     listeners: Apache serves the installed certificate, the agent answers the CA.
//   - Apache's SSLCertificateFile/SSLCertificateKeyFile point into the agent's --cert-dir
//     (<cert-dir>/<name>/fullchain.pem and privkey.pem), seeded with a throwaway self-signed
//     certificate so that Apache can start; the agent's reload command is
//     `apache2 -f CONF -k graceful` (apache2 directly: Debian's apachectl does not pass -f
//     through).
//
// Apache runs with -DFOREGROUND (the normal multi-process server, only without detaching) so
// that it is a child of this test: `-k graceful` (SIGUSR1 to the pid in its PidFile) and
// `-k stop` work as on a real host, and the test can wait for it and reap it.

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

using ::testing::HasSubstr;
using nlohmann::json;

constexpr absl::Duration kStartTimeout = absl::Seconds(60);
constexpr absl::Duration kServeTimeout = absl::Seconds(60);
constexpr absl::Duration kCliTimeout = absl::Minutes(5);

// The names Apache serves (one VirtualHost each) and the agent owns.
constexpr char kName[] = "www.apache.e2e.test";
constexpr char kRollbackName[] = "rollback.apache.e2e.test";

// The processes shared by the suite.
struct Stack : ApacheHostStack {
  std::string break_reload_file;  // while it exists, the reload command fails
};

Stack* stack = nullptr;
std::string stack_error;

// The certificate chain Apache presents on a fresh TLS connection with SNI `name` (leaf
// first). No verification here: the test checks the chain itself.
absl::StatusOr<std::vector<crypto::Certificate>> ServedChain(const std::string& name) {
  TlsRoute route;
  route.port = stack->apache->port();
  return e2e::ServedChain(name, route);
}

// The serial Apache presents for `name` now; "" when the handshake fails.
std::string ServedSerial(const std::string& name) {
  absl::StatusOr<std::vector<crypto::Certificate>> chain = ServedChain(name);
  return chain.ok() ? chain->front().SerialHex() : "";
}

// Polls until Apache presents `serial` for `name`: graceful restarts are asynchronous and
// old-generation children may answer a connection or two in between.
bool ApacheServes(const std::string& name, const std::string& serial) {
  return PollUntil([&] { return absl::EqualsIgnoreCase(ServedSerial(name), serial); },
                   kServeTimeout);
}

// The pid in Apache's PidFile; 0 while it is absent.
pid_t ApachePid() { return stack->apache->PidFromFile(); }

// How often Apache's error log holds message `code`.
int ApacheLogCount(const std::string& code) {
  std::string log = ReadFileOrEmpty(stack->apache->error_log());
  int count = 0;
  for (size_t pos = log.find(code); pos != std::string::npos; pos = log.find(code, pos + 1)) {
    ++count;
  }
  return count;
}

// Graceful restarts Apache received (AH00493: "SIGUSR1 received.  Doing graceful restart").
int GracefulRestarts() { return ApacheLogCount("AH00493"); }

// Times Apache's master finished (re)loading its configuration (AH00489: "... configured --
// resuming normal operations"), at start and after each restart.
int ConfigurationsLoaded() { return ApacheLogCount("AH00489"); }

json AgentStatus() { return ReadAgentStatus(stack->status_file); }

int64_t AgentCounter(const std::string& key) {
  json status = AgentStatus();
  return status.contains(key) && status[key].is_number() ? status[key].get<int64_t>() : 0;
}

absl::Status StartStack() {
  ApacheHostOptions options;
  options.label = "apache-e2e";
  options.names = {kName, kRollbackName};
  options.apache_serving = [] {
    return ApachePid() == stack->apache->pid() && !ServedSerial(kName).empty();
  };
  options.reload_command = [](const ApacheHostStack& host) {
    stack->break_reload_file = host.work_dir + "/break-reload";
    return absl::StrCat("test ! -e ", ShellQuote(stack->break_reload_file), " && ",
                        host.apache->GracefulCommand());
  };
  return StartApacheHostStack(*stack, options, kStartTimeout);
}

CommandResult Cli(std::vector<std::string> args) {
  std::vector<std::string> argv = {absl::StrCat(BuildDir(), "/client/cli/certfleet"), "--server",
                                   stack->server_address, "--output", "json"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, stack->work_dir, kCliTimeout);
}

std::string Logs() { return ApacheHostLogs(*stack); }

// Runs `certfleet ARGS --wait` and returns the issuance it printed (the test fails, and the
// result is an empty object, when the CLI fails or prints no valid issuance).
json RunToValid(const std::vector<std::string>& args) {
  std::vector<std::string> full = args;
  full.insert(full.end(), {"--wait", "--timeout", "4m"});
  CommandResult r = Cli(full);
  EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(args, " ") << ":\n" << r.out << r.err << Logs();
  json issuance = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  if (!issuance.is_object()) {
    ADD_FAILURE() << "not JSON: " << r.out;
    return json::object();
  }
  EXPECT_EQ(issuance.value("state", ""), "STATE_VALID") << r.out;
  return issuance;
}

std::string SerialOf(const json& issuance) {
  if (!issuance.contains("certificate") || !issuance["certificate"].is_object()) return "";
  return issuance["certificate"].value("serial", "");
}

// Pebble's root and first intermediate (management interface).
struct PebbleCa {
  std::unique_ptr<crypto::Certificate> root;
  std::unique_ptr<crypto::Certificate> intermediate;
};

PebbleCa FetchPebbleCa() {
  PebbleCa ca;
  auto root_pem = stack->pebble->ManagementGet("/roots/0");
  EXPECT_TRUE(root_pem.ok()) << root_pem.status();
  auto intermediate_pem = stack->pebble->ManagementGet("/intermediates/0");
  EXPECT_TRUE(intermediate_pem.ok()) << intermediate_pem.status();
  if (!root_pem.ok() || !intermediate_pem.ok()) return ca;
  auto root = crypto::Certificate::FromPem(*root_pem);
  auto intermediate = crypto::Certificate::FromPem(*intermediate_pem);
  EXPECT_TRUE(root.ok()) << root.status();
  EXPECT_TRUE(intermediate.ok()) << intermediate.status();
  if (root.ok()) ca.root = std::make_unique<crypto::Certificate>(*std::move(root));
  if (intermediate.ok()) {
    ca.intermediate = std::make_unique<crypto::Certificate>(*std::move(intermediate));
  }
  return ca;
}

// Apache presents `serial` for `name`, issued by Pebble's intermediate, and the presented
// chain verifies to Pebble's root.
void ExpectApacheServesPebbleCertificate(const std::string& name, const std::string& serial) {
  ASSERT_TRUE(ApacheServes(name, serial))
      << "Apache still serves " << ServedSerial(name) << " for " << name << ", not " << serial
      << Logs();
  absl::StatusOr<std::vector<crypto::Certificate>> chain = ServedChain(name);
  ASSERT_TRUE(chain.ok()) << chain.status();
  const crypto::Certificate& leaf = chain->front();
  EXPECT_THAT(leaf.DnsNames(), ::testing::ElementsAre(name));
  PebbleCa ca = FetchPebbleCa();
  ASSERT_NE(ca.root, nullptr);
  ASSERT_NE(ca.intermediate, nullptr);
  EXPECT_EQ(leaf.Issuer(), ca.intermediate->Subject());
  EXPECT_TRUE(leaf.IsIssuedBy(*ca.intermediate));
  ASSERT_GE(chain->size(), 2u) << "Apache presented the leaf only";
  EXPECT_EQ(chain->at(1).Subject(), ca.intermediate->Subject());
  absl::Status verified = crypto::VerifyChain(*chain, *ca.root);
  EXPECT_TRUE(verified.ok()) << verified;
}

class ApacheE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack = new Stack();
    absl::Status started = StartStack();
    if (!started.ok()) stack_error = std::string(started.message());
    std::cerr << "apache e2e: processes' logs under " << stack->work_dir << "\n";
  }

  static void TearDownTestSuite() {
    if (StopApacheHostStack(*stack)) {
      // Apache removes its PidFile on a clean stop.
      EXPECT_FALSE(std::filesystem::exists(stack->apache->pid_file()));
    }
    std::string work_dir = stack->work_dir;
    delete stack;  // Stops Pebble; SIGKILLs whatever is still running.
    stack = nullptr;
    RemoveWorkDirIfPassed(work_dir);
  }

  void SetUp() override { ASSERT_TRUE(stack_error.empty()) << stack_error; }
};

TEST_F(ApacheE2eTest, GracefulReloadServesTheIssuedThenTheRenewedCertificate) {
  // Before issuance: Apache serves the self-signed seed.
  auto seed = crypto::Certificate::FromPem(
      ReadFileOrEmpty(absl::StrCat(stack->cert_dir, "/", kName, "/fullchain.pem")));
  ASSERT_TRUE(seed.ok()) << seed.status();
  EXPECT_EQ(seed->Issuer(), seed->Subject());
  absl::StatusOr<std::vector<crypto::Certificate>> before = ServedChain(kName);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->front().SerialHex(), seed->SerialHex());
  EXPECT_EQ(before->front().SubjectCommonName(), "certfleet-e2e-seed");
  const pid_t pid = ApachePid();
  ASSERT_EQ(pid, stack->apache->pid());
  const int graceful_before = GracefulRestarts();

  // Issue through the real CLI; the agent installs into Apache's files and reloads it.
  json issued = RunToValid({"issue", kName, "--ca", "pebble", "--challenge", "tls-alpn-01"});
  const std::string serial = SerialOf(issued);
  ASSERT_FALSE(serial.empty()) << issued.dump(2);
  EXPECT_FALSE(absl::EqualsIgnoreCase(serial, seed->SerialHex()));
  ExpectApacheServesPebbleCertificate(kName, serial);
  // A graceful restart: same master process, one more AH00493 in its log.
  EXPECT_EQ(ApachePid(), pid);
  EXPECT_TRUE(stack->apache->Running());
  EXPECT_GT(GracefulRestarts(), graceful_before);
  EXPECT_EQ(AgentCounter("reloads_failed"), 0) << AgentStatus().dump();

  // Renew: Apache moves on to the new serial, still without a restart.
  const int graceful_after_issue = GracefulRestarts();
  json renewed = RunToValid({"renew", kName});
  const std::string new_serial = SerialOf(renewed);
  ASSERT_FALSE(new_serial.empty()) << renewed.dump(2);
  EXPECT_FALSE(absl::EqualsIgnoreCase(new_serial, serial));
  ExpectApacheServesPebbleCertificate(kName, new_serial);
  EXPECT_EQ(ApachePid(), pid);
  EXPECT_TRUE(stack->apache->Running());
  EXPECT_GT(GracefulRestarts(), graceful_after_issue);
  EXPECT_EQ(AgentCounter("reloads_failed"), 0) << AgentStatus().dump();
}

TEST_F(ApacheE2eTest, FailedReloadRestoresThePreviousFilesApacheLoads) {
  json issued = RunToValid({"issue", kRollbackName, "--ca", "pebble"});
  const std::string serial = SerialOf(issued);
  ASSERT_FALSE(serial.empty()) << issued.dump(2);
  ExpectApacheServesPebbleCertificate(kRollbackName, serial);
  const pid_t pid = ApachePid();

  // The reload command fails now: the agent must put the previous files back.
  ASSERT_TRUE(WriteFileWithMode(stack->break_reload_file, "", 0644));
  const int64_t failed_before = AgentCounter("reloads_failed");
  CommandResult r = Cli({"renew", kRollbackName, "--wait", "--timeout", "4m"});
  json renewed = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(renewed.is_object()) << r.out << r.err << Logs();
  const std::string new_serial = SerialOf(renewed);
  ASSERT_FALSE(new_serial.empty()) << r.out;
  EXPECT_FALSE(absl::EqualsIgnoreCase(new_serial, serial));
  // The installation failed (the reload is what failed) and was rolled back.
  ASSERT_TRUE(PollUntil([&] { return AgentCounter("reloads_failed") > failed_before; },
                        kServeTimeout))
      << AgentStatus().dump() << Logs();
  const std::string dir = absl::StrCat(stack->cert_dir, "/", kRollbackName);
  ASSERT_TRUE(PollUntil(
      [&] {
        auto on_disk = crypto::Certificate::FromPem(ReadFileOrEmpty(dir + "/fullchain.pem"));
        return on_disk.ok() && absl::EqualsIgnoreCase(on_disk->SerialHex(), serial);
      },
      kServeTimeout))
      << Logs();
  EXPECT_THAT(stack->agent->Log(), HasSubstr("previous files restored"));
  ASSERT_EQ(unlink(stack->break_reload_file.c_str()), 0);

  // Apache, reloaded by hand, loads the restored (previous) certificate and key: the pair on
  // disk is consistent and still the one certfleet issued first.
  const int graceful_before = GracefulRestarts();
  const int loaded_before = ConfigurationsLoaded();
  CommandResult graceful = stack->apache->Control({"-k", "graceful"});
  ASSERT_EQ(graceful.exit_code, 0) << graceful.out << graceful.err;
  ASSERT_TRUE(PollUntil(
      [&] {
        return GracefulRestarts() > graceful_before && ConfigurationsLoaded() > loaded_before;
      },
      kServeTimeout))
      << ReadFileOrEmpty(stack->apache->error_log());
  ExpectApacheServesPebbleCertificate(kRollbackName, serial);
  EXPECT_EQ(ApachePid(), pid);
  EXPECT_TRUE(stack->apache->Running());
}

}  // namespace
}  // namespace certfleet::e2e
