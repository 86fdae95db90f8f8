#include "server/app/config.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "common/crypto/key.h"
#include "common/crypto/tls_alpn_certificate.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certfleet::server {
namespace {

// A minimal valid config plus `extra` members (JSON text without braces).
// `extra` may bring its own "cas" (a key given twice is an error).
std::string Config(const std::string& extra) {
  std::string base = R"("database": "/tmp/certfleet-config-test.db")";
  if (extra.find(R"("cas")") == std::string::npos) {
    base += R"(, "cas": {"pebble": {"directory_url": "https://127.0.0.1:14000/dir"}})";
  }
  return "{" + base + (extra.empty() ? "" : ", " + extra) + "}";
}

// Parses and validates; returns the first error message ("" when valid).
std::string Error(const std::string& json) {
  ServerConfig config;
  absl::Status st = ParseConfigJson(json, &config);
  if (st.ok()) st = ValidateConfig(config);
  if (st.ok()) return "";
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  return std::string(st.message());
}

// One API client, as a non-loopback listen address requires.
constexpr char kApiClient[] =
    R"("api_clients": [{"name": "ops", "token_sha256": ")"
    R"(0123456789abcdef0123456789abcdef0123456789ABCDEF0123456789abcdef"}])";

TEST(ConfigTest, MinimalIsValid) { EXPECT_EQ(Error(Config("")), ""); }

TEST(ConfigTest, LetsEncryptEndpointsAreKnownByName) {
  ServerConfig config;
  ASSERT_TRUE(ParseConfigJson(Config(R"("cas": {"letsencrypt": {}, "letsencrypt-staging": {},
                                                  "other": {}})"),
                              &config)
                  .ok());
  EXPECT_EQ(config.cas.at("letsencrypt").directory_url,
            "https://acme-v02.api.letsencrypt.org/directory");
  EXPECT_EQ(config.cas.at("letsencrypt-staging").directory_url,
            "https://acme-staging-v02.api.letsencrypt.org/directory");
  // Any other CA still needs its URL.
  EXPECT_EQ(Error(Config(R"("cas": {"letsencrypt": {}, "other": {}})")),
            "config: cas.other.directory_url: required");
}

TEST(ConfigTest, FullExampleParses) {
  ServerConfig config;
  ASSERT_TRUE(ParseConfigJson(Config(R"(
      "listen": "127.0.0.1:0",
      "default_ca": "pebble",
      "defaults": {"challenge_preference": ["http-01"], "key_type": "rsa2048",
                   "renew_before": "10d", "workers": 2},
      "agents": {"allow_any": false,
                 "agents": [{"id": "web1", "token_sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                             "names": ["*.example.com"]}]},
      "builtin_solver": {"tls_alpn_listen": "127.0.0.1:0"})"),
                              &config)
                  .ok());
  ASSERT_TRUE(ValidateConfig(config).ok()) << ValidateConfig(config);
  EXPECT_EQ(config.defaults.workers, 2);
  EXPECT_EQ(config.defaults.key_type, crypto::KeyType::kRsa2048);
  EXPECT_EQ(config.defaults.renew_before, absl::Hours(240));
  EXPECT_EQ(config.defaults.challenge_preference, std::vector<std::string>{"http-01"});
  ASSERT_EQ(config.agent_grants.size(), 1u);
  EXPECT_EQ(config.agent_grants[0].agent_id, "web1");
  EXPECT_EQ(config.builtin_tls_alpn_listen, "127.0.0.1:0");
  EXPECT_EQ(config.cas.at("pebble").name, "pebble");
}

TEST(ConfigTest, EachBadKeyNamesItself) {
  struct Case {
    std::string extra;
    std::string message;
  } cases[] = {
      {R"("listne": "x")", "config: listne: unknown key"},
      {R"("listen": "nohostport")",
       "config: listen: \"nohostport\" is not HOST:PORT (port 0 picks a free port)"},
      {R"("listen": "0.0.0.0:50051")",
       "config: tls: required when listen (0.0.0.0:50051) is not a loopback address: set "
       "tls.cert_file and tls.key_file, or \"insecure_plaintext\": true"},
      {R"("listen": "0.0.0.0:7443", "insecure_plaintext": true, "agents": {"allow_any": true})",
       "config: agents.allow_any: only allowed when listen is a loopback address (listen is "
       "0.0.0.0:7443); list the agents and their names"},
      {R"("tls": {"cert_file": "/nonexistent.pem"})",
       "config: tls.key_file: required together with tls.cert_file and tls.key_file"},
      {R"("tls": {"cert_file": "/nonexistent.pem", "key_file": "/nonexistent.key"})",
       "config: tls.cert_file: cannot read /nonexistent.pem"},
      {R"("insecure_plaintext": "yes")", "config: insecure_plaintext: must be true or false"},
      {R"("default_ca": "foo")", "config: default_ca: unknown CA \"foo\" (configured: pebble)"},
      {R"("cas": {"le": {"directory_url": "http://x/dir"}})",
       "config: cas.le.directory_url: \"http://x/dir\" is not an https:// URL"},
      {R"("cas": {"le": {}})", "config: cas.le.directory_url: required"},
      {R"("cas": {"le": {"directory_url": "https://x/dir", "contact": ["ops@example.com"]}})",
       "config: cas.le.contact[0]: \"ops@example.com\" is not a mailto: URI"},
      {R"("cas": {"le": {"directory_url": "https://x/dir", "eab": {"kid": "k"}}})",
       "config: cas.le.eab.hmac_key: required together with the other EAB field"},
      {R"("cas": {"le": {"directory_url": "https://x/dir", "eab": {"kid": "k", "hmac_key": "a+b"}}})",
       "config: cas.le.eab.hmac_key: must be base64url without padding"},
      {R"("cas": {"le": {"directory_url": "https://x/dir", "ca_bundle": "/nonexistent.pem"}})",
       "config: cas.le.ca_bundle: cannot read /nonexistent.pem"},
      {R"("cas": {"le": {"directory_url": "https://x/dir", "colour": 1}})",
       "config: cas.le.colour: unknown key"},
      {R"("cas": {"l e": {"directory_url": "https://x/dir"}})",
       "config: cas.l e: CA names must be 1-64 characters of [A-Za-z0-9._-]"},
      {R"("cas": {"le": {"directory_url": "https://x/dir", "profile_mandatory": true}})",
       "config: cas.le.profile_mandatory: set but no profile is given"},
      {R"("defaults": {"key_type": "dsa"})", "config: defaults.key_type: "},
      {R"("defaults": {"renew_before": "soon"})",
       "config: defaults.renew_before: \"soon\" is not a duration"},
      {R"("defaults": {"renew_before": "0d"})", "config: defaults.renew_before: must be positive"},
      {R"("defaults": {"renewal_check_interval": "often"})",
       "config: defaults.renewal_check_interval: \"often\" is not a duration"},
      {R"("defaults": {"renewal_check_interval": "500ms"})",
       "config: defaults.renewal_check_interval: must be at least 1s"},
      {R"("defaults": {"workers": 0})",
       "config: defaults.workers: must be an integer from 1 to 256"},
      {R"("defaults": {"challenge_preference": ["dns-01"]})",
       "config: defaults.challenge_preference[0]: \"dns-01\" is not a supported challenge type"},
      {R"("defaults": {"challenge_preference": []})",
       "config: defaults.challenge_preference: must not be empty"},
      {R"("agents": {"agents": [{"id": "bad id", "token_sha256": "00", "names": ["a.example.com"]}]})",
       "config: agents.agents[0].id: must be 1-128 characters of [A-Za-z0-9._-]"},
      {R"("agents": {"agents": [{"id": "web1", "names": ["a.example.com"]}]})",
       "config: agents.agents[0]: exactly one of token_sha256 and token_file must be set"},
      {R"("agents": {"agents": [{"id": "web1", "token_sha256": "00", "names": []}]})",
       "config: agents.agents[0].names: at least one name is required"},
      {R"("agents": {"agents": [{"id": "web1", "token_file": "/nonexistent", "names": ["a.example.com"]}]})",
       "config: agents.agents[0].token_file: cannot read /nonexistent"},
      {R"("agents": {"agents": [{"id": "web1", "token_sha256": "00", "names": ["a.example.com"]}]})",
       "config: agents.agents: "},
      {R"("builtin_solver": {"tls_alpn_listen": "443"})",
       "config: builtin_solver.tls_alpn_listen: \"443\" is not HOST:PORT"},
      {R"("max_receive_message_bytes": 1)",
       "config: max_receive_message_bytes: must be an integer from 1024 to 67108864"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Error(Config(c.extra)), ::testing::StartsWith(c.message)) << c.extra;
  }
}

TEST(ConfigTest, RenewalCheckInterval) {
  ServerConfig config;
  ASSERT_TRUE(ParseConfigJson(Config(""), &config).ok());
  EXPECT_EQ(config.defaults.renewal_check_interval, absl::Hours(1));
  ASSERT_TRUE(
      ParseConfigJson(Config(R"("defaults": {"renewal_check_interval": "1s"})"), &config).ok());
  EXPECT_TRUE(ValidateConfig(config).ok()) << ValidateConfig(config);
  EXPECT_EQ(config.defaults.renewal_check_interval, absl::Seconds(1));
}

TEST(ConfigTest, MissingDatabase) {
  EXPECT_EQ(Error("{}"), "config: database: required (or --db)");
}

TEST(ConfigTest, NotJson) {
  EXPECT_THAT(Error("{\"listen\": "), ::testing::StartsWith("config: not valid JSON"));
  EXPECT_EQ(Error("[1]"), "config: must be a JSON object");
}

TEST(ConfigTest, LoopbackAllowsPlaintextAndInsecureFlagOverrides) {
  EXPECT_EQ(Error(Config(R"("listen": "[::1]:0")")), "");
  EXPECT_EQ(Error(Config(R"("listen": "localhost:7443")")), "");
  EXPECT_EQ(Error(Config(R"("listen": "0.0.0.0:0", "insecure_plaintext": true, )" +
                         std::string(kApiClient))),
            "");
  EXPECT_TRUE(IsLoopbackListenAddress("127.1.2.3:1"));
  EXPECT_FALSE(IsLoopbackListenAddress("10.0.0.1:1"));
}

TEST(ConfigTest, Durations) {
  EXPECT_EQ(*ParseConfigDuration("30d"), absl::Hours(720));
  EXPECT_EQ(*ParseConfigDuration("90m"), absl::Minutes(90));
  EXPECT_FALSE(ParseConfigDuration("3 days").ok());
}

TEST(ServerFlagsTest, ParsesAndBuilds) {
  std::string path = ::testing::TempDir() + "/certfleet-config-test.json";
  {
    std::ofstream out(path);
    out << Config(R"("listen": "0.0.0.0:1")");
  }
  auto flags = ParseServerFlags({"--config", path, "--listen=127.0.0.1:0", "--db", "/tmp/x.db",
                                 "--port-file", "/tmp/p"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  absl::StatusOr<ServerConfig> config = BuildServerConfig(*flags);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:0");
  EXPECT_EQ(config->database, "/tmp/x.db");
  EXPECT_EQ(config->port_file, "/tmp/p");
  EXPECT_EQ(config->defaults.default_ca, "pebble");  // The only CA.
  EXPECT_EQ(ParseServerFlags({"--bogus"}).status().message(),
            "unknown flag --bogus (see --help)");
  EXPECT_EQ(ParseServerFlags({"--db"}).status().message(), "--db: missing value");
  std::remove(path.c_str());
}

// Regression: a key given twice (a repeated CA name, say) silently kept the last one.
TEST(ConfigTest, KeyGivenTwiceIsAnError) {
  EXPECT_EQ(Error(R"({"database": "a.db", "database": "b.db",
                      "cas": {"p": {"directory_url": "https://x/dir"}}})"),
            "config: database: given more than once");
  EXPECT_EQ(Error(R"({"database": "a.db", "cas": {"p": {"directory_url": "https://a/dir"},
                                                   "p": {"directory_url": "https://b/dir"}}})"),
            "config: cas.p: given more than once");
  EXPECT_EQ(Error(Config(R"("agents": {"agents": [{"id": "a", "id": "b"}]})")),
            "config: agents.agents[].id: given more than once");
  // The same key in different objects is fine.
  EXPECT_EQ(Error(Config(R"("cas": {"a": {"directory_url": "https://a/dir"},
                                    "b": {"directory_url": "https://b/dir"}})")),
            "");
}

// Regression: a config without any CA started a server that could issue nothing.
TEST(ConfigTest, AtLeastOneCa) {
  EXPECT_THAT(Error(R"({"database": "a.db"})"),
              ::testing::StartsWith("config: cas: at least one CA is required"));
  EXPECT_THAT(Error(R"({"database": "a.db", "cas": {}})"),
              ::testing::StartsWith("config: cas: at least one CA is required"));
}

// Regression: "inf" was accepted, and a huge day count overflowed (undefined behaviour).
TEST(ConfigTest, DurationsMustBeFinite) {
  EXPECT_FALSE(ParseConfigDuration("inf").ok());
  EXPECT_FALSE(ParseConfigDuration("-inf").ok());
  EXPECT_FALSE(ParseConfigDuration("99999999999999999d").ok());
  EXPECT_EQ(*ParseConfigDuration("36500d"), absl::Hours(24 * 36500));
  EXPECT_EQ(Error(Config(R"("defaults": {"renewal_check_interval": "inf"})")),
            "config: defaults.renewal_check_interval: \"inf\" is not a duration (e.g. \"30d\", "
            "\"720h\", \"90m\")");
}

// Regression: TLS files that exist but hold no PEM passed validation; the server then
// created its database and failed with "cannot listen" (exit 1).
TEST(ConfigTest, TlsFilesMustHoldPem) {
  std::string junk = ::testing::TempDir() + "/config_test_junk.pem";
  {
    std::ofstream out(junk);
    out << "not a pem\n";
  }
  std::string tls = R"("listen": "0.0.0.0:0", "tls": {"cert_file": ")" + junk +
                    R"(", "key_file": ")" + junk + R"("})";
  EXPECT_EQ(Error(Config(tls)), "config: tls.cert_file: " + junk + " holds no PEM certificate");

  auto pair = crypto::CreateTlsAlpnCertificate("server.example", false, std::string(32, 'd'));
  ASSERT_TRUE(pair.ok()) << pair.status();
  auto other = crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
  ASSERT_TRUE(other.ok()) << other.status();
  std::string cert = ::testing::TempDir() + "/config_test_cert.pem";
  std::string key = ::testing::TempDir() + "/config_test_key.pem";
  std::string wrong = ::testing::TempDir() + "/config_test_wrong_key.pem";
  std::ofstream(cert) << pair->cert_pem;
  std::ofstream(key) << pair->key.ToPem();
  std::ofstream(wrong) << other->ToPem();
  auto with = [&](const std::string& c, const std::string& k) {
    return Config(R"("listen": "0.0.0.0:0", "tls": {"cert_file": ")" + c +
                  R"(", "key_file": ")" + k + R"("}, )" + kApiClient);
  };
  EXPECT_EQ(Error(with(cert, key)), "");
  EXPECT_EQ(Error(with(cert, junk)),
            "config: tls.key_file: " + junk + " holds no usable PEM private key");
  EXPECT_EQ(Error(with(cert, wrong)), "config: tls.key_file: " + wrong +
                                          " does not match the first certificate in " + cert);
  for (const std::string& path : {junk, cert, key, wrong}) std::remove(path.c_str());
}

TEST(ConfigTest, ApiClientsRequiredUnlessLoopback) {
  EXPECT_EQ(Error(Config(R"("listen": "0.0.0.0:7443", "insecure_plaintext": true)")),
            "config: api_clients: required when listen (0.0.0.0:7443) is not a loopback "
            "address: add {\"name\": ..., \"token_sha256\": ...} or {\"name\": ..., "
            "\"token_file\": ...} and pass the token with certfleet --token-file");
  EXPECT_EQ(Error(Config(R"("listen": "10.0.0.1:7443", "insecure_plaintext": true, )" +
                         std::string(kApiClient))),
            "");
  // Loopback: optional (the API is open without them) and honoured when given.
  EXPECT_EQ(Error(Config(R"("listen": "127.0.0.1:0")")), "");
  ServerConfig config;
  ASSERT_TRUE(ParseConfigJson(Config(kApiClient), &config).ok());
  ASSERT_EQ(config.api_clients.size(), 1u);
  EXPECT_EQ(config.api_clients[0].name, "ops");
  EXPECT_EQ(config.api_clients[0].token_sha256,
            "0123456789abcdef0123456789abcdef0123456789ABCDEF0123456789abcdef");
}

TEST(ConfigTest, ApiClientTokenFileIsHashed) {
  std::string path = ::testing::TempDir() + "/config_test_api.token";
  std::ofstream(path) << "s3cret-token\n";
  ServerConfig config;
  ASSERT_TRUE(ParseConfigJson(Config(R"("api_clients": [{"name": "ops", "token_file": ")" + path +
                                     R"("}])"),
                              &config)
                  .ok());
  ASSERT_EQ(config.api_clients.size(), 1u);
  EXPECT_EQ(config.api_clients[0].token_sha256, agents::TokenSha256Hex("s3cret-token"));
  EXPECT_TRUE(ValidateConfig(config).ok()) << ValidateConfig(config);
  std::remove(path.c_str());
}

TEST(ConfigTest, BadApiClientsNameThemselves) {
  const std::string hex(64, 'a');
  struct Case {
    std::string extra;
    std::string message;
  } cases[] = {
      {R"("api_clients": {"name": "ops"})", "config: api_clients: must be an array of objects"},
      {R"("api_clients": ["ops"])", "config: api_clients[0]: must be an object"},
      {R"("api_clients": [{"name": "ops", "token_sha256": ")" + hex + R"(", "x": 1}])",
       "config: api_clients[0].x: unknown key"},
      {R"("api_clients": [{"token_sha256": ")" + hex + R"("}])",
       "config: api_clients[0].name: must be 1-128 characters of [A-Za-z0-9._-]"},
      {R"("api_clients": [{"name": "a b", "token_sha256": ")" + hex + R"("}])",
       "config: api_clients[0].name: must be 1-128 characters of [A-Za-z0-9._-]"},
      {R"("api_clients": [{"name": "ops", "token_sha256": ")" + hex +
           R"("}, {"name": "ops", "token_sha256": ")" + hex + R"("}])",
       "config: api_clients[1].name: \"ops\" is given more than once"},
      {R"("api_clients": [{"name": "ops"}])",
       "config: api_clients[0]: exactly one of token_sha256 and token_file must be set"},
      {R"("api_clients": [{"name": "ops", "token_sha256": ")" + hex +
           R"(", "token_file": "/etc/hosts"}])",
       "config: api_clients[0]: exactly one of token_sha256 and token_file must be set"},
      {R"("api_clients": [{"name": "ops", "token_sha256": "abc"}])",
       "config: api_clients[0].token_sha256: must be 64 hex digits"},
      {R"("api_clients": [{"name": "ops", "token_sha256": ")" + std::string(63, 'a') + R"(g"}])",
       "config: api_clients[0].token_sha256: must be 64 hex digits"},
      {R"("api_clients": [{"name": "ops", "token_file": "/nonexistent"}])",
       "config: api_clients[0].token_file: cannot read /nonexistent"},
  };
  for (const Case& c : cases) EXPECT_EQ(Error(Config(c.extra)), c.message) << c.extra;
}

// Regression: a directory as --config was read as empty text ("not valid JSON").
TEST(ConfigTest, ConfigPathThatIsADirectory) {
  ServerConfig config;
  absl::Status st = LoadConfigFile(::testing::TempDir(), &config);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "config: cannot read " + ::testing::TempDir() + ": not a regular file");
}

}  // namespace
}  // namespace certfleet::server
