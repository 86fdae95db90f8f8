#include "client/agent/agent_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <initializer_list>

#include "absl/status/status.h"
#include "client/agent/atomic_file.h"
#include "client/agent/flag_parser.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/temp_dir.h"

namespace certfleet::agent {
namespace {

using ::certfleet::agent::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<AgentConfig> Parse(std::initializer_list<std::string> args) {
  std::vector<std::string> storage = {"certfleet-agent"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const std::string& a : storage) argv.push_back(a.c_str());
  return ParseAgentConfig(static_cast<int>(argv.size()), argv.data());
}

// Expects InvalidArgument with exactly `message`.
void ExpectError(const absl::StatusOr<AgentConfig>& result, const std::string& message) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(), message);
}

TEST(AgentConfigTest, MinimalFlagsAndDefaults) {
  absl::StatusOr<AgentConfig> c = Parse({"--server=127.0.0.1:7000", "--name", "WWW.Example.com",
                                         "--name=*.example.org", "--insecure-plaintext"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "127.0.0.1:7000");
  EXPECT_THAT(c->names, ElementsAre("www.example.com", "*.example.org"));
  EXPECT_TRUE(c->insecure_plaintext);
  EXPECT_EQ(c->tls_alpn_listen, ":443");
  EXPECT_EQ(c->cert_dir, "/etc/certfleet/live");
  EXPECT_EQ(c->reload_command, "apachectl -k graceful");
  EXPECT_EQ(c->heartbeat_seconds, 30);
  EXPECT_EQ(c->reconnect_backoff_initial, absl::Milliseconds(500));
  EXPECT_EQ(c->reconnect_backoff_max, absl::Seconds(30));
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  EXPECT_EQ(c->agent_id, host);
  EXPECT_TRUE(c->token.empty());
}

TEST(AgentConfigTest, AllFlags) {
  TempDir tmp;
  ASSERT_TRUE(WriteFileAtomically(tmp.Sub("token"), "s3cret\n", 0600).ok());
  absl::StatusOr<AgentConfig> c =
      Parse({"--server=[::1]:7000", "--agent-id=web-1.dc", "--token-file=" + tmp.Sub("token"),
             "--name=a.example.com", "--tls-alpn-listen=127.0.0.2:0", "--http01-webroot",
             tmp.path(), "--cert-dir=/tmp/live", "--reload-command=", "--reload-timeout=5s",
             "--insecure-plaintext=true", "--heartbeat-seconds=7", "--status-file=/tmp/s.json",
             "--reconnect-backoff-initial=10ms", "--reconnect-backoff-max=1s",
             "--log-level=debug"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->agent_id, "web-1.dc");
  EXPECT_EQ(c->token, "s3cret");
  EXPECT_EQ(c->tls_alpn_listen, "127.0.0.2:0");
  EXPECT_EQ(c->http01_webroot, tmp.path());
  EXPECT_EQ(c->reload_command, "");
  EXPECT_EQ(c->reload_timeout, absl::Seconds(5));
  EXPECT_EQ(c->heartbeat_seconds, 7);
  EXPECT_EQ(c->status_file, "/tmp/s.json");
  EXPECT_EQ(c->reconnect_backoff_initial, absl::Milliseconds(10));
  EXPECT_EQ(c->reconnect_backoff_max, absl::Seconds(1));
  ASSERT_TRUE(c->log_level.has_value());
  EXPECT_EQ(*c->log_level, LogLevel::kDebug);
}

TEST(AgentConfigTest, Help) {
  absl::StatusOr<AgentConfig> c = Parse({"--help"});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->show_help);
  EXPECT_TRUE(Parse({"-h"})->show_help);
  EXPECT_THAT(AgentUsage(), HasSubstr("--tls-alpn-listen=ADDR"));
  EXPECT_THAT(AgentUsage(), HasSubstr("--name=NAME (repeatable)"));
}

TEST(AgentConfigTest, FlagSyntaxErrors) {
  ExpectError(Parse({"--bogus=1"}), "--bogus: unknown flag (see --help)");
  ExpectError(Parse({"--server"}), "--server: missing value (HOST:PORT)");
  ExpectError(Parse({"--server=a:1", "--server=b:1"}), "--server: given more than once");
  ExpectError(Parse({"--insecure-plaintext=maybe"}),
              "--insecure-plaintext: expected true or false, got \"maybe\"");
  ExpectError(Parse({"stray"}), "unexpected argument \"stray\" (flags start with --; see --help)");
}

TEST(AgentConfigTest, ServerErrors) {
  ExpectError(Parse({"--name=a.example.com"}),
              "--server: required (HOST:PORT of certfleet-server)");
  ExpectError(Parse({"--server=localhost", "--name=a.example.com"}),
              "--server: \"localhost\" has no port (expected HOST:PORT)");
  ExpectError(Parse({"--server=localhost:99999", "--name=a.example.com"}),
              "--server: \"localhost:99999\": port \"99999\" is not a number 0-65535");
  ExpectError(Parse({"--server=:7000", "--name=a.example.com"}),
              "--server: \":7000\" needs a host and a non-zero port");
}

TEST(AgentConfigTest, PlaintextOnlyToLoopback) {
  ExpectError(Parse({"--server=example.com:443", "--name=a.example.com",
                     "--insecure-plaintext"}),
              "--insecure-plaintext: only allowed when --server is a loopback address (got "
              "\"example.com:443\"); use --server-ca for TLS");
  ExpectError(Parse({"--server=10.0.0.1:443", "--name=a.example.com", "--insecure-plaintext"}),
              "--insecure-plaintext: only allowed when --server is a loopback address (got "
              "\"10.0.0.1:443\"); use --server-ca for TLS");
  for (const char* server : {"localhost:1", "127.0.0.1:1", "127.1.2.3:1", "[::1]:1"}) {
    EXPECT_TRUE(Parse({std::string("--server=") + server, "--name=a.example.com",
                       "--insecure-plaintext"})
                    .ok())
        << server;
  }
}

TEST(AgentConfigTest, ServerCaErrors) {
  TempDir tmp;
  ASSERT_TRUE(WriteFileAtomically(tmp.Sub("ca.pem"), "not pem", 0644).ok());
  absl::StatusOr<AgentConfig> c =
      Parse({"--server=ca.example:443", "--name=a.example.com", "--server-ca=" + tmp.Sub("ca.pem")});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("--server-ca: " + tmp.Sub("ca.pem") + ": no PEM certificate in it"));
  ExpectError(Parse({"--server=localhost:1", "--name=a.example.com", "--insecure-plaintext",
                     "--server-ca=/x"}),
              "--insecure-plaintext: cannot be combined with --server-ca");
}

TEST(AgentConfigTest, TokenFileMustNotBeWorldReadable) {
  TempDir tmp;
  const std::string path = tmp.Sub("token");
  ASSERT_TRUE(WriteFileAtomically(path, "tok", 0644).ok());
  ExpectError(Parse({"--server=localhost:1", "--name=a.example.com", "--token-file=" + path}),
              "--token-file: " + path + " is accessible by other users (mode 0644); run chmod "
              "600 " + path);
  ASSERT_TRUE(WriteFileAtomically(path, " \n", 0600).ok());
  ExpectError(Parse({"--server=localhost:1", "--name=a.example.com", "--token-file=" + path}),
              "--token-file: " + path + " is empty");
  ExpectError(Parse({"--server=localhost:1", "--name=a.example.com",
                     "--token-file=" + tmp.Sub("missing")}),
              "--token-file: " + tmp.Sub("missing") + ": No such file or directory");
}

TEST(AgentConfigTest, NameErrors) {
  ExpectError(Parse({"--server=localhost:1"}),
              "--name: at least one is required (the names this host serves)");
  ExpectError(Parse({"--server=localhost:1", "--name=a.example.com", "--name=A.example.com"}),
              "--name: \"A.example.com\" is given twice");
  absl::StatusOr<AgentConfig> bad = Parse({"--server=localhost:1", "--name=bad_name!.com"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), ::testing::StartsWith("--name: "));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("bad_name!.com"));
}

TEST(AgentConfigTest, AgentIdAndNumbers) {
  ExpectError(Parse({"--server=localhost:1", "--name=a.example.com", "--agent-id=a b"}),
              "--agent-id: \"a b\" must be 1 to 128 characters of [A-Za-z0-9._-]");
  ExpectError(Parse({"--server=localhost:1", "--name=a.example.com", "--heartbeat-seconds=0"}),
              "--heartbeat-seconds: expected a whole number from 1 to 3600, got \"0\"");
  ExpectError(Parse({"--server=localhost:1", "--name=a.example.com", "--reload-timeout=soon"}),
              "--reload-timeout: expected a positive duration such as \"500ms\" or \"30s\", "
              "got \"soon\"");
  ExpectError(Parse({"--server=localhost:1", "--name=a.example.com",
                     "--reconnect-backoff-initial=2s", "--reconnect-backoff-max=1s"}),
              "--reconnect-backoff-max: must not be shorter than --reconnect-backoff-initial");
  ExpectError(Parse({"--server=localhost:1", "--name=a.example.com", "--log-level=loud"}),
              "--log-level: expected debug, info, warning or error, got \"loud\"");
}

TEST(AgentConfigTest, ListenerErrors) {
  TempDir tmp;
  ExpectError(Parse({"--server=localhost:1", "--name=a.example.com", "--tls-alpn-listen=443"}),
              "--tls-alpn-listen: \"443\" has no port (expected HOST:PORT)");
  ExpectError(Parse({"--server=localhost:1", "--name=a.example.com", "--http01-listen=:80",
                     "--http01-webroot=" + tmp.path()}),
              "--http01-webroot: cannot be combined with --http01-listen");
  ExpectError(Parse({"--server=localhost:1", "--name=a.example.com",
                     "--http01-webroot=" + tmp.Sub("nope")}),
              "--http01-webroot: " + tmp.Sub("nope") + ": No such file or directory");
}

TEST(AgentConfigTest, TlsAlpnPassthrough) {
  absl::StatusOr<AgentConfig> c =
      Parse({"--server=localhost:1", "--name=a.example.com",
             "--tls-alpn-passthrough=127.0.0.1:8443", "--tls-alpn-proxy-protocol"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls_alpn_listen, ":443");
  EXPECT_EQ(c->tls_alpn_passthrough, "127.0.0.1:8443");
  EXPECT_TRUE(c->tls_alpn_proxy_protocol);
  c = Parse({"--server=localhost:1", "--name=a.example.com"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls_alpn_passthrough, "");
  EXPECT_FALSE(c->tls_alpn_proxy_protocol);
  // Same port on another address than the listener's: fine.
  c = Parse({"--server=localhost:1", "--name=a.example.com", "--tls-alpn-listen=10.0.0.1:443",
             "--tls-alpn-passthrough=[::1]:443"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls_alpn_passthrough, "[::1]:443");
  EXPECT_THAT(AgentUsage(), HasSubstr("--tls-alpn-passthrough=HOST:PORT"));
  EXPECT_THAT(AgentUsage(), HasSubstr("--tls-alpn-passthrough 127.0.0.1:8443"));
}

TEST(AgentConfigTest, TlsAlpnPassthroughErrors) {
  auto parse = [](std::initializer_list<std::string> extra) {
    std::vector<std::string> args = {"--server=localhost:1", "--name=a.example.com"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<const char*> argv = {"certfleet-agent"};
    for (const std::string& a : args) argv.push_back(a.c_str());
    return ParseAgentConfig(static_cast<int>(argv.size()), argv.data());
  };
  ExpectError(parse({"--tls-alpn-passthrough=8443"}),
              "--tls-alpn-passthrough: \"8443\" has no port (expected HOST:PORT)");
  ExpectError(parse({"--tls-alpn-passthrough=127.0.0.1:x"}),
              "--tls-alpn-passthrough: \"127.0.0.1:x\": port \"x\" is not a number 0-65535");
  ExpectError(parse({"--tls-alpn-passthrough=:8443"}),
              "--tls-alpn-passthrough: \":8443\" needs a host and a non-zero port (the web "
              "server's own listener, e.g. 127.0.0.1:8443)");
  ExpectError(parse({"--tls-alpn-passthrough=127.0.0.1:0"}),
              "--tls-alpn-passthrough: \"127.0.0.1:0\" needs a host and a non-zero port (the "
              "web server's own listener, e.g. 127.0.0.1:8443)");
  ExpectError(parse({"--tls-alpn-passthrough=0.0.0.0:8443"}),
              "--tls-alpn-passthrough: \"0.0.0.0:8443\": give the address the web server "
              "listens on, not a wildcard address");
  // The listener itself: literally, behind a wildcard listener, or localhost vs 127.0.0.1.
  const std::string itself =
      "\" itself; point it at the web server's own listener (e.g. Apache on 127.0.0.1:8443)";
  ExpectError(parse({"--tls-alpn-listen=127.0.0.1:8443", "--tls-alpn-passthrough=127.0.0.1:8443"}),
              "--tls-alpn-passthrough: \"127.0.0.1:8443\" is the --tls-alpn-listen address "
              "\"127.0.0.1:8443" + itself);
  ExpectError(parse({"--tls-alpn-passthrough=127.0.0.1:443"}),
              "--tls-alpn-passthrough: \"127.0.0.1:443\" is the --tls-alpn-listen address "
              "\":443" + itself);
  ExpectError(parse({"--tls-alpn-listen=localhost:443", "--tls-alpn-passthrough=127.0.0.1:443"}),
              "--tls-alpn-passthrough: \"127.0.0.1:443\" is the --tls-alpn-listen address "
              "\"localhost:443" + itself);
  ExpectError(parse({"--tls-alpn-proxy-protocol"}),
              "--tls-alpn-proxy-protocol: needs --tls-alpn-passthrough");
}

TEST(AgentConfigTest, ConfigFileWithFlagOverrides) {
  TempDir tmp;
  const std::string path = tmp.Sub("agent.json");
  ASSERT_TRUE(WriteFileAtomically(path, R"({
    "server": "127.0.0.1:7000",
    "agent_id": "from-file",
    "names": ["a.example.com", "b.example.com"],
    "insecure-plaintext": true,
    "heartbeat_seconds": 12,
    "cert_dir": "/srv/certs"
  })",
                                  0644)
                  .ok());
  absl::StatusOr<AgentConfig> c =
      Parse({"--config=" + path, "--agent-id=from-flag", "--name=c.example.com"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "127.0.0.1:7000");
  EXPECT_EQ(c->agent_id, "from-flag");
  EXPECT_THAT(c->names, ElementsAre("c.example.com"));
  EXPECT_TRUE(c->insecure_plaintext);
  EXPECT_EQ(c->heartbeat_seconds, 12);
  EXPECT_EQ(c->cert_dir, "/srv/certs");
}

TEST(AgentConfigTest, ConfigFileErrors) {
  TempDir tmp;
  const std::string path = tmp.Sub("agent.json");
  ASSERT_TRUE(WriteFileAtomically(path, R"({"server": "127.0.0.1:7000", "names": ["a.example.com"],
                                           "heartbeat_seconds": 0})",
                                  0644)
                  .ok());
  ExpectError(Parse({"--config=" + path}),
              "--heartbeat-seconds: expected a whole number from 1 to 3600, got \"0\" (in "
              "config file " + path + ")");
  ASSERT_TRUE(WriteFileAtomically(path, R"({"sever": "x"})", 0644).ok());
  ExpectError(Parse({"--config=" + path}), "--config: " + path + ": unknown key \"sever\"");
  ASSERT_TRUE(WriteFileAtomically(path, R"({"names": "a.example.com", "server": [1]})", 0644).ok());
  ExpectError(Parse({"--config=" + path}), "--config: " + path + ": \"server\": expected a string");
  ASSERT_TRUE(WriteFileAtomically(path, "{", 0644).ok());
  absl::StatusOr<AgentConfig> c = Parse({"--config=" + path});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("--config: " + path + ": not valid JSON"));
  ExpectError(Parse({"--config=" + tmp.Sub("missing.json")}),
              "--config: " + tmp.Sub("missing.json") + ": no such file");
}

TEST(FlagParserTest, SplitsHostPort) {
  std::string host;
  int port = 0;
  ASSERT_TRUE(SplitHostPort("[::1]:443", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 443);
  ASSERT_TRUE(SplitHostPort(":0", &host, &port).ok());
  EXPECT_EQ(host, "");
  EXPECT_EQ(port, 0);
  EXPECT_FALSE(SplitHostPort("::1:443", &host, &port).ok());
  EXPECT_FALSE(SplitHostPort("h:-1", &host, &port).ok());
  EXPECT_FALSE(SplitHostPort("h:", &host, &port).ok());
}

}  // namespace
}  // namespace certfleet::agent
