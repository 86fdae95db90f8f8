// Passthrough mode of the tls-alpn-01 responder: validations are answered, everything else
// is forwarded byte for byte to a backend (here an OpenSSL TLS echo server or a plain TCP
// server on 127.0.0.1:0).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto/openssl_ptr.h"
#include "common/responder/client_hello_parser.h"
#include "common/responder/proxy_protocol.h"
#include "common/responder/tls_alpn_responder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certfleet::responder {
namespace {

using crypto::UniquePtr;
using ::testing::HasSubstr;

constexpr char kKeyAuthorization[] = "token-abc.thumbprint-xyz";

// A bound on a broken peer, never a synchronization point.
void SetTimeouts(int fd) {
  timeval tv{20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int ConnectTo(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  SetTimeouts(fd);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads until EOF (or error); returns what arrived.
std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

bool ReadExactly(int fd, char* out, size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, out, n, 0);
    if (r <= 0) return false;
    out += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// A self-signed P-256 certificate and key for the backend.
struct KeyAndCert {
  UniquePtr<EVP_PKEY> key;
  UniquePtr<X509> cert;
};

KeyAndCert MakeSelfSigned(const char* cn) {
  KeyAndCert kc;
  kc.key.reset(EVP_EC_gen("P-256"));
  kc.cert.reset(X509_new());
  X509_set_version(kc.cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(kc.cert.get()), 4242);
  X509_gmtime_adj(X509_getm_notBefore(kc.cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(kc.cert.get()), 3600);
  X509_NAME* name = X509_get_subject_name(kc.cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(kc.cert.get(), name);
  X509_set_pubkey(kc.cert.get(), kc.key.get());
  X509_sign(kc.cert.get(), kc.key.get(), EVP_sha256());
  return kc;
}

// What the backend saw on one connection.
struct BackendConnection {
  std::string proxy_header;  // Whole PROXY v2 header when expected.
  std::string sni;
  std::string alpn;
  size_t echoed = 0;
};

// A backend on 127.0.0.1:0 running `handler` for each accepted connection on its own thread.
class Backend {
 public:
  explicit Backend(std::function<void(int fd)> handler) : handler_(std::move(handler)) {
    // Test peers write to sockets the other side may have closed (e.g. TLS 1.3 tickets).
    signal(SIGPIPE, SIG_IGN);
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(listen_fd_, 16), 0);
    socklen_t len = sizeof(a);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] {
      while (true) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) return;  // shutdown() by the destructor.
        SetTimeouts(fd);
        std::lock_guard<std::mutex> lock(mu_);
        workers_.emplace_back([this, fd] {
          handler_(fd);
          close(fd);
        });
      }
    });
  }
  ~Backend() {
    shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    close(listen_fd_);
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& t : workers_) t.join();
  }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::function<void(int)> handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
};

// An OpenSSL TLS echo server backend, optionally expecting a PROXY v2 header first.
class TlsEchoBackend {
 public:
  explicit TlsEchoBackend(bool expect_proxy_header = false)
      : kc_(MakeSelfSigned("backend.test")), expect_proxy_(expect_proxy_header) {
    ctx_.reset(SSL_CTX_new(TLS_server_method()));
    SSL_CTX_use_certificate(ctx_.get(), kc_.cert.get());
    SSL_CTX_use_PrivateKey(ctx_.get(), kc_.key.get());
    SSL_CTX_set_alpn_select_cb(
        ctx_.get(),
        [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
           unsigned int inlen, void*) {
          // Picks the first offered protocol unless it is acme-tls/1 (a web server would not
          // speak it): then no ALPN.
          if (inlen < 1 || in[0] + 1u > inlen) return SSL_TLSEXT_ERR_NOACK;
          if (std::string(reinterpret_cast<const char*>(in + 1), in[0]) == "acme-tls/1") {
            return SSL_TLSEXT_ERR_NOACK;
          }
          *out = in + 1;
          *outlen = in[0];
          return SSL_TLSEXT_ERR_OK;
        },
        nullptr);
    backend_ = std::make_unique<Backend>([this](int fd) { Serve(fd); });
  }
  ~TlsEchoBackend() { backend_.reset(); }

  X509* cert() const { return kc_.cert.get(); }
  std::string address() const { return backend_->address(); }
  std::vector<BackendConnection> connections() {
    std::lock_guard<std::mutex> lock(mu_);
    return connections_;
  }

 private:
  void Serve(int fd) {
    BackendConnection seen;
    if (expect_proxy_) {
      char head[16];
      if (!ReadExactly(fd, head, sizeof(head))) return;
      size_t len = (static_cast<uint8_t>(head[14]) << 8) | static_cast<uint8_t>(head[15]);
      std::string rest(len, '\0');
      if (!ReadExactly(fd, rest.data(), len)) return;
      seen.proxy_header = std::string(head, sizeof(head)) + rest;
    }
    UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
    SSL_set_fd(ssl.get(), fd);
    if (SSL_accept(ssl.get()) == 1) {
      const char* sni = SSL_get_servername(ssl.get(), TLSEXT_NAMETYPE_host_name);
      if (sni != nullptr) seen.sni = sni;
      const unsigned char* proto = nullptr;
      unsigned int proto_len = 0;
      SSL_get0_alpn_selected(ssl.get(), &proto, &proto_len);
      seen.alpn.assign(reinterpret_cast<const char*>(proto), proto_len);
      char buf[16384];
      int n;
      while ((n = SSL_read(ssl.get(), buf, sizeof(buf))) > 0) {
        if (SSL_write(ssl.get(), buf, n) != n) break;
        seen.echoed += static_cast<size_t>(n);
      }
      SSL_shutdown(ssl.get());
    }
    ERR_clear_error();
    std::lock_guard<std::mutex> lock(mu_);
    connections_.push_back(std::move(seen));
  }

  KeyAndCert kc_;
  bool expect_proxy_;
  UniquePtr<SSL_CTX> ctx_;
  std::mutex mu_;
  std::vector<BackendConnection> connections_;
  std::unique_ptr<Backend> backend_;  // Last: its threads use the members above.
};

// A TLS client connection through the front.
struct Client {
  int fd = -1;
  UniquePtr<SSL_CTX> ctx;
  UniquePtr<SSL> ssl;
  ~Client() {
    ssl.reset();
    if (fd >= 0) close(fd);
  }
  std::string alpn() const {
    const unsigned char* proto = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl.get(), &proto, &len);
    return std::string(reinterpret_cast<const char*>(proto), len);
  }
  UniquePtr<X509> peer() const { return UniquePtr<X509>(SSL_get1_peer_certificate(ssl.get())); }
};

std::string AlpnWire(const std::vector<std::string>& alpn) {
  std::string wire;
  for (const auto& p : alpn) wire += static_cast<char>(p.size()) + p;
  return wire;
}

// Connects and handshakes; `byte_by_byte` sends the ClientHello one byte per TCP segment.
std::unique_ptr<Client> Connect(int port, const std::string& sni,
                                const std::vector<std::string>& alpn, bool byte_by_byte = false) {
  auto c = std::make_unique<Client>();
  c->fd = ConnectTo(port);
  EXPECT_GE(c->fd, 0);
  if (c->fd < 0) return nullptr;
  c->ctx.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(c->ctx.get(), SSL_VERIFY_NONE, nullptr);
  c->ssl.reset(SSL_new(c->ctx.get()));
  if (!sni.empty()) SSL_set_tlsext_host_name(c->ssl.get(), sni.c_str());
  if (!alpn.empty()) {
    std::string wire = AlpnWire(alpn);
    SSL_set_alpn_protos(c->ssl.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                        wire.size());
  }
  if (byte_by_byte) {
    // Produce the ClientHello into memory, trickle it out, then continue on the socket.
    BIO* mem = BIO_new(BIO_s_mem());
    SSL_set_bio(c->ssl.get(), BIO_new(BIO_s_mem()), mem);
    EXPECT_EQ(SSL_connect(c->ssl.get()), -1);
    char* data = nullptr;
    long len = BIO_get_mem_data(mem, &data);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (long i = 0; i < len; ++i) EXPECT_EQ(send(c->fd, data + i, 1, MSG_NOSIGNAL), 1);
    SSL_set0_rbio(c->ssl.get(), BIO_new_socket(c->fd, BIO_NOCLOSE));
    SSL_set0_wbio(c->ssl.get(), BIO_new_socket(c->fd, BIO_NOCLOSE));
  } else {
    SSL_set_fd(c->ssl.get(), c->fd);
  }
  if (SSL_connect(c->ssl.get()) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  return c;
}

bool SameCert(X509* a, X509* b) { return a != nullptr && b != nullptr && X509_cmp(a, b) == 0; }

class PassthroughTest : public ::testing::Test {
 protected:
  void StartFront(const std::string& backend, bool proxy = false) {
    TlsAlpnResponderOptions options;
    options.passthrough_backend = backend;
    options.proxy_protocol_v2 = proxy;
    options.handshake_timeout_ms = 300;
    auto r = TlsAlpnResponder::Start("127.0.0.1:0", options);
    ASSERT_TRUE(r.ok()) << r.status();
    front_ = std::move(*r);
  }
  std::unique_ptr<TlsAlpnResponder> front_;
};

TEST_F(PassthroughTest, NormalTlsClientsReachTheBackendAndExchangeMegabytes) {
  TlsEchoBackend backend;
  StartFront(backend.address());
  ASSERT_TRUE(front_->AddChallenge("www.example.com", false, kKeyAuthorization).ok());

  auto c = Connect(front_->port(), "www.example.com", {"h2", "http/1.1"});
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(SameCert(c->peer().get(), backend.cert()));
  EXPECT_EQ(c->alpn(), "h2");
  EXPECT_EQ(front_->PassthroughCount(), 1u);

  // 4 MiB each way through one non-blocking SSL (an SSL object must not be shared between
  // threads): write whenever possible, read whatever is echoed, poll when neither moves.
  std::string payload(4 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>((i * 131) >> 3);
  SSL_set_mode(c->ssl.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
  std::string echoed;
  echoed.reserve(payload.size());
  size_t sent = 0;
  char buf[16384];
  while (echoed.size() < payload.size()) {
    bool moved = false;
    short want = POLLIN;
    if (sent < payload.size()) {
      int n = SSL_write(c->ssl.get(), payload.data() + sent,
                        static_cast<int>(std::min<size_t>(16384, payload.size() - sent)));
      if (n > 0) {
        sent += static_cast<size_t>(n);
        moved = true;
      } else {
        int err = SSL_get_error(c->ssl.get(), n);
        ASSERT_TRUE(err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) << err;
        if (err == SSL_ERROR_WANT_WRITE) want |= POLLOUT;
      }
    }
    int n = SSL_read(c->ssl.get(), buf, sizeof(buf));
    if (n > 0) {
      echoed.append(buf, static_cast<size_t>(n));
      moved = true;
    } else {
      int err = SSL_get_error(c->ssl.get(), n);
      ASSERT_TRUE(err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) << err;
    }
    if (!moved) {
      pollfd p{c->fd, want, 0};
      ASSERT_EQ(poll(&p, 1, 20000), 1) << "stalled at " << sent << "/" << echoed.size();
    }
  }
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
  ASSERT_EQ(echoed.size(), payload.size());
  EXPECT_TRUE(echoed == payload);
  SSL_shutdown(c->ssl.get());
  c.reset();

  // No ALPN and no SNI at all: forwarded too.
  auto plain = Connect(front_->port(), "", {});
  ASSERT_NE(plain, nullptr);
  EXPECT_TRUE(SameCert(plain->peer().get(), backend.cert()));
  EXPECT_EQ(front_->PassthroughCount(), 2u);
  EXPECT_EQ(front_->ServedCount("www.example.com", false), 0u);
  EXPECT_EQ(front_->RefusedCount(), 0u);
}

TEST_F(PassthroughTest, AcmeTls1WithALoadedSniGetsTheChallengeCertificate) {
  TlsEchoBackend backend;
  StartFront(backend.address());
  ASSERT_TRUE(front_->AddChallenge("www.example.com", false, kKeyAuthorization).ok());
  for (bool trickle : {false, true}) {
    auto c = Connect(front_->port(), "WWW.example.com", {"acme-tls/1"}, trickle);
    ASSERT_NE(c, nullptr) << trickle;
    EXPECT_EQ(c->alpn(), "acme-tls/1");
    UniquePtr<X509> peer = c->peer();
    ASSERT_NE(peer, nullptr);
    EXPECT_FALSE(SameCert(peer.get(), backend.cert()));
    UniquePtr<ASN1_OBJECT> oid(OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
    EXPECT_GE(X509_get_ext_by_OBJ(peer.get(), oid.get(), -1), 0);
    // The front counts before it closes.
    char buf[64];
    while (SSL_read(c->ssl.get(), buf, sizeof(buf)) > 0) {
    }
    ERR_clear_error();
    ReadAll(c->fd);
  }
  EXPECT_EQ(front_->ServedCount("www.example.com", false), 2u);
  EXPECT_EQ(front_->PassthroughCount(), 0u);
  EXPECT_TRUE(backend.connections().empty());
}

TEST_F(PassthroughTest, AcmeTls1ForAnUnknownSniIsForwarded) {
  // Decision: forwarded, not refused, so that a backend with its own tls-alpn-01 support
  // (mod_md) still works; a plain web server answers without acme-tls/1 and the validator
  // fails as it would without certfleet.
  TlsEchoBackend backend;
  StartFront(backend.address());
  ASSERT_TRUE(front_->AddChallenge("www.example.com", false, kKeyAuthorization).ok());
  auto c = Connect(front_->port(), "other.example.com", {"acme-tls/1"});
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(SameCert(c->peer().get(), backend.cert()));
  EXPECT_EQ(c->alpn(), "");
  EXPECT_EQ(front_->PassthroughCount(), 1u);
  SSL_shutdown(c->ssl.get());
  c.reset();
  // After a challenge is removed, its name is forwarded as well.
  front_->RemoveChallenge("www.example.com", false);
  c = Connect(front_->port(), "www.example.com", {"acme-tls/1"});
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(SameCert(c->peer().get(), backend.cert()));
  EXPECT_EQ(front_->PassthroughCount(), 2u);
}

TEST_F(PassthroughTest, ProxyProtocolV2HeaderCarriesTheClientAddress) {
  TlsEchoBackend backend(/*expect_proxy_header=*/true);
  StartFront(backend.address(), /*proxy=*/true);
  auto c = Connect(front_->port(), "www.example.com", {"http/1.1"});
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(SameCert(c->peer().get(), backend.cert()));
  ASSERT_EQ(SSL_write(c->ssl.get(), "ping", 4), 4);
  char buf[4];
  ASSERT_EQ(SSL_read(c->ssl.get(), buf, 4), 4);
  sockaddr_in local{};
  socklen_t len = sizeof(local);
  getsockname(c->fd, reinterpret_cast<sockaddr*>(&local), &len);
  SSL_shutdown(c->ssl.get());
  ReadAll(c->fd);  // The backend records the connection before closing it.
  c.reset();

  auto seen = backend.connections();
  ASSERT_EQ(seen.size(), 1u);
  const std::string& h = seen[0].proxy_header;
  ASSERT_EQ(h.size(), 28u);
  EXPECT_EQ(h.substr(0, 12), std::string(kProxyV2Signature, kProxyV2SignatureSize));
  EXPECT_EQ(static_cast<uint8_t>(h[12]), 0x21);  // v2, PROXY
  EXPECT_EQ(static_cast<uint8_t>(h[13]), 0x11);  // TCP over IPv4
  EXPECT_EQ(h.substr(14, 2), std::string("\x00\x0c", 2));
  EXPECT_EQ(h.substr(16, 4), std::string("\x7f\x00\x00\x01", 4));  // source 127.0.0.1
  EXPECT_EQ(h.substr(20, 4), std::string("\x7f\x00\x00\x01", 4));  // destination
  uint16_t src_port = (static_cast<uint8_t>(h[24]) << 8) | static_cast<uint8_t>(h[25]);
  uint16_t dst_port = (static_cast<uint8_t>(h[26]) << 8) | static_cast<uint8_t>(h[27]);
  EXPECT_EQ(src_port, ntohs(local.sin_port));
  EXPECT_EQ(dst_port, front_->port());
  EXPECT_EQ(seen[0].sni, "www.example.com");
  EXPECT_EQ(seen[0].alpn, "http/1.1");
  EXPECT_EQ(seen[0].echoed, 4u);
}

TEST(ProxyProtocolTest, Ipv6AndMappedAndMixedFamilies) {
  sockaddr_storage a{}, b{};
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&a);
  auto* b6 = reinterpret_cast<sockaddr_in6*>(&b);
  a6->sin6_family = b6->sin6_family = AF_INET6;
  inet_pton(AF_INET6, "2001:db8::1", &a6->sin6_addr);
  inet_pton(AF_INET6, "::1", &b6->sin6_addr);
  a6->sin6_port = htons(40000);
  b6->sin6_port = htons(443);
  std::string h = ProxyV2Header(a, b);
  ASSERT_EQ(h.size(), 16u + 36u);
  EXPECT_EQ(static_cast<uint8_t>(h[13]), 0x21);  // TCP over IPv6
  EXPECT_EQ(h.substr(14, 2), std::string("\x00\x24", 2));
  EXPECT_EQ(h.substr(48, 4), std::string("\x9c\x40\x01\xbb", 4));
  // IPv4-mapped (a dual-stack listener) goes out as TCP4.
  inet_pton(AF_INET6, "::ffff:192.0.2.7", &a6->sin6_addr);
  inet_pton(AF_INET6, "::ffff:192.0.2.1", &b6->sin6_addr);
  h = ProxyV2Header(a, b);
  ASSERT_EQ(h.size(), 28u);
  EXPECT_EQ(static_cast<uint8_t>(h[13]), 0x11);
  EXPECT_EQ(h.substr(16, 4), std::string("\xc0\x00\x02\x07", 4));
  // Mixed families: LOCAL.
  sockaddr_storage c{};
  reinterpret_cast<sockaddr_in*>(&c)->sin_family = AF_INET;
  inet_pton(AF_INET6, "2001:db8::1", &a6->sin6_addr);
  h = ProxyV2Header(a, c);
  ASSERT_EQ(h.size(), 16u);
  EXPECT_EQ(static_cast<uint8_t>(h[12]), 0x20);
}

TEST_F(PassthroughTest, NonTlsBytesAndHalfCloseAreForwarded) {
  // A plain TCP backend: reads to EOF, answers with what it got, then closes.
  Backend backend([](int fd) {
    std::string got = ReadAll(fd);
    std::string reply = "got " + std::to_string(got.size()) + ": " + got;
    send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
  });
  StartFront(backend.address());
  int fd = ConnectTo(front_->port());
  ASSERT_GE(fd, 0);
  const std::string request = "GET / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  // The backend only answers after our FIN reached it through the front.
  ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
  EXPECT_EQ(ReadAll(fd), "got 18: " + request);
  close(fd);
  EXPECT_EQ(front_->PassthroughCount(), 1u);
}

TEST_F(PassthroughTest, ClientFinDuringThePeekIsPropagated) {
  // A partial ClientHello followed by FIN: forwarded as is, FIN included.
  Backend backend([](int fd) {
    std::string got = ReadAll(fd);
    std::string reply = std::to_string(got.size());
    send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
  });
  StartFront(backend.address());
  int fd = ConnectTo(front_->port());
  ASSERT_GE(fd, 0);
  ASSERT_EQ(send(fd, "\x16\x03\x01\x00\x40\x01", 6, MSG_NOSIGNAL), 6);
  ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
  EXPECT_EQ(ReadAll(fd), "6");
  close(fd);
}

TEST_F(PassthroughTest, UnreachableBackendClosesTheClient) {
  // A port that was free a moment ago: connection refused.
  int probe = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  getsockname(probe, reinterpret_cast<sockaddr*>(&a), &len);
  close(probe);
  StartFront("127.0.0.1:" + std::to_string(ntohs(a.sin_port)));
  EXPECT_EQ(Connect(front_->port(), "www.example.com", {"h2"}), nullptr);
  EXPECT_EQ(front_->PassthroughFailedCount(), 1u);
  EXPECT_EQ(front_->RefusedCount(), 1u);
  EXPECT_EQ(front_->PassthroughCount(), 0u);
}

TEST_F(PassthroughTest, SilentClientIsClosedAfterTheTimeout) {
  TlsEchoBackend backend;
  StartFront(backend.address());
  int fd = ConnectTo(front_->port());
  ASSERT_GE(fd, 0);
  char c;
  EXPECT_EQ(recv(fd, &c, 1, 0), 0);  // The front closes it (300 ms), well within 20 s.
  close(fd);
  EXPECT_EQ(front_->RefusedCount(), 1u);
  EXPECT_EQ(front_->PassthroughCount(), 0u);
  // The listener still works.
  EXPECT_NE(Connect(front_->port(), "a.test", {"h2"}), nullptr);
}

TEST(PassthroughStartTest, RejectsBadOptions) {
  TlsAlpnResponderOptions options;
  options.proxy_protocol_v2 = true;
  auto r = TlsAlpnResponder::Start("127.0.0.1:0", options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("proxy_protocol_v2 needs a passthrough_backend"));
  options.proxy_protocol_v2 = false;
  options.passthrough_backend = "no-port";
  r = TlsAlpnResponder::Start("127.0.0.1:0", options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("\"no-port\": want host:port"));
  options.passthrough_backend = "127.0.0.1:0";
  r = TlsAlpnResponder::Start("127.0.0.1:0", options);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("needs a host and a non-zero port"));
}

}  // namespace
}  // namespace certfleet::responder
