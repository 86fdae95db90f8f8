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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/crypto/openssl_ptr.h"
#include "common/crypto/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_process.h"
#include "tests/support/pebble_fixture.h"

namespace certfleet::e2e {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

constexpr char kApache[] = "/usr/sbin/apache2";
constexpr char kModules[] = "/usr/lib/apache2/modules";
constexpr absl::Duration kStartTimeout = absl::Seconds(60);
constexpr absl::Duration kServeTimeout = absl::Seconds(60);
constexpr absl::Duration kCliTimeout = absl::Minutes(5);

// The names Apache serves (one VirtualHost each) and the agent owns.
constexpr char kName[] = "www.apache.e2e.test";
constexpr char kRollbackName[] = "rollback.apache.e2e.test";

std::string BuildDir() {
  const char* dir = std::getenv("CERTFLEET_BUILD_DIR");
  return dir != nullptr ? dir : "";
}

// Shell single-quoting for the reload command.
std::string Quote(const std::string& s) {
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

// The processes shared by the suite.
struct Stack {
  std::string work_dir;
  std::unique_ptr<testing::PebbleFixture> pebble;
  int tls_port = 0;
  std::unique_ptr<Daemon> server;
  std::string server_address;
  // Apache.
  std::string apache_dir;
  std::string apache_conf;
  std::string apache_pid_file;
  std::string apache_error_log;
  int apache_port = 0;
  std::unique_ptr<Daemon> apache;
  // The agent.
  std::string cert_dir;
  std::string status_file;
  std::string break_reload_file;  // while it exists, the reload command fails
  std::unique_ptr<Daemon> agent;
};

Stack* stack = nullptr;
std::string stack_error;

// The certificate chain Apache presents on a fresh TLS connection with SNI `name` (leaf
// first). No verification here: the test checks the chain itself.
absl::StatusOr<std::vector<crypto::Certificate>> ServedChain(const std::string& name) {
  crypto::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new failed");
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(stack->apache_port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to Apache on port ",
                                               stack->apache_port));
  }
  crypto::UniquePtr<SSL> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  SSL_set_tlsext_host_name(ssl.get(), name.c_str());
  if (SSL_connect(ssl.get()) != 1) {
    close(fd);
    return absl::UnavailableError("TLS handshake with Apache failed");
  }
  std::vector<crypto::Certificate> chain;
  STACK_OF(X509)* peer_chain = SSL_get_peer_cert_chain(ssl.get());
  for (int i = 0; peer_chain != nullptr && i < sk_X509_num(peer_chain); ++i) {
    unsigned char* der = nullptr;
    int len = i2d_X509(sk_X509_value(peer_chain, i), &der);
    if (len <= 0) break;
    std::string bytes(reinterpret_cast<char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
    absl::StatusOr<crypto::Certificate> cert = crypto::Certificate::FromDer(bytes);
    if (!cert.ok()) break;
    chain.push_back(*std::move(cert));
  }
  SSL_shutdown(ssl.get());
  close(fd);
  if (chain.empty()) return absl::UnavailableError("Apache presented no certificate");
  return chain;
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
pid_t ApachePid() {
  int pid = 0;
  std::string text(absl::StripAsciiWhitespace(ReadFileOrEmpty(stack->apache_pid_file)));
  return absl::SimpleAtoi(text, &pid) ? pid : 0;
}

// How often Apache's error log holds message `code`.
int ApacheLogCount(const std::string& code) {
  std::string log = ReadFileOrEmpty(stack->apache_error_log);
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

absl::Status WriteOrFail(const std::string& path, const std::string& content, int mode) {
  if (!WriteFileWithMode(path, content, mode)) {
    return absl::InternalError("cannot write " + path);
  }
  return absl::OkStatus();
}

// Writes a throwaway self-signed certificate for `name` where the agent installs, so that
// Apache can start before certfleet issued anything.
absl::Status SeedCertificate(const std::string& name) {
  std::string dir = absl::StrCat(stack->cert_dir, "/", name);
  std::filesystem::create_directories(dir);
  CommandResult r = RunCommand(
      {"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:P-256", "-nodes", "-keyout", dir + "/privkey.pem", "-out",
       dir + "/fullchain.pem", "-days", "2", "-subj", "/CN=certfleet-e2e-seed",
       "-addext", "subjectAltName=DNS:" + name},
      stack->work_dir, absl::Seconds(60));
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("openssl req failed (", r.exit_code, "):\n", r.out,
                                            r.err));
  }
  chmod((dir + "/privkey.pem").c_str(), 0600);
  return absl::OkStatus();
}

// A self-contained httpd.conf: nothing from /etc/apache2, everything under apache_dir.
std::string ApacheConfig() {
  const std::string& d = stack->apache_dir;
  std::string conf = absl::StrCat(
      "ServerRoot \"", d, "\"\n",
      "DefaultRuntimeDir \"", d, "\"\n",
      "PidFile \"", stack->apache_pid_file, "\"\n",
      "ErrorLog \"", stack->apache_error_log, "\"\n",
      "LogLevel info\n",
      "Mutex file:", d, " default\n",
      "LoadModule mpm_event_module ", kModules, "/mod_mpm_event.so\n",
      "LoadModule authz_core_module ", kModules, "/mod_authz_core.so\n",
      "LoadModule socache_shmcb_module ", kModules, "/mod_socache_shmcb.so\n",
      "LoadModule ssl_module ", kModules, "/mod_ssl.so\n",
      // The parent runs as root (it reads the 0600 keys); workers drop to www-data.
      "User www-data\n",
      "Group www-data\n",
      "ServerName localhost\n",
      "StartServers 1\n",
      "Listen 127.0.0.1:", stack->apache_port, " https\n",
      "SSLSessionCache shmcb:", d, "/ssl_scache(512000)\n",
      "<Location />\n  Require all denied\n</Location>\n");
  for (const char* name : {kName, kRollbackName}) {
    std::string dir = absl::StrCat(stack->cert_dir, "/", name);
    absl::StrAppend(&conf, "<VirtualHost 127.0.0.1:", stack->apache_port, ">\n",
                    "  ServerName ", name, "\n",
                    "  SSLEngine on\n",
                    "  SSLCertificateFile \"", dir, "/fullchain.pem\"\n",
                    "  SSLCertificateKeyFile \"", dir, "/privkey.pem\"\n",
                    "</VirtualHost>\n");
  }
  return conf;
}

absl::Status StartApache() {
  stack->apache_dir = stack->work_dir + "/apache";
  std::filesystem::create_directories(stack->apache_dir);
  // Workers (www-data) may reopen the mutex file under apache_dir.
  chmod(stack->work_dir.c_str(), 0711);
  chmod(stack->apache_dir.c_str(), 0755);
  stack->apache_conf = stack->apache_dir + "/httpd.conf";
  stack->apache_pid_file = stack->apache_dir + "/httpd.pid";
  stack->apache_error_log = stack->apache_dir + "/error.log";
  stack->apache_port = testing::PickFreePort();
  for (const char* name : {kName, kRollbackName}) {
    absl::Status seeded = SeedCertificate(name);
    if (!seeded.ok()) return seeded;
  }
  absl::Status written = WriteOrFail(stack->apache_conf, ApacheConfig(), 0644);
  if (!written.ok()) return written;

  CommandResult check = RunCommand({kApache, "-f", stack->apache_conf, "-t"}, stack->work_dir,
                                   absl::Seconds(60));
  if (check.exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "apache2 -t rejected the config (", check.exit_code, "):\n", check.out, check.err,
        "\n--- ", stack->apache_conf, ":\n", ReadFileOrEmpty(stack->apache_conf)));
  }
  auto apache = Daemon::Spawn({kApache, "-f", stack->apache_conf, "-DFOREGROUND"},
                              stack->apache_dir + "/stdout.log");
  if (!apache.ok()) return apache.status();
  stack->apache = *std::move(apache);
  bool up = PollUntil(
      [] {
        return !stack->apache->Running() ||
               (ApachePid() == stack->apache->pid() && !ServedSerial(kName).empty());
      },
      kStartTimeout);
  if (!up || !stack->apache->Running()) {
    return absl::UnavailableError(absl::StrCat("Apache did not start:\n", stack->apache->Log(),
                                               ReadFileOrEmpty(stack->apache_error_log)));
  }
  return absl::OkStatus();
}

absl::Status StartServer(const std::string& token_file) {
  json grants = json::array();
  grants.push_back(
      {{"id", "apache-host"}, {"token_file", token_file}, {"names", {kName, kRollbackName}}});
  json config = {
      {"listen", "127.0.0.1:0"},
      {"database", stack->work_dir + "/certfleet.db"},
      {"cas",
       {{"pebble",
         {{"directory_url", stack->pebble->directory_url()},
          {"ca_bundle", stack->pebble->ca_bundle_path()},
          {"contact", {"mailto:ops@e2e.test"}},
          {"terms_of_service_agreed", true}}}}},
      {"default_ca", "pebble"},
      {"defaults", {{"challenge_preference", {"tls-alpn-01"}}, {"workers", 2}}},
      {"agents", {{"agents", grants}}},
  };
  std::string config_path = stack->work_dir + "/server.json";
  std::string port_file = stack->work_dir + "/server.port";
  absl::Status written = WriteOrFail(config_path, config.dump(2), 0600);
  if (!written.ok()) return written;
  auto server = Daemon::Spawn({absl::StrCat(BuildDir(), "/server/certfleet-server"), "--config",
                               config_path, "--port-file", port_file},
                              stack->work_dir + "/server.log");
  if (!server.ok()) return server.status();
  stack->server = *std::move(server);
  int port = 0;
  bool listening = PollUntil(
      [&] {
        std::string text(absl::StripAsciiWhitespace(ReadFileOrEmpty(port_file)));
        return (absl::SimpleAtoi(text, &port) && port > 0) || !stack->server->Running();
      },
      kStartTimeout);
  if (!listening || port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("certfleet-server did not start:\n", stack->server->Log()));
  }
  stack->server_address = absl::StrCat("127.0.0.1:", port);
  return absl::OkStatus();
}

json AgentStatus() {
  json parsed =
      json::parse(ReadFileOrEmpty(stack->status_file), nullptr, /*allow_exceptions=*/false);
  return parsed.is_object() ? parsed : json::object();
}

int64_t AgentCounter(const std::string& key) {
  json status = AgentStatus();
  return status.contains(key) && status[key].is_number() ? status[key].get<int64_t>() : 0;
}

absl::Status StartAgent(const std::string& token_file) {
  stack->status_file = stack->work_dir + "/agent-status.json";
  stack->break_reload_file = stack->work_dir + "/break-reload";
  std::string reload = absl::StrCat("test ! -e ", Quote(stack->break_reload_file), " && ",
                                    kApache, " -f ", Quote(stack->apache_conf), " -k graceful");
  std::vector<std::string> argv = {
      absl::StrCat(BuildDir(), "/client/agent/certfleet-agent"),
      "--server", stack->server_address, "--insecure-plaintext",
      "--agent-id", "apache-host", "--token-file", token_file,
      "--tls-alpn-listen", absl::StrCat("127.0.0.1:", stack->tls_port),
      "--cert-dir", stack->cert_dir,
      "--reload-command", reload,
      "--status-file", stack->status_file,
      "--heartbeat-seconds", "5",
      "--reconnect-backoff-initial", "100ms", "--reconnect-backoff-max", "1s",
      "--name", kName, "--name", kRollbackName};
  auto agent = Daemon::Spawn(argv, stack->work_dir + "/agent.log");
  if (!agent.ok()) return agent.status();
  stack->agent = *std::move(agent);
  bool connected = PollUntil(
      [] {
        json status = AgentStatus();
        return (status.value("connected", false) && status.value("tls_alpn_port", 0) > 0) ||
               !stack->agent->Running();
      },
      kStartTimeout);
  if (!connected || !stack->agent->Running()) {
    return absl::UnavailableError(
        absl::StrCat("certfleet-agent did not connect:\n", stack->agent->Log()));
  }
  return absl::OkStatus();
}

absl::Status StartStack() {
  stack->work_dir = testing::MakeTempDir("certfleet-apache-e2e");
  stack->cert_dir = stack->work_dir + "/live";
  std::filesystem::create_directories(stack->cert_dir);

  absl::Status apache = StartApache();
  if (!apache.ok()) return apache;

  stack->tls_port = testing::PickFreePort();
  testing::PebbleOptions options;
  options.tls_port = stack->tls_port;
  auto pebble = testing::PebbleFixture::Start(options);
  if (!pebble.ok()) return pebble.status();
  stack->pebble = *std::move(pebble);
  for (const char* name : {kName, kRollbackName}) {
    absl::Status mapped = stack->pebble->AddARecord(name, "127.0.0.1");
    if (!mapped.ok()) return mapped;
  }

  std::string token_file = stack->work_dir + "/agent.token";
  absl::Status written = WriteOrFail(
      token_file, absl::StrCat("apache-e2e-", getpid(), "-", absl::ToUnixNanos(absl::Now())),
      0600);
  if (!written.ok()) return written;
  absl::Status server = StartServer(token_file);
  if (!server.ok()) return server;
  return StartAgent(token_file);
}

CommandResult Cli(std::vector<std::string> args) {
  std::vector<std::string> argv = {absl::StrCat(BuildDir(), "/client/cli/certfleet"), "--server",
                                   stack->server_address, "--output", "json"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, stack->work_dir, kCliTimeout);
}

std::string Logs() {
  return absl::StrCat("\n--- agent:\n", stack->agent->Log(), "\n--- server:\n",
                      stack->server->Log(), "\n--- apache error.log:\n",
                      ReadFileOrEmpty(stack->apache_error_log));
}

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
    if (stack->agent != nullptr && stack->agent->Running()) {
      stack->agent->Signal(SIGTERM);
      EXPECT_EQ(stack->agent->Wait(absl::Seconds(30)), 0) << stack->agent->Log();
    }
    if (stack->server != nullptr && stack->server->Running()) {
      stack->server->Signal(SIGTERM);
      EXPECT_EQ(stack->server->Wait(absl::Seconds(30)), 0) << stack->server->Log();
    }
    if (stack->apache != nullptr && stack->apache->Running()) {
      // The way an operator stops it: SIGTERM to the PidFile's process.
      CommandResult r = RunCommand({kApache, "-f", stack->apache_conf, "-k", "stop"},
                                   stack->work_dir, absl::Seconds(60));
      EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
      EXPECT_EQ(stack->apache->Wait(absl::Seconds(30)), 0)
          << ReadFileOrEmpty(stack->apache_error_log);
      // Apache removes its PidFile on a clean stop.
      EXPECT_FALSE(std::filesystem::exists(stack->apache_pid_file));
    }
    bool passed = ::testing::UnitTest::GetInstance()->current_test_suite()->Passed();
    std::string work_dir = stack->work_dir;
    delete stack;  // Stops Pebble; SIGKILLs whatever is still running.
    stack = nullptr;
    if (passed && !work_dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(work_dir, ignored);
    }
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
  CommandResult graceful = RunCommand({kApache, "-f", stack->apache_conf, "-k", "graceful"},
                                      stack->work_dir, absl::Seconds(60));
  ASSERT_EQ(graceful.exit_code, 0) << graceful.out << graceful.err;
  ASSERT_TRUE(PollUntil(
      [&] {
        return GracefulRestarts() > graceful_before && ConfigurationsLoaded() > loaded_before;
      },
      kServeTimeout))
      << ReadFileOrEmpty(stack->apache_error_log);
  ExpectApacheServesPebbleCertificate(kRollbackName, serial);
  EXPECT_EQ(ApachePid(), pid);
  EXPECT_TRUE(stack->apache->Running());
}

}  // namespace
}  // namespace certfleet::e2e
