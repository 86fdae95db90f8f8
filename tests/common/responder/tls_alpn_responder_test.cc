#include "common/responder/tls_alpn_responder.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto/openssl_ptr.h"
#include "common/responder/listen_socket.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certfleet::responder {
namespace {

using crypto::UniquePtr;
using ::testing::HasSubstr;

constexpr char kKeyAuthorization[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.thumbprint-xyz";

// Connects a blocking TCP socket to `host`:`port` (IPv4 or IPv6 literal); -1 on failure.
int Connect(int port, const char* host = "127.0.0.1") {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  if (inet_pton(AF_INET, host, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_pton(AF_INET6, host, &a->sin6_addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*a);
    family = AF_INET6;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{20, 0};  // A bound on a broken server, never a synchronization point.
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads until the server closes the connection (it counts before closing).
void DrainUntilClosed(int fd) {
  char buf[512];
  while (recv(fd, buf, sizeof(buf), 0) > 0) {
  }
}

struct HandshakeResult {
  bool ok = false;
  std::string alpn;
  UniquePtr<X509> peer;
};

// A full client handshake the way a tls-alpn-01 validator does it (no verification).
HandshakeResult Handshake(int port, const std::string& sni, const std::vector<std::string>& alpn,
                          int max_version = 0, const char* host = "127.0.0.1") {
  HandshakeResult result;
  int fd = Connect(port, host);
  EXPECT_GE(fd, 0);
  if (fd < 0) return result;
  UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  if (max_version != 0) SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  if (!alpn.empty()) {
    std::string wire;
    for (const auto& p : alpn) wire += static_cast<char>(p.size()) + p;
    SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                            wire.size());
  }
  UniquePtr<SSL> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl.get(), sni.c_str());
  if (SSL_connect(ssl.get()) == 1) {
    result.ok = true;
    const unsigned char* proto = nullptr;
    unsigned int proto_len = 0;
    SSL_get0_alpn_selected(ssl.get(), &proto, &proto_len);
    result.alpn.assign(reinterpret_cast<const char*>(proto), proto_len);
    result.peer.reset(SSL_get1_peer_certificate(ssl.get()));
    char buf[64];
    while (SSL_read(ssl.get(), buf, sizeof(buf)) > 0) {
    }
  }
  ERR_clear_error();
  DrainUntilClosed(fd);
  ssl.reset();
  close(fd);
  return result;
}

std::string Sha256(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

// The DER contents of the critical acmeIdentifier extension, or "" when absent/not critical.
std::string AcmeIdentifierValue(X509* cert) {
  UniquePtr<ASN1_OBJECT> oid(OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
  int idx = X509_get_ext_by_OBJ(cert, oid.get(), -1);
  if (idx < 0) return "";
  X509_EXTENSION* ext = X509_get_ext(cert, idx);
  if (!X509_EXTENSION_get_critical(ext)) return "";
  ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(ext);
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     ASN1_STRING_length(data));
}

// The SANs as "DNS:name" / "IP:<raw bytes length>".
std::vector<std::string> SubjectAltNames(X509* cert) {
  std::vector<std::string> out;
  UniquePtr<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type == GEN_DNS) {
      out.push_back("DNS:" +
                    std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                                ASN1_STRING_length(gn->d.dNSName)));
    } else if (gn->type == GEN_IPADD) {
      out.push_back(
          "IP:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.iPAddress)),
                              ASN1_STRING_length(gn->d.iPAddress)));
    }
  }
  return out;
}

std::string ExpectedAcmeIdentifier() {
  return std::string("\x04\x20", 2) + Sha256(kKeyAuthorization);
}

class TlsAlpnResponderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = TlsAlpnResponder::Start("127.0.0.1:0");
    ASSERT_TRUE(r.ok()) << r.status();
    responder_ = std::move(*r);
    ASSERT_GT(responder_->port(), 0);
  }
  std::unique_ptr<TlsAlpnResponder> responder_;
};

TEST_F(TlsAlpnResponderTest, ServesChallengeCertificateForAcmeTls1AndRightSni) {
  ASSERT_TRUE(responder_->AddChallenge("www.Example.com", false, kKeyAuthorization).ok());
  HandshakeResult r = Handshake(responder_->port(), "www.example.com", {"acme-tls/1"});
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.alpn, "acme-tls/1");
  ASSERT_NE(r.peer, nullptr);
  EXPECT_EQ(AcmeIdentifierValue(r.peer.get()), ExpectedAcmeIdentifier());
  EXPECT_THAT(SubjectAltNames(r.peer.get()), ::testing::ElementsAre("DNS:www.example.com"));
  EXPECT_EQ(responder_->ServedCount("www.example.com", false), 1u);
  EXPECT_EQ(responder_->RefusedCount(), 0u);
}

TEST_F(TlsAlpnResponderTest, ServesOverTls12AndMatchesSniCaseInsensitively) {
  ASSERT_TRUE(responder_->AddChallenge("example.org", false, kKeyAuthorization).ok());
  HandshakeResult r = Handshake(responder_->port(), "EXAMPLE.org", {"acme-tls/1"}, TLS1_2_VERSION);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.alpn, "acme-tls/1");
  EXPECT_EQ(AcmeIdentifierValue(r.peer.get()), ExpectedAcmeIdentifier());
  EXPECT_EQ(responder_->ServedCount("example.org", false), 1u);
}

TEST_F(TlsAlpnResponderTest, RefusesWrongSniMissingSniAndOtherAlpn) {
  ASSERT_TRUE(responder_->AddChallenge("example.com", false, kKeyAuthorization).ok());
  EXPECT_FALSE(Handshake(responder_->port(), "other.example.com", {"acme-tls/1"}).ok);
  EXPECT_FALSE(Handshake(responder_->port(), "", {"acme-tls/1"}).ok);
  EXPECT_FALSE(Handshake(responder_->port(), "example.com", {}).ok);
  EXPECT_FALSE(Handshake(responder_->port(), "example.com", {"h2"}).ok);
  EXPECT_FALSE(Handshake(responder_->port(), "example.com", {"http/1.1", "h2"}).ok);
  EXPECT_EQ(responder_->RefusedCount(), 5u);
  EXPECT_EQ(responder_->ServedCount("example.com", false), 0u);
}

TEST_F(TlsAlpnResponderTest, RemovedChallengeIsRefused) {
  ASSERT_TRUE(responder_->AddChallenge("example.com", false, kKeyAuthorization).ok());
  EXPECT_TRUE(Handshake(responder_->port(), "example.com", {"acme-tls/1"}).ok);
  responder_->RemoveChallenge("example.com", false);
  responder_->RemoveChallenge("absent.example.com", false);  // No-op.
  EXPECT_FALSE(Handshake(responder_->port(), "example.com", {"acme-tls/1"}).ok);
  EXPECT_EQ(responder_->ServedCount("example.com", false), 1u);
  EXPECT_EQ(responder_->RefusedCount(), 1u);
}

TEST_F(TlsAlpnResponderTest, ReplacingAChallengeServesTheNewDigest) {
  ASSERT_TRUE(responder_->AddChallenge("example.com", false, "old.key-authorization").ok());
  ASSERT_TRUE(responder_->AddChallenge("example.com", false, kKeyAuthorization).ok());
  HandshakeResult r = Handshake(responder_->port(), "example.com", {"acme-tls/1"});
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(AcmeIdentifierValue(r.peer.get()), ExpectedAcmeIdentifier());
}

TEST_F(TlsAlpnResponderTest, IpIdentifiersUseTheReverseNameAsSni) {
  ASSERT_TRUE(responder_->AddChallenge("127.0.0.1", true, kKeyAuthorization).ok());
  ASSERT_TRUE(responder_->AddChallenge("::1", true, kKeyAuthorization).ok());
  EXPECT_FALSE(Handshake(responder_->port(), "127.0.0.1", {"acme-tls/1"}).ok);

  HandshakeResult v4 = Handshake(responder_->port(), "1.0.0.127.in-addr.arpa", {"acme-tls/1"});
  ASSERT_TRUE(v4.ok);
  EXPECT_EQ(AcmeIdentifierValue(v4.peer.get()), ExpectedAcmeIdentifier());
  EXPECT_THAT(SubjectAltNames(v4.peer.get()),
              ::testing::ElementsAre(std::string("IP:\x7f\x00\x00\x01", 7)));
  EXPECT_EQ(responder_->ServedCount("127.0.0.1", true), 1u);

  std::string v6_sni;
  for (int i = 0; i < 31; ++i) v6_sni += "0.";
  v6_sni = "1." + v6_sni + "ip6.arpa";
  HandshakeResult v6 = Handshake(responder_->port(), v6_sni, {"acme-tls/1"});
  ASSERT_TRUE(v6.ok);
  std::string v6_bytes(16, '\0');
  v6_bytes[15] = 1;
  EXPECT_THAT(SubjectAltNames(v6.peer.get()), ::testing::ElementsAre("IP:" + v6_bytes));
  EXPECT_EQ(responder_->ServedCount("::1", true), 1u);
}

TEST_F(TlsAlpnResponderTest, RejectsBadIdentifiers) {
  absl::Status s = responder_->AddChallenge("not a name", false, kKeyAuthorization);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = responder_->AddChallenge("example.com", true, kKeyAuthorization);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("is a DNS name"));
  s = responder_->AddChallenge("10.0.0.1", false, kKeyAuthorization);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("is an IP address"));
  s = responder_->AddChallenge("*.example.com", false, kKeyAuthorization);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("wildcard"));
  s = responder_->AddChallenge("example.com", false, "");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("empty key authorization"));
}

TEST_F(TlsAlpnResponderTest, SilentAndGarbageClientsDoNotWedgeTheListener) {
  ASSERT_TRUE(responder_->AddChallenge("example.com", false, kKeyAuthorization).ok());
  int silent = Connect(responder_->port());
  ASSERT_GE(silent, 0);
  int half = Connect(responder_->port());
  ASSERT_GE(half, 0);
  const char partial[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};  // A truncated ClientHello.
  ASSERT_EQ(send(half, partial, sizeof(partial), MSG_NOSIGNAL), 6);

  EXPECT_TRUE(Handshake(responder_->port(), "example.com", {"acme-tls/1"}).ok);

  int garbage = Connect(responder_->port());
  ASSERT_GE(garbage, 0);
  const char junk[] = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
  ASSERT_GT(send(garbage, junk, sizeof(junk) - 1, MSG_NOSIGNAL), 0);
  DrainUntilClosed(garbage);
  close(garbage);
  EXPECT_EQ(responder_->RefusedCount(), 1u);

  EXPECT_TRUE(Handshake(responder_->port(), "example.com", {"acme-tls/1"}).ok);
  EXPECT_EQ(responder_->ServedCount("example.com", false), 2u);
  close(silent);
  close(half);
}

TEST_F(TlsAlpnResponderTest, ConcurrentAddRemoveWhileHandshaking) {
  constexpr int kHandshakes = 40;
  std::atomic<bool> done{false};
  std::thread churn([&] {
    for (int i = 0; i < 2000 && !done.load(); ++i) {
      if (i % 2 == 0) {
        ASSERT_TRUE(responder_->AddChallenge("racy.example.com", false, kKeyAuthorization).ok());
      } else {
        responder_->RemoveChallenge("racy.example.com", false);
      }
    }
  });
  int ok = 0;
  std::vector<std::thread> clients;
  std::atomic<int> parallel_ok{0};
  for (int t = 0; t < 2; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < kHandshakes / 2; ++i) {
        HandshakeResult r = Handshake(responder_->port(), "racy.example.com", {"acme-tls/1"});
        if (r.ok) {
          parallel_ok.fetch_add(1);
          EXPECT_EQ(AcmeIdentifierValue(r.peer.get()), ExpectedAcmeIdentifier());
        }
      }
    });
  }
  for (auto& c : clients) c.join();
  done.store(true);
  churn.join();
  ok = parallel_ok.load();
  EXPECT_EQ(responder_->ServedCount("racy.example.com", false) + responder_->RefusedCount(),
            static_cast<uint64_t>(kHandshakes));
  EXPECT_EQ(responder_->ServedCount("racy.example.com", false), static_cast<uint64_t>(ok));

  ASSERT_TRUE(responder_->AddChallenge("racy.example.com", false, kKeyAuthorization).ok());
  EXPECT_TRUE(Handshake(responder_->port(), "racy.example.com", {"acme-tls/1"}).ok);
}

TEST_F(TlsAlpnResponderTest, StopIsIdempotentAndClosesTheListener) {
  int port = responder_->port();
  responder_->Stop();
  responder_->Stop();
  int fd = Connect(port);
  EXPECT_LT(fd, 0);
  if (fd >= 0) close(fd);
}

TEST(TlsAlpnResponderStartTest, ListensOnIpv6AndAllAddresses) {
  auto v6 = TlsAlpnResponder::Start("[::1]:0");
  ASSERT_TRUE(v6.ok()) << v6.status();
  ASSERT_TRUE((*v6)->AddChallenge("example.com", false, kKeyAuthorization).ok());
  EXPECT_TRUE(Handshake((*v6)->port(), "example.com", {"acme-tls/1"}, 0, "::1").ok);

  auto any = TlsAlpnResponder::Start(":0");
  ASSERT_TRUE(any.ok()) << any.status();
  ASSERT_TRUE((*any)->AddChallenge("example.com", false, kKeyAuthorization).ok());
  EXPECT_TRUE(Handshake((*any)->port(), "example.com", {"acme-tls/1"}, 0, "127.0.0.1").ok);
  EXPECT_TRUE(Handshake((*any)->port(), "example.com", {"acme-tls/1"}, 0, "::1").ok);
}

TEST(TlsAlpnResponderStartTest, ReportsBadAndBusyAddresses) {
  for (const char* bad :
       {"127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", "::1:0", "[::1]", "[::1]0", "[]:0"}) {
    auto r = TlsAlpnResponder::Start(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr(bad));
  }
  auto first = TlsAlpnResponder::Start("127.0.0.1:0");
  ASSERT_TRUE(first.ok());
  std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = TlsAlpnResponder::Start(taken);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(taken));
  EXPECT_THAT(second.status().message(), HasSubstr("Address already in use"));
}

TEST(ListenAddressTest, Parses) {
  auto a = internal::ParseListenAddress("127.0.0.1:443");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 443);
  auto b = internal::ParseListenAddress("[2001:db8::1]:8443");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "2001:db8::1");
  EXPECT_EQ(b->port, 8443);
  auto c = internal::ParseListenAddress(":0");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "");
  EXPECT_EQ(c->port, 0);
  auto d = internal::ParseListenAddress("localhost:5001");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->host, "localhost");
}

}  // namespace
}  // namespace certfleet::responder
