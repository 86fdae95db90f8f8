#include "common/responder/tls_alpn_responder.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/crypto/key_authorization.h"
#include "common/crypto/openssl_ptr.h"
#include "common/crypto/tls_alpn_certificate.h"
#include "common/identifiers/identifier.h"
#include "common/log.h"
#include "common/responder/listen_socket.h"
#include "common/status_macros.h"

namespace certfleet::responder {
namespace {

using crypto::UniquePtr;
using internal::ScopedFd;
using Clock = std::chrono::steady_clock;

constexpr char kAcmeTlsAlpn[] = "acme-tls/1";
// A connection that has not finished its handshake by then is dropped.
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
// Connections handled at once; more wait in the listen backlog.
constexpr size_t kMaxConnections = 256;

// One loaded challenge: the certificate and key served for its SNI.
struct Challenge {
  std::string identifier;
  crypto::ChallengeCertificate certificate;
};

// Does the ALPN extension body (RFC 7301 ProtocolNameList) offer `proto`?
bool AlpnOffers(const unsigned char* data, size_t len, std::string_view proto) {
  if (len < 2) return false;
  size_t list_len = (static_cast<size_t>(data[0]) << 8) | data[1];
  if (list_len + 2 != len) return false;
  size_t i = 2;
  while (i < len) {
    size_t n = data[i];
    if (n == 0 || i + 1 + n > len) return false;
    if (std::string_view(reinterpret_cast<const char*>(data + i + 1), n) == proto) return true;
    i += 1 + n;
  }
  return false;
}

// Extracts the host_name from a server_name extension body (RFC 6066 section 3).
bool ParseSni(const unsigned char* data, size_t len, std::string* name) {
  if (len < 2) return false;
  size_t list_len = (static_cast<size_t>(data[0]) << 8) | data[1];
  if (list_len + 2 != len) return false;
  size_t i = 2;
  while (i + 3 <= len) {
    unsigned char type = data[i];
    size_t n = (static_cast<size_t>(data[i + 1]) << 8) | data[i + 2];
    if (i + 3 + n > len) return false;
    if (type == 0) {
      if (n == 0) return false;
      name->assign(reinterpret_cast<const char*>(data + i + 3), n);
      return true;
    }
    i += 3 + n;
  }
  return false;
}

// Normalises an identifier and returns the SNI a validator sends for it.
absl::StatusOr<identifiers::Identifier> ChallengeIdentifier(std::string_view identifier,
                                                            bool is_ip) {
  ASSIGN_OR_RETURN(identifiers::Identifier id, identifiers::NormalizeIdentifier(identifier));
  bool got_ip = id.type == identifiers::IdentifierType::kIp;
  if (got_ip != is_ip) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls-alpn-01 identifier \"", std::string(identifier), "\" is ",
                     got_ip ? "an IP address" : "a DNS name", " but was given as ",
                     is_ip ? "an IP address" : "a DNS name"));
  }
  if (id.IsWildcard()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls-alpn-01 cannot validate wildcard identifier \"", std::string(identifier), "\""));
  }
  return id;
}

class TlsAlpnResponderImpl : public TlsAlpnResponder {
 public:
  TlsAlpnResponderImpl(ScopedFd listen_fd, ScopedFd wake_fd, int port, UniquePtr<SSL_CTX> ctx)
      : listen_fd_(std::move(listen_fd)),
        wake_fd_(std::move(wake_fd)),
        port_(port),
        ctx_(std::move(ctx)) {
    SSL_CTX_set_client_hello_cb(ctx_.get(), &TlsAlpnResponderImpl::ClientHelloCallback, this);
    SSL_CTX_set_alpn_select_cb(ctx_.get(), &TlsAlpnResponderImpl::AlpnSelectCallback, this);
    thread_ = std::thread([this] { Run(); });
  }

  ~TlsAlpnResponderImpl() override { Stop(); }

  int port() const override { return port_; }

  absl::Status AddChallenge(std::string_view identifier, bool is_ip,
                            std::string_view key_authorization) override {
    ASSIGN_OR_RETURN(identifiers::Identifier id, ChallengeIdentifier(identifier, is_ip));
    if (key_authorization.empty()) {
      return absl::InvalidArgumentError("tls-alpn-01: empty key authorization");
    }
    ASSIGN_OR_RETURN(crypto::ChallengeCertificate cc,
                     crypto::CreateTlsAlpnCertificate(
                         id.value, is_ip, crypto::KeyAuthorizationDigest(key_authorization)));
    auto challenge = std::make_shared<const Challenge>(Challenge{id.value, std::move(cc)});
    std::string sni = absl::AsciiStrToLower(identifiers::ValidationServerName(id));
    absl::MutexLock lock(&mu_);
    challenges_[sni] = std::move(challenge);
    return absl::OkStatus();
  }

  void RemoveChallenge(std::string_view identifier, bool is_ip) override {
    auto id = ChallengeIdentifier(identifier, is_ip);
    if (!id.ok()) return;
    std::string sni = absl::AsciiStrToLower(identifiers::ValidationServerName(*id));
    absl::MutexLock lock(&mu_);
    challenges_.erase(sni);
  }

  uint64_t ServedCount(std::string_view identifier, bool is_ip) const override {
    auto id = ChallengeIdentifier(identifier, is_ip);
    if (!id.ok()) return 0;
    std::string sni = absl::AsciiStrToLower(identifiers::ValidationServerName(*id));
    absl::MutexLock lock(&mu_);
    auto it = served_.find(sni);
    return it == served_.end() ? 0 : it->second;
  }

  uint64_t RefusedCount() const override { return refused_.load(); }

  void Stop() override {
    absl::MutexLock lock(&stop_mu_);
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_.get(), &one, sizeof(one));
    (void)ignored;
    thread_.join();
    listen_fd_.Reset();
  }

 private:
  // One accepted connection, handshaking.
  struct Connection {
    ScopedFd fd;
    UniquePtr<SSL> ssl;
    Clock::time_point deadline;
    short events = POLLIN;
    std::string sni;  // Set by the ClientHello callback when a challenge matched.
    bool done = false;
  };

  static int ClientHelloCallback(SSL* ssl, int* alert, void* arg) {
    auto* self = static_cast<TlsAlpnResponderImpl*>(arg);
    auto* conn = static_cast<Connection*>(SSL_get_app_data(ssl));
    const unsigned char* data = nullptr;
    size_t len = 0;
    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &data,
                                   &len) ||
        !AlpnOffers(data, len, kAcmeTlsAlpn)) {
      *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
      return SSL_CLIENT_HELLO_ERROR;
    }
    std::string sni;
    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &data, &len) ||
        !ParseSni(data, len, &sni)) {
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_CLIENT_HELLO_ERROR;
    }
    sni = absl::AsciiStrToLower(sni);
    std::shared_ptr<const Challenge> challenge;
    {
      absl::MutexLock lock(&self->mu_);
      auto it = self->challenges_.find(sni);
      if (it != self->challenges_.end()) challenge = it->second;
    }
    if (challenge == nullptr) {
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_CLIENT_HELLO_ERROR;
    }
    // Both calls take their own references, so a concurrent RemoveChallenge is harmless.
    if (SSL_use_certificate(ssl, challenge->certificate.cert.get()) != 1 ||
        SSL_use_PrivateKey(ssl, challenge->certificate.key.get()) != 1) {
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
    conn->sni = sni;
    return SSL_CLIENT_HELLO_SUCCESS;
  }

  static int AlpnSelectCallback(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                                const unsigned char* in, unsigned int inlen, void* arg) {
    const size_t want = sizeof(kAcmeTlsAlpn) - 1;
    unsigned int i = 0;
    while (i < inlen) {
      unsigned int n = in[i];
      if (i + 1 + n > inlen) break;
      if (n == want &&
          std::string_view(reinterpret_cast<const char*>(in + i + 1), n) == kAcmeTlsAlpn) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(n);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + n;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }

  void Run() {
    // Writes to a peer that went away must fail with EPIPE, not kill the process.
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);

    std::vector<std::unique_ptr<Connection>> conns;
    std::vector<pollfd> fds;
    while (true) {
      fds.clear();
      fds.push_back({wake_fd_.get(), POLLIN, 0});
      fds.push_back(
          {listen_fd_.get(), static_cast<short>(conns.size() < kMaxConnections ? POLLIN : 0), 0});
      auto now = Clock::now();
      int timeout_ms = -1;
      for (const auto& c : conns) {
        fds.push_back({c->fd.get(), c->events, 0});
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c->deadline - now);
        int ms = static_cast<int>(std::max<int64_t>(0, left.count()) + 1);
        timeout_ms = timeout_ms < 0 ? ms : std::min(timeout_ms, ms);
      }
      int n = poll(fds.data(), fds.size(), timeout_ms);
      if (n < 0 && errno != EINTR) {
        CF_LOG(ERROR) << "tls-alpn-01 responder: poll failed" << Kv("error", strerror(errno));
        break;
      }
      if (fds[0].revents != 0) break;  // Stop().
      now = Clock::now();
      for (size_t i = 0; i < conns.size(); ++i) {
        Connection& c = *conns[i];
        if (fds[i + 2].revents != 0) {
          Step(c);
        } else if (now >= c.deadline) {
          Finish(c, /*served=*/false);
        }
      }
      conns.erase(std::remove_if(conns.begin(), conns.end(),
                                 [](const std::unique_ptr<Connection>& c) { return c->done; }),
                  conns.end());
      if (fds[1].revents != 0) AcceptAll(conns);
    }
    for (auto& c : conns) Finish(*c, /*served=*/false);
  }

  void AcceptAll(std::vector<std::unique_ptr<Connection>>& conns) {
    while (conns.size() < kMaxConnections) {
      int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or a transient error (ECONNABORTED, EMFILE, ...).
      auto conn = std::make_unique<Connection>();
      conn->fd = ScopedFd(fd);
      conn->ssl.reset(SSL_new(ctx_.get()));
      conn->deadline = Clock::now() + kHandshakeTimeout;
      if (!conn->ssl || SSL_set_fd(conn->ssl.get(), fd) != 1) {
        refused_.fetch_add(1);
        continue;
      }
      SSL_set_app_data(conn->ssl.get(), conn.get());
      SSL_set_accept_state(conn->ssl.get());
      Step(*conn);
      if (!conn->done) conns.push_back(std::move(conn));
    }
  }

  // Advances the handshake of `c` as far as the socket allows.
  void Step(Connection& c) {
    ERR_clear_error();
    int r = SSL_do_handshake(c.ssl.get());
    if (r == 1) {
      Finish(c, /*served=*/!c.sni.empty());
      return;
    }
    switch (SSL_get_error(c.ssl.get(), r)) {
      case SSL_ERROR_WANT_READ:
        c.events = POLLIN;
        return;
      case SSL_ERROR_WANT_WRITE:
        c.events = POLLOUT;
        return;
      default:
        Finish(c, /*served=*/false);
    }
  }

  // Counts the connection, then closes it (the count is visible before the peer sees EOF).
  void Finish(Connection& c, bool served) {
    if (c.done) return;
    c.done = true;
    if (served) {
      {
        absl::MutexLock lock(&mu_);
        ++served_[c.sni];
      }
      CF_LOG(DEBUG) << "tls-alpn-01 challenge served" << Kv("sni", c.sni);
      ERR_clear_error();
      SSL_shutdown(c.ssl.get());  // Sends close_notify; the peer's is not awaited.
    } else {
      refused_.fetch_add(1);
    }
    ERR_clear_error();
    c.ssl.reset();
    c.fd.Reset();
  }

  ScopedFd listen_fd_;
  ScopedFd wake_fd_;
  const int port_;
  UniquePtr<SSL_CTX> ctx_;

  mutable absl::Mutex mu_;
  // Keyed by the lower-case SNI (the name, or the reverse name of an IP).
  std::map<std::string, std::shared_ptr<const Challenge>> challenges_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> served_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> refused_{0};

  absl::Mutex stop_mu_;
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TlsAlpnResponder>> TlsAlpnResponder::Start(
    std::string_view listen_address) {
  int port = 0;
  ASSIGN_OR_RETURN(ScopedFd listen_fd, internal::BindListener(listen_address, &port));
  ScopedFd wake_fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd.valid()) {
    return absl::InternalError(absl::StrCat("tls-alpn-01 responder: eventfd: ", strerror(errno)));
  }
  UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION) != 1) {
    return absl::InternalError("tls-alpn-01 responder: cannot create the TLS context");
  }
  // One handshake per connection: no session tickets or resumption.
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  CF_LOG(INFO) << "tls-alpn-01 responder listening" << Kv("address", std::string(listen_address))
               << Kv("port", port);
  return std::unique_ptr<TlsAlpnResponder>(
      new TlsAlpnResponderImpl(std::move(listen_fd), std::move(wake_fd), port, std::move(ctx)));
}

}  // namespace certfleet::responder
