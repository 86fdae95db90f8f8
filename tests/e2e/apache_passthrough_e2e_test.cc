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
// Apache runs with -DFOREGROUND as a child of this test (see apache_e2e_test.cc).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

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

using nlohmann::json;

constexpr char kApache[] = "/usr/sbin/apache2";
constexpr char kModules[] = "/usr/lib/apache2/modules";
constexpr absl::Duration kStartTimeout = absl::Seconds(60);
constexpr absl::Duration kServeTimeout = absl::Seconds(60);
constexpr absl::Duration kCliTimeout = absl::Minutes(5);

// The name Apache serves and the agent owns.
constexpr char kName[] = "www.passthrough.e2e.test";
// The source address of the test's client through the agent (any 127/8 address is local).
constexpr char kClientAddress[] = "127.0.0.2";

std::string BuildDir() {
  const char* dir = std::getenv("CERTFLEET_BUILD_DIR");
  return dir != nullptr ? dir : "";
}

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

struct Stack {
  std::string work_dir;
  std::unique_ptr<testing::PebbleFixture> pebble;
  int tls_port = 0;  // The agent's listener (Pebble's tlsPort).
  std::unique_ptr<Daemon> server;
  std::string server_address;
  std::string apache_dir;
  std::string apache_conf;
  std::string apache_pid_file;
  std::string apache_error_log;
  std::string apache_access_log;
  int apache_port = 0;
  std::unique_ptr<Daemon> apache;
  std::string cert_dir;
  std::string status_file;
  std::unique_ptr<Daemon> agent;
};

Stack* stack = nullptr;
std::string stack_error;

// How a test connection reaches Apache.
struct Route {
  int port = 0;
  bool local_proxy_header = false;  // Send a PROXY v2 LOCAL header first (direct to Apache).
  const char* source = "127.0.0.1";
  bool http_request = false;  // Send "GET /" after the handshake and read the response.
};

// The chain presented on a fresh TLS connection with SNI `name` (leaf first), no
// verification; with `http_request`, also the HTTP status line Apache answered.
absl::StatusOr<std::vector<crypto::Certificate>> ServedChain(const std::string& name,
                                                              const Route& route,
                                                              std::string* status_line = nullptr) {
  crypto::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new failed");
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, route.source, &src.sin_addr);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(route.port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to port ", route.port));
  }
  if (route.local_proxy_header) {
    static const char kLocal[16] = {'\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q',
                                    'U',  'I',  'T',  '\n', 0x20, 0, 0, 0};
    if (send(fd, kLocal, sizeof kLocal, MSG_NOSIGNAL) != sizeof kLocal) {
      close(fd);
      return absl::UnavailableError("cannot send the PROXY header");
    }
  }
  crypto::UniquePtr<SSL> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  SSL_set_tlsext_host_name(ssl.get(), name.c_str());
  static const unsigned char kAlpn[] = "\x02h2\x08http/1.1";
  SSL_set_alpn_protos(ssl.get(), kAlpn, sizeof kAlpn - 1);
  if (SSL_connect(ssl.get()) != 1) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("TLS handshake on port ", route.port, " failed"));
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
  if (route.http_request) {
    // Apache selects http/1.1 (mod_http2 is not loaded).
    std::string request = absl::StrCat("GET / HTTP/1.1\r\nHost: ", name,
                                       "\r\nConnection: close\r\n\r\n");
    SSL_write(ssl.get(), request.data(), static_cast<int>(request.size()));
    std::string response;
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl.get(), buf, sizeof buf)) > 0) response.append(buf, n);
    if (status_line != nullptr) *status_line = response.substr(0, response.find("\r\n"));
  }
  SSL_shutdown(ssl.get());
  close(fd);
  if (chain.empty()) return absl::UnavailableError("no certificate presented");
  return chain;
}

Route Direct() { return {stack->apache_port, true, "127.0.0.1", false}; }
Route ThroughAgent() { return {stack->tls_port, false, kClientAddress, false}; }

std::string ServedSerial(const std::string& name, const Route& route) {
  absl::StatusOr<std::vector<crypto::Certificate>> chain = ServedChain(name, route);
  return chain.ok() ? chain->front().SerialHex() : "";
}

absl::Status WriteOrFail(const std::string& path, const std::string& content, int mode) {
  if (!WriteFileWithMode(path, content, mode)) return absl::InternalError("cannot write " + path);
  return absl::OkStatus();
}

// A throwaway self-signed certificate where the agent installs, so that Apache can start.
absl::Status SeedCertificate(const std::string& name) {
  std::string dir = absl::StrCat(stack->cert_dir, "/", name);
  std::filesystem::create_directories(dir);
  CommandResult r = RunCommand(
      {"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:P-256", "-nodes", "-keyout", dir + "/privkey.pem", "-out",
       dir + "/fullchain.pem", "-days", "2", "-subj", "/CN=certfleet-e2e-seed", "-addext",
       "subjectAltName=DNS:" + name},
      stack->work_dir, absl::Seconds(60));
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("openssl req failed (", r.exit_code, "):\n", r.out,
                                            r.err));
  }
  chmod((dir + "/privkey.pem").c_str(), 0600);
  return absl::OkStatus();
}

std::string ApacheConfig() {
  const std::string& d = stack->apache_dir;
  std::string dir = absl::StrCat(stack->cert_dir, "/", kName);
  return absl::StrCat(
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
      "LoadModule remoteip_module ", kModules, "/mod_remoteip.so\n",
      "User www-data\n",
      "Group www-data\n",
      "ServerName localhost\n",
      "StartServers 1\n",
      "Listen 127.0.0.1:", stack->apache_port, " https\n",
      "SSLSessionCache shmcb:", d, "/ssl_scache(512000)\n",
      "RemoteIPProxyProtocol On\n",
      "LogFormat \"%a %{SSL_TLS_SNI}x %>s\" passthrough\n",
      "CustomLog \"", stack->apache_access_log, "\" passthrough\n",
      "<Location />\n  Require all denied\n</Location>\n",
      "<VirtualHost 127.0.0.1:", stack->apache_port, ">\n",
      "  ServerName ", kName, "\n",
      "  SSLEngine on\n",
      "  SSLCertificateFile \"", dir, "/fullchain.pem\"\n",
      "  SSLCertificateKeyFile \"", dir, "/privkey.pem\"\n",
      "</VirtualHost>\n");
}

absl::Status StartApache() {
  stack->apache_dir = stack->work_dir + "/apache";
  std::filesystem::create_directories(stack->apache_dir);
  chmod(stack->work_dir.c_str(), 0711);
  chmod(stack->apache_dir.c_str(), 0755);
  stack->apache_conf = stack->apache_dir + "/httpd.conf";
  stack->apache_pid_file = stack->apache_dir + "/httpd.pid";
  stack->apache_error_log = stack->apache_dir + "/error.log";
  stack->apache_access_log = stack->apache_dir + "/access.log";
  stack->apache_port = testing::PickFreePort();
  absl::Status seeded = SeedCertificate(kName);
  if (!seeded.ok()) return seeded;
  absl::Status written = WriteOrFail(stack->apache_conf, ApacheConfig(), 0644);
  if (!written.ok()) return written;
  CommandResult check = RunCommand({kApache, "-f", stack->apache_conf, "-t"}, stack->work_dir,
                                   absl::Seconds(60));
  if (check.exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "apache2 -t rejected the config (", check.exit_code, "):\n", check.out, check.err));
  }
  auto apache = Daemon::Spawn({kApache, "-f", stack->apache_conf, "-DFOREGROUND"},
                              stack->apache_dir + "/stdout.log");
  if (!apache.ok()) return apache.status();
  stack->apache = *std::move(apache);
  bool up = PollUntil(
      [] { return !stack->apache->Running() || !ServedSerial(kName, Direct()).empty(); },
      kStartTimeout);
  if (!up || !stack->apache->Running()) {
    return absl::UnavailableError(absl::StrCat("Apache did not start:\n", stack->apache->Log(),
                                               ReadFileOrEmpty(stack->apache_error_log)));
  }
  return absl::OkStatus();
}

absl::Status StartServer(const std::string& token_file) {
  json grants = json::array();
  grants.push_back({{"id", "apache-host"}, {"token_file", token_file}, {"names", {kName}}});
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

absl::Status StartAgent(const std::string& token_file) {
  stack->status_file = stack->work_dir + "/agent-status.json";
  std::string reload =
      absl::StrCat(kApache, " -f ", Quote(stack->apache_conf), " -k graceful");
  std::vector<std::string> argv = {
      absl::StrCat(BuildDir(), "/client/agent/certfleet-agent"),
      "--server", stack->server_address, "--insecure-plaintext",
      "--agent-id", "apache-host", "--token-file", token_file,
      "--tls-alpn-listen", absl::StrCat("127.0.0.1:", stack->tls_port),
      "--tls-alpn-passthrough", absl::StrCat("127.0.0.1:", stack->apache_port),
      "--tls-alpn-proxy-protocol",
      "--cert-dir", stack->cert_dir,
      "--reload-command", reload,
      "--status-file", stack->status_file,
      "--heartbeat-seconds", "5",
      "--reconnect-backoff-initial", "100ms", "--reconnect-backoff-max", "1s",
      "--name", kName};
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
  stack->work_dir = testing::MakeTempDir("certfleet-apache-passthrough-e2e");
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
  absl::Status mapped = stack->pebble->AddARecord(kName, "127.0.0.1");
  if (!mapped.ok()) return mapped;

  std::string token_file = stack->work_dir + "/agent.token";
  absl::Status written = WriteOrFail(
      token_file,
      absl::StrCat("apache-passthrough-e2e-", getpid(), "-", absl::ToUnixNanos(absl::Now())),
      0600);
  if (!written.ok()) return written;
  absl::Status server = StartServer(token_file);
  if (!server.ok()) return server;
  return StartAgent(token_file);
}

std::string Logs() {
  return absl::StrCat("\n--- agent:\n", stack->agent->Log(), "\n--- server:\n",
                      stack->server->Log(), "\n--- apache error.log:\n",
                      ReadFileOrEmpty(stack->apache_error_log));
}

class ApachePassthroughE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack = new Stack();
    absl::Status started = StartStack();
    if (!started.ok()) stack_error = std::string(started.message());
    std::cerr << "apache passthrough e2e: processes' logs under " << stack->work_dir << "\n";
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
      CommandResult r = RunCommand({kApache, "-f", stack->apache_conf, "-k", "stop"},
                                   stack->work_dir, absl::Seconds(60));
      EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
      EXPECT_EQ(stack->apache->Wait(absl::Seconds(30)), 0)
          << ReadFileOrEmpty(stack->apache_error_log);
    }
    bool passed = ::testing::UnitTest::GetInstance()->current_test_suite()->Passed();
    std::string work_dir = stack->work_dir;
    delete stack;
    stack = nullptr;
    if (passed && !work_dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(work_dir, ignored);
    }
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
      [&] { return absl::StrContains(ReadFileOrEmpty(stack->apache_access_log), want); },
      kServeTimeout))
      << ReadFileOrEmpty(stack->apache_access_log);
  EXPECT_TRUE(stack->agent->Running());
}

}  // namespace
}  // namespace certfleet::e2e
