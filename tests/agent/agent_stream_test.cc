// The agent against an in-test Agents service (a real gRPC server on 127.0.0.1:0): Hello,
// challenges served over a real TLS handshake, acks, installs, unknown messages, and
// reconnects.

#include "client/agent/agent_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "certfleet/v1/agents.grpc.pb.h"
#include "client/agent/agent.h"
#include "client/agent/agent_config.h"
#include "client/agent/atomic_file.h"
#include "common/crypto/openssl_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/temp_dir.h"
#include "tests/agent/test_certificates.h"

namespace certfleet::agent {
namespace {

using ::certfleet::agent::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(20);

// A scripted Agents service: records every stream and message, sends what the test says.
class FakeAgentsService final : public v1::Agents::Service {
 public:
  struct Received {
    int stream;
    v1::AgentMessage message;
  };

  grpc::Status Connect(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::ServerMessage, v1::AgentMessage>* stream) override {
    int index;
    {
      absl::MutexLock lock(&mu_);
      index = static_cast<int>(streams_.size());
      Stream s;
      s.context = context;
      s.stream = stream;
      auto auth = context->client_metadata().find("authorization");
      if (auth != context->client_metadata().end()) {
        s.authorization = std::string(auth->second.data(), auth->second.size());
      }
      streams_.push_back(s);
    }
    v1::AgentMessage message;
    while (stream->Read(&message)) {
      absl::MutexLock lock(&mu_);
      received_.push_back({index, message});
    }
    absl::MutexLock lock(&mu_);
    streams_[index].open = false;
    return grpc::Status::OK;
  }

  // Writes on the newest open stream; false when there is none or the write fails.
  bool Send(const v1::ServerMessage& message) {
    absl::MutexLock lock(&mu_);
    if (streams_.empty() || !streams_.back().open) return false;
    return streams_.back().stream->Write(message);
  }

  // Cancels the newest stream (the agent sees it end).
  void DropCurrent() {
    absl::MutexLock lock(&mu_);
    if (!streams_.empty()) streams_.back().context->TryCancel();
  }

  // Waits until `pred(received, stream count)` holds; false on timeout.
  bool WaitFor(const std::function<bool(const std::vector<Received>&, int)>& pred) {
    absl::MutexLock lock(&mu_);
    auto cond = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return pred(received_, static_cast<int>(streams_.size()));
    };
    return mu_.AwaitWithTimeout(absl::Condition(&cond), kWait);
  }

  // The first message of `stream` matching `kind`, waiting for it.
  std::optional<v1::AgentMessage> WaitForMessage(int stream,
                                                 v1::AgentMessage::BodyCase kind) {
    std::optional<v1::AgentMessage> found;
    WaitFor([&](const std::vector<Received>& received, int) {
      for (const Received& r : received) {
        if (r.stream == stream && r.message.body_case() == kind) {
          found = r.message;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  // The ack for `message_id`, waiting for it.
  std::optional<v1::Ack> WaitForAck(const std::string& message_id) {
    std::optional<v1::Ack> found;
    WaitFor([&](const std::vector<Received>& received, int) {
      for (const Received& r : received) {
        if (r.message.has_ack() && r.message.ack().message_id() == message_id) {
          found = r.message.ack();
          return true;
        }
      }
      return false;
    });
    return found;
  }

  std::vector<Received> received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  std::string authorization(int stream) {
    absl::MutexLock lock(&mu_);
    return streams_.at(stream).authorization;
  }

 private:
  struct Stream {
    grpc::ServerContext* context = nullptr;
    grpc::ServerReaderWriter<v1::ServerMessage, v1::AgentMessage>* stream = nullptr;
    bool open = true;
    std::string authorization;
  };
  absl::Mutex mu_;
  std::vector<Stream> streams_ ABSL_GUARDED_BY(mu_);
  std::vector<Received> received_ ABSL_GUARDED_BY(mu_);
};

// The outcome of a TLS handshake offering only ALPN acme-tls/1.
struct Handshake {
  bool ok = false;
  std::string alpn;
  crypto::UniquePtr<X509> cert;
};

Handshake AcmeTlsHandshake(int port, const std::string& sni) {
  Handshake result;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return result;
  }
  crypto::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  static const unsigned char kAlpn[] = "\x0a" "acme-tls/1";
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn) - 1);
  crypto::UniquePtr<SSL> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  SSL_set_tlsext_host_name(ssl.get(), sni.c_str());
  if (SSL_connect(ssl.get()) == 1) {
    result.ok = true;
    const unsigned char* proto = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl.get(), &proto, &len);
    result.alpn.assign(reinterpret_cast<const char*>(proto), len);
    result.cert.reset(SSL_get1_peer_certificate(ssl.get()));
  }
  ssl.reset();
  close(fd);
  return result;
}

std::vector<std::string> DnsSans(X509* cert) {
  std::vector<std::string> out;
  crypto::UniquePtr<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
    if (n->type == GEN_DNS) {
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                       ASN1_STRING_length(n->d.dNSName));
    }
  }
  return out;
}

// The 32 bytes inside the critical acmeIdentifier extension, "" when absent.
std::string AcmeIdentifierDigest(X509* cert) {
  crypto::UniquePtr<ASN1_OBJECT> oid(OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
  int index = X509_get_ext_by_OBJ(cert, oid.get(), -1);
  if (index < 0) return "";
  X509_EXTENSION* ext = X509_get_ext(cert, index);
  if (!X509_EXTENSION_get_critical(ext)) return "";
  const ASN1_OCTET_STRING* outer = X509_EXTENSION_get_data(ext);
  const unsigned char* p = ASN1_STRING_get0_data(outer);
  crypto::UniquePtr<ASN1_STRING> inner(
      d2i_ASN1_OCTET_STRING(nullptr, &p, ASN1_STRING_length(outer)));
  if (inner == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(inner.get())),
                     ASN1_STRING_length(inner.get()));
}

std::string Sha256(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

v1::ServerMessage Welcome(std::vector<std::string> accepted, int heartbeat_seconds = 0) {
  v1::ServerMessage m;
  m.mutable_welcome()->set_agent_id("agent-1");
  for (const std::string& n : accepted) m.mutable_welcome()->add_accepted_names(n);
  m.mutable_welcome()->set_heartbeat_interval_seconds(heartbeat_seconds);
  return m;
}

v1::ServerMessage PresentTlsAlpn(const std::string& id, const std::string& name,
                                 const std::string& token) {
  v1::ServerMessage m;
  m.set_message_id(id);
  v1::PresentChallenge* c = m.mutable_present_challenge();
  c->set_type(v1::CHALLENGE_TYPE_TLS_ALPN_01);
  c->mutable_identifier()->set_type(v1::Identifier::TYPE_DNS);
  c->mutable_identifier()->set_value(name);
  c->set_token(token);
  c->set_key_authorization(token + ".thumbprint_x");
  c->set_issuance_id("iss-" + id);
  return m;
}

class AgentStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    ASSERT_TRUE(WriteFileAtomically(tmp_.Sub("token"), "t0ken\n", 0600).ok());

    const std::vector<std::string> args = {
        "certfleet-agent",
        "--server=127.0.0.1:" + std::to_string(port),
        "--insecure-plaintext",
        "--agent-id=agent-1",
        "--token-file=" + tmp_.Sub("token"),
        "--name=a.example.com",
        "--name=b.example.com",
        "--tls-alpn-listen=127.0.0.1:0",
        "--cert-dir=" + tmp_.Sub("live"),
        "--reload-command=echo reloaded >> '" + tmp_.Sub("reloads") + "'",
        "--status-file=" + tmp_.Sub("status.json"),
        "--reconnect-backoff-initial=" + absl::FormatDuration(kBackoff),
        "--reconnect-backoff-max=" + absl::FormatDuration(kBackoff * 2),
    };
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    absl::StatusOr<AgentConfig> config =
        ParseAgentConfig(static_cast<int>(argv.size()), argv.data());
    ASSERT_TRUE(config.ok()) << config.status();
    absl::StatusOr<std::unique_ptr<Agent>> agent = Agent::Create(*config);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(agent).value();
    runner_ = std::thread([this] { agent_->Run(); });
  }

  void TearDown() override {
    if (agent_ != nullptr) agent_->Shutdown();
    if (runner_.joinable()) runner_.join();
    agent_.reset();
    if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  }

  // Waits for the Hello on `stream` and welcomes both names.
  void Welcome(int stream) {
    ASSERT_TRUE(service_.WaitForMessage(stream, v1::AgentMessage::kHello).has_value());
    ASSERT_TRUE(service_.Send(::certfleet::agent::Welcome({"a.example.com", "b.example.com"})));
  }

  nlohmann::json StatusFile() {
    absl::StatusOr<std::string> text = ReadFile(tmp_.Sub("status.json"));
    if (!text.ok()) return nullptr;
    return nlohmann::json::parse(*text, nullptr, false);
  }

  static constexpr absl::Duration kBackoff = absl::Milliseconds(200);
  TempDir tmp_;
  FakeAgentsService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Agent> agent_;
  std::thread runner_;
};

TEST_F(AgentStreamTest, SendsHelloWithNamesAndToken) {
  std::optional<v1::AgentMessage> hello = service_.WaitForMessage(0, v1::AgentMessage::kHello);
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->hello().agent_id(), "agent-1");
  EXPECT_THAT(hello->hello().names(), ElementsAre("a.example.com", "b.example.com"));
  EXPECT_THAT(hello->hello().capabilities(), ElementsAre(v1::CHALLENGE_TYPE_TLS_ALPN_01));
  EXPECT_TRUE(hello->hello().installs_certificates());
  EXPECT_FALSE(hello->hello().version().empty());
  EXPECT_EQ(service_.authorization(0), "Bearer t0ken");
  // Hello is the first message on the stream.
  EXPECT_TRUE(service_.received().front().message.has_hello());
}

TEST_F(AgentStreamTest, PresentedChallengeIsServedOverTlsAlpnThenWithdrawn) {
  Welcome(0);
  ASSERT_TRUE(service_.Send(PresentTlsAlpn("m1", "a.example.com", "tokA")));
  std::optional<v1::Ack> ack = service_.WaitForAck("m1");
  ASSERT_TRUE(ack.has_value());
  EXPECT_TRUE(ack->success()) << ack->reason();

  Handshake hs = AcmeTlsHandshake(agent_->tls_alpn_port(), "a.example.com");
  ASSERT_TRUE(hs.ok);
  EXPECT_EQ(hs.alpn, "acme-tls/1");
  EXPECT_THAT(DnsSans(hs.cert.get()), ElementsAre("a.example.com"));
  EXPECT_EQ(AcmeIdentifierDigest(hs.cert.get()), Sha256("tokA.thumbprint_x"));
  EXPECT_FALSE(AcmeTlsHandshake(agent_->tls_alpn_port(), "b.example.com").ok);

  nlohmann::json status = StatusFile();
  EXPECT_EQ(status["challenges_presented"]["a.example.com"], 1);
  EXPECT_EQ(status["tls_alpn_port"], agent_->tls_alpn_port());
  EXPECT_EQ(status["connects"], 1);

  v1::ServerMessage withdraw;
  withdraw.set_message_id("m2");
  withdraw.mutable_withdraw_challenge()->set_type(v1::CHALLENGE_TYPE_TLS_ALPN_01);
  withdraw.mutable_withdraw_challenge()->mutable_identifier()->set_value("a.example.com");
  withdraw.mutable_withdraw_challenge()->set_token("tokA");
  ASSERT_TRUE(service_.Send(withdraw));
  ack = service_.WaitForAck("m2");
  ASSERT_TRUE(ack.has_value());
  EXPECT_TRUE(ack->success());
  EXPECT_FALSE(AcmeTlsHandshake(agent_->tls_alpn_port(), "a.example.com").ok);
}

TEST_F(AgentStreamTest, RefusedChallengeIsAckedWithReason) {
  Welcome(0);
  ASSERT_TRUE(service_.Send(PresentTlsAlpn("m1", "c.example.com", "tokC")));
  std::optional<v1::Ack> ack = service_.WaitForAck("m1");
  ASSERT_TRUE(ack.has_value());
  EXPECT_FALSE(ack->success());
  EXPECT_EQ(ack->reason(), "name \"c.example.com\" is not served by this agent");
}

TEST_F(AgentStreamTest, UnknownMessageIsIgnored) {
  Welcome(0);
  v1::ServerMessage empty;
  empty.set_message_id("x1");
  ASSERT_TRUE(service_.Send(empty));
  ASSERT_TRUE(service_.Send(PresentTlsAlpn("m1", "a.example.com", "tokA")));
  std::optional<v1::Ack> ack = service_.WaitForAck("m1");
  ASSERT_TRUE(ack.has_value());
  EXPECT_TRUE(ack->success());
  // Messages are handled in order: x1 was handled (and not acknowledged) before m1.
  for (const auto& r : service_.received()) {
    EXPECT_FALSE(r.message.has_ack() && r.message.ack().message_id() == "x1");
  }
  EXPECT_EQ(StatusFile()["ignored_messages"], 1);
}

TEST_F(AgentStreamTest, InstallsCertificateAndReportsReload) {
  Welcome(0);
  testing::TestChain chain = testing::MakeTestChain({"a.example.com"});
  v1::ServerMessage m;
  m.set_message_id("i1");
  v1::InstallCertificate* install = m.mutable_install_certificate();
  install->set_certificate_name("site");
  install->set_fullchain_pem(chain.fullchain_pem);
  install->set_private_key_pem(chain.key_pem);
  install->set_serial("03E9");
  install->add_names("a.example.com");
  ASSERT_TRUE(service_.Send(m));
  std::optional<v1::Ack> ack = service_.WaitForAck("i1");
  ASSERT_TRUE(ack.has_value());
  EXPECT_TRUE(ack->success()) << ack->reason();
  EXPECT_EQ(ack->reload_exit_status(), 0);
  EXPECT_EQ(ack->install_path(), tmp_.Sub("live/site"));
  EXPECT_EQ(ReadFile(tmp_.Sub("live/site/privkey.pem")).value(), chain.key_pem);
  struct stat st;
  ASSERT_EQ(stat(tmp_.Sub("live/site/privkey.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(ReadFile(tmp_.Sub("reloads")).value(), "reloaded\n");
  nlohmann::json status = StatusFile();
  EXPECT_EQ(status["certificates_installed"], 1);
  EXPECT_EQ(status["reloads_run"], 1);
  EXPECT_EQ(status["reloads_failed"], 0);

  // A mismatched key is refused without running the reload.
  m.set_message_id("i2");
  install->set_private_key_pem(testing::MakeUnrelatedKeyPem());
  ASSERT_TRUE(service_.Send(m));
  ack = service_.WaitForAck("i2");
  ASSERT_TRUE(ack.has_value());
  EXPECT_FALSE(ack->success());
  EXPECT_THAT(ack->reason(), HasSubstr("private key does not match the certificate"));
  EXPECT_EQ(ack->reload_exit_status(), -1);
}

TEST_F(AgentStreamTest, ReconnectsAfterStreamLossAndDropsChallenges) {
  Welcome(0);
  ASSERT_TRUE(service_.Send(PresentTlsAlpn("m1", "a.example.com", "tokA")));
  ASSERT_TRUE(service_.WaitForAck("m1").has_value());
  ASSERT_TRUE(AcmeTlsHandshake(agent_->tls_alpn_port(), "a.example.com").ok);

  const absl::Time dropped = absl::Now();
  service_.DropCurrent();
  std::optional<v1::AgentMessage> hello = service_.WaitForMessage(1, v1::AgentMessage::kHello);
  ASSERT_TRUE(hello.has_value());
  // The first retry waits at least half the initial backoff (jitter is [d/2, d]).
  EXPECT_GE(absl::Now() - dropped, kBackoff / 2);
  EXPECT_THAT(hello->hello().names(), ElementsAre("a.example.com", "b.example.com"));
  EXPECT_EQ(service_.authorization(1), "Bearer t0ken");
  // The challenge did not survive the reconnect.
  EXPECT_FALSE(AcmeTlsHandshake(agent_->tls_alpn_port(), "a.example.com").ok);

  // The new stream works: present again and it is served again.
  ASSERT_TRUE(service_.Send(::certfleet::agent::Welcome({"a.example.com"})));
  ASSERT_TRUE(service_.Send(PresentTlsAlpn("m2", "a.example.com", "tokB")));
  std::optional<v1::Ack> ack = service_.WaitForAck("m2");
  ASSERT_TRUE(ack.has_value());
  EXPECT_TRUE(ack->success());
  Handshake hs = AcmeTlsHandshake(agent_->tls_alpn_port(), "a.example.com");
  ASSERT_TRUE(hs.ok);
  EXPECT_EQ(AcmeIdentifierDigest(hs.cert.get()), Sha256("tokB.thumbprint_x"));
  // b.example.com was not accepted in the second Welcome.
  ASSERT_TRUE(service_.Send(PresentTlsAlpn("m3", "b.example.com", "tokC")));
  ack = service_.WaitForAck("m3");
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->reason(), "name \"b.example.com\" was not accepted by the server");
  EXPECT_EQ(StatusFile()["connects"], 2);
}

TEST_F(AgentStreamTest, SendsHeartbeatsAtTheWelcomeInterval) {
  ASSERT_TRUE(service_.WaitForMessage(0, v1::AgentMessage::kHello).has_value());
  ASSERT_TRUE(service_.Send(::certfleet::agent::Welcome({"a.example.com"}, 1)));
  std::optional<v1::AgentMessage> heartbeat =
      service_.WaitForMessage(0, v1::AgentMessage::kHeartbeat);
  ASSERT_TRUE(heartbeat.has_value());
  EXPECT_GT(heartbeat->heartbeat().send_time().seconds(), 0);
}

TEST(AgentStreamTlsTest, ConnectsOverTlsVerifiedWithServerCa) {
  TempDir tmp;
  testing::TestChain server_chain = testing::MakeTestChain({"localhost"});
  ASSERT_TRUE(WriteFileAtomically(tmp.Sub("ca.pem"), server_chain.intermediate_pem, 0644).ok());
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({server_chain.key_pem, server_chain.fullchain_pem});
  FakeAgentsService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  const std::vector<std::string> args = {
      "certfleet-agent", "--server=localhost:" + std::to_string(port),
      "--server-ca=" + tmp.Sub("ca.pem"), "--agent-id=tls-agent", "--name=a.example.com",
      "--tls-alpn-listen=127.0.0.1:0", "--cert-dir=" + tmp.Sub("live"),
      "--reconnect-backoff-initial=50ms", "--reconnect-backoff-max=100ms"};
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  absl::StatusOr<AgentConfig> config = ParseAgentConfig(static_cast<int>(argv.size()), argv.data());
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<std::unique_ptr<Agent>> agent = Agent::Create(*config);
  ASSERT_TRUE(agent.ok()) << agent.status();
  std::thread runner([&] { (*agent)->Run(); });
  std::optional<v1::AgentMessage> hello = service.WaitForMessage(0, v1::AgentMessage::kHello);
  (*agent)->Shutdown();
  runner.join();
  agent->reset();
  server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->hello().agent_id(), "tls-agent");
}

TEST(ReconnectDelayTest, GrowsExponentiallyWithJitterAndCap) {
  const absl::Duration initial = absl::Milliseconds(500);
  const absl::Duration max = absl::Seconds(30);
  EXPECT_EQ(ReconnectDelay(0, initial, max, 0.0), absl::Milliseconds(250));
  EXPECT_EQ(ReconnectDelay(0, initial, max, 1.0), absl::Milliseconds(500));
  EXPECT_EQ(ReconnectDelay(3, initial, max, 1.0), absl::Seconds(4));
  EXPECT_EQ(ReconnectDelay(20, initial, max, 1.0), absl::Seconds(30));
  EXPECT_EQ(ReconnectDelay(1000, initial, max, 0.0), absl::Seconds(15));
}

}  // namespace
}  // namespace certfleet::agent
