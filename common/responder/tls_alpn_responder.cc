#include "common/responder/tls_alpn_responder.h"

#include <netdb.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
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
#include "common/responder/client_hello_parser.h"
#include "common/responder/listen_socket.h"
#include "common/responder/proxy_protocol.h"
#include "common/status_macros.h"

namespace certfleet::responder {
namespace {

using crypto::UniquePtr;
using internal::ScopedFd;
using Clock = std::chrono::steady_clock;

constexpr char kAcmeTlsAlpn[] = "acme-tls/1";
// A backend connection failure is logged at WARNING at most this often (DEBUG otherwise).
constexpr auto kBackendWarningInterval = std::chrono::seconds(10);

// A resolved passthrough backend.
struct Backend {
  std::string address;  // As configured, for logs.
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
};

// Resolves "host:port" (numeric or a name; the first address wins).
absl::StatusOr<Backend> ResolveBackend(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("tls-alpn-01 passthrough backend \"",
                                                   std::string(text), "\": ", std::string(why)));
  };
  auto parsed = internal::ParseListenAddress(text);
  if (!parsed.ok()) return bad("want host:port or [v6]:port");
  if (parsed->host.empty() || parsed->port == 0) return bad("needs a host and a non-zero port");
  auto resolved = internal::ResolveAddress(parsed->host, parsed->port);
  if (!resolved.ok()) return bad(std::string(resolved.status().message()));
  Backend backend;
  backend.address = std::string(text);
  backend.addr = resolved->storage;
  backend.addr_len = resolved->len;
  return backend;
}

// Reads for OpenSSL from a connection's already-peeked ClientHello bytes first, then from
// its socket. Its data pointer is a PrefixSource owned by the connection.
struct PrefixSource {
  int fd = -1;
  std::string bytes;
  size_t offset = 0;
};

int PrefixBioRead(BIO* bio, char* out, int len) {
  auto* src = static_cast<PrefixSource*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (len <= 0) return 0;
  if (src->offset < src->bytes.size()) {
    size_t n = std::min(static_cast<size_t>(len), src->bytes.size() - src->offset);
    std::memcpy(out, src->bytes.data() + src->offset, n);
    src->offset += n;
    return static_cast<int>(n);
  }
  while (true) {
    ssize_t n = read(src->fd, out, static_cast<size_t>(len));
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(bio);
    return -1;
  }
}

long PrefixBioCtrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int PrefixBioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* PrefixBioMethod() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "certfleet-prefix");
    if (m != nullptr) {
      BIO_meth_set_read(m, PrefixBioRead);
      BIO_meth_set_ctrl(m, PrefixBioCtrl);
      BIO_meth_set_create(m, PrefixBioCreate);
    }
    return m;
  }();
  return method;
}

// One direction of a forwarded connection: a bounded buffer between two sockets.
struct Pipe {
  std::unique_ptr<char[]> buf;
  size_t cap = 0;
  size_t start = 0;  // First unsent byte.
  size_t end = 0;    // One past the last buffered byte.
  bool eof = false;  // The source sent FIN (or the peek phase saw it).
  bool shut = false;  // shutdown(SHUT_WR) was sent to the destination.

  void Init(size_t capacity) {
    cap = capacity;
    buf.reset(new char[cap]);
  }
  size_t pending() const { return end - start; }
  bool has_room() const { return pending() < cap; }

  // Reads from `from` while there is room. False on a hard error.
  bool Fill(int from, bool* progress) {
    if (eof) return true;
    if (start > 0 && end == cap) {
      std::memmove(buf.get(), buf.get() + start, pending());
      end -= start;
      start = 0;
    }
    while (end < cap) {
      ssize_t n = read(from, buf.get() + end, cap - end);
      if (n > 0) {
        end += static_cast<size_t>(n);
        *progress = true;
      } else if (n == 0) {
        eof = true;
        *progress = true;
        return true;
      } else if (errno == EINTR) {
        continue;
      } else {
        return errno == EAGAIN || errno == EWOULDBLOCK;
      }
    }
    return true;
  }

  // Writes the buffered bytes to `to`; propagates the FIN once drained. False on a hard
  // error (the peer reset or closed the connection).
  bool Drain(int to, bool* progress) {
    while (pending() > 0) {
      ssize_t n = send(to, buf.get() + start, pending(), MSG_NOSIGNAL);
      if (n > 0) {
        start += static_cast<size_t>(n);
        *progress = true;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return true;
      } else {
        return false;
      }
    }
    start = end = 0;
    if (eof && !shut) {
      shutdown(to, SHUT_WR);
      shut = true;
      *progress = true;
    }
    return true;
  }
};

// One loaded challenge: the certificate and key served for its SNI.
struct Challenge {
  std::string identifier;
  crypto::ChallengeCertificate certificate;
};

// Views an extension body returned by SSL_client_hello_get0_ext.
std::string_view ExtensionBody(const unsigned char* data, size_t len) {
  return std::string_view(reinterpret_cast<const char*>(data), len);
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
  TlsAlpnResponderImpl(ScopedFd listen_fd, ScopedFd wake_fd, int port, UniquePtr<SSL_CTX> ctx,
                       const TlsAlpnResponderOptions& options, std::optional<Backend> backend)
      : listen_fd_(std::move(listen_fd)),
        wake_fd_(std::move(wake_fd)),
        port_(port),
        ctx_(std::move(ctx)),
        options_(options),
        backend_(std::move(backend)) {
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
  uint64_t PassthroughCount() const override { return forwarded_.load(); }
  uint64_t PassthroughFailedCount() const override { return forward_failed_.load(); }

  void Stop() override {
    absl::MutexLock lock(&stop_mu_);
    internal::StopEventLoop(wake_fd_, thread_, listen_fd_);
  }

 private:
  // Where a connection is in its life.
  enum class Phase {
    kPeek,        // Passthrough: reading the ClientHello into `prefix.bytes`.
    kHandshake,   // Answering the validation with OpenSSL.
    kConnecting,  // Passthrough: the backend's TCP connect is in progress.
    kForwarding,  // Passthrough: copying bytes both ways.
  };

  // One accepted connection.
  struct Connection {
    ScopedFd fd;
    // Peeked ClientHello bytes (replayed to OpenSSL or forwarded). Declared before `ssl`,
    // whose read BIO points at it.
    PrefixSource prefix;
    UniquePtr<SSL> ssl;
    Phase phase = Phase::kHandshake;
    Clock::time_point deadline;
    short events = POLLIN;
    std::string sni;  // Set by the ClientHello callback when a challenge matched.
    bool done = false;
    // Passthrough.
    bool client_eof = false;  // FIN seen while peeking.
    ScopedFd backend;
    short backend_events = 0;
    bool forwarded = false;  // The backend accepted; closing is not a refusal.
    Pipe up;    // client -> backend
    Pipe down;  // backend -> client
  };

  static int ClientHelloCallback(SSL* ssl, int* alert, void* arg) {
    auto* self = static_cast<TlsAlpnResponderImpl*>(arg);
    auto* conn = static_cast<Connection*>(SSL_get_app_data(ssl));
    const unsigned char* data = nullptr;
    size_t len = 0;
    std::vector<std::string> alpn;
    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &data,
                                   &len) ||
        !ParseAlpn(ExtensionBody(data, len), &alpn) ||
        std::find(alpn.begin(), alpn.end(), kAcmeTlsAlpn) == alpn.end()) {
      *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
      return SSL_CLIENT_HELLO_ERROR;
    }
    std::string sni;
    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &data, &len) ||
        !ParseServerName(ExtensionBody(data, len), &sni)) {
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

    const size_t max_connections = static_cast<size_t>(std::max(1, options_.max_connections));
    std::vector<std::unique_ptr<Connection>> conns;
    std::vector<pollfd> fds;
    while (true) {
      fds.clear();
      fds.push_back({wake_fd_.get(), POLLIN, 0});
      fds.push_back(
          {listen_fd_.get(), static_cast<short>(conns.size() < max_connections ? POLLIN : 0), 0});
      for (const auto& c : conns) {
        // Two slots per connection (client, backend); poll ignores negative descriptors.
        fds.push_back({c->events != 0 ? c->fd.get() : -1, c->events, 0});
        fds.push_back({c->backend_events != 0 ? c->backend.get() : -1, c->backend_events, 0});
      }
      int n = poll(fds.data(), fds.size(), internal::PollTimeoutMs(conns, Clock::now()));
      if (n < 0 && errno != EINTR) {
        CF_LOG(ERROR) << "tls-alpn-01 responder: poll failed" << Kv("error", strerror(errno));
        break;
      }
      if (fds[0].revents != 0) break;  // Stop().
      auto now = Clock::now();
      for (size_t i = 0; i < conns.size(); ++i) {
        Connection& c = *conns[i];
        if (n > 0 && (fds[2 + 2 * i].revents != 0 || fds[3 + 2 * i].revents != 0)) {
          Dispatch(c);
        } else if (now >= c.deadline) {
          if (c.phase == Phase::kForwarding) {
            CF_LOG(DEBUG) << "tls-alpn-01 passthrough: idle connection closed";
          }
          Finish(c, /*served=*/false);
        }
      }
      conns.erase(std::remove_if(conns.begin(), conns.end(),
                                 [](const std::unique_ptr<Connection>& c) { return c->done; }),
                  conns.end());
      if (n > 0 && fds[1].revents != 0) AcceptAll(conns, max_connections);
    }
    for (auto& c : conns) Finish(*c, /*served=*/false);
  }

  void AcceptAll(std::vector<std::unique_ptr<Connection>>& conns, size_t max_connections) {
    while (conns.size() < max_connections) {
      int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or a transient error (ECONNABORTED, EMFILE, ...).
      auto conn = std::make_unique<Connection>();
      conn->fd = ScopedFd(fd);
      conn->prefix.fd = fd;
      conn->deadline = Clock::now() + std::chrono::milliseconds(options_.handshake_timeout_ms);
      if (backend_.has_value()) {
        conn->phase = Phase::kPeek;
        Peek(*conn);
      } else {
        conn->ssl.reset(SSL_new(ctx_.get()));
        if (!conn->ssl || SSL_set_fd(conn->ssl.get(), fd) != 1) {
          refused_.fetch_add(1);
          continue;
        }
        StartHandshake(*conn);
      }
      if (!conn->done) conns.push_back(std::move(conn));
    }
  }

  void Dispatch(Connection& c) {
    switch (c.phase) {
      case Phase::kPeek:
        Peek(c);
        return;
      case Phase::kHandshake:
        Step(c);
        return;
      case Phase::kConnecting:
        FinishConnect(c);
        return;
      case Phase::kForwarding:
        Pump(c);
        return;
    }
  }

  void StartHandshake(Connection& c) {
    c.phase = Phase::kHandshake;
    SSL_set_app_data(c.ssl.get(), &c);
    SSL_set_accept_state(c.ssl.get());
    Step(c);
  }

  // Reads what the client sent so far and routes it once the ClientHello is complete (or
  // clearly not one).
  void Peek(Connection& c) {
    char buf[4096];
    while (c.prefix.bytes.size() < kMaxClientHelloBytes && !c.client_eof) {
      size_t want = std::min(sizeof(buf), kMaxClientHelloBytes - c.prefix.bytes.size());
      ssize_t n = read(c.fd.get(), buf, want);
      if (n > 0) {
        c.prefix.bytes.append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        c.client_eof = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      } else {
        Finish(c, /*served=*/false);
        return;
      }
    }
    if (c.prefix.bytes.empty()) {
      if (c.client_eof) Finish(c, /*served=*/false);  // Closed without a word.
      c.events = POLLIN;
      return;
    }
    ClientHelloResult hello = ParseClientHello(c.prefix.bytes);
    if (hello.state == ClientHelloState::kNeedMore && !c.client_eof) {
      c.events = POLLIN;
      return;
    }
    if (hello.state == ClientHelloState::kComplete && OffersAlpn(hello, kAcmeTlsAlpn) &&
        HasChallenge(hello.sni)) {
      UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
      BIO* rbio = BIO_new(PrefixBioMethod());
      BIO* wbio = BIO_new_socket(c.fd.get(), BIO_NOCLOSE);
      if (ssl == nullptr || rbio == nullptr || wbio == nullptr) {
        BIO_free(rbio);
        BIO_free(wbio);
        Finish(c, /*served=*/false);
        return;
      }
      BIO_set_data(rbio, &c.prefix);
      SSL_set_bio(ssl.get(), rbio, wbio);
      c.ssl = std::move(ssl);
      StartHandshake(c);
      return;
    }
    if (hello.state == ClientHelloState::kInvalid) {
      CF_LOG(DEBUG) << "tls-alpn-01 passthrough: forwarding a non-ClientHello"
                    << Kv("reason", hello.error);
    }
    StartForward(c);
  }

  bool HasChallenge(const std::string& sni) const {
    std::string key = absl::AsciiStrToLower(sni);
    absl::MutexLock lock(&mu_);
    return challenges_.count(key) != 0;
  }

  // Opens the backend connection for `c`.
  void StartForward(Connection& c) {
    c.events = 0;
    c.backend = ScopedFd(
        socket(backend_->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!c.backend.valid()) {
      ForwardFailed(c, "socket", errno);
      return;
    }
    c.deadline = Clock::now() + std::chrono::milliseconds(options_.idle_timeout_ms);
    if (connect(c.backend.get(), reinterpret_cast<const sockaddr*>(&backend_->addr),
                backend_->addr_len) == 0) {
      StartPumping(c);
      return;
    }
    if (errno != EINPROGRESS) {
      ForwardFailed(c, "connect", errno);
      return;
    }
    c.phase = Phase::kConnecting;
    c.backend_events = POLLOUT;
  }

  void FinishConnect(Connection& c) {
    int error = 0;
    socklen_t len = sizeof(error);
    if (getsockopt(c.backend.get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
    if (error != 0) {
      ForwardFailed(c, "connect", error);
      return;
    }
    StartPumping(c);
  }

  // The backend accepted: queue the PROXY header and the peeked bytes, then copy.
  void StartPumping(Connection& c) {
    c.phase = Phase::kForwarding;
    c.forwarded = true;
    forwarded_.fetch_add(1);
    std::string head;
    if (options_.proxy_protocol_v2) {
      sockaddr_storage peer{}, local{};
      socklen_t peer_len = sizeof(peer), local_len = sizeof(local);
      getpeername(c.fd.get(), reinterpret_cast<sockaddr*>(&peer), &peer_len);
      getsockname(c.fd.get(), reinterpret_cast<sockaddr*>(&local), &local_len);
      head = ProxyV2Header(peer, local);
    }
    head += c.prefix.bytes;
    c.prefix.bytes.clear();
    c.prefix.bytes.shrink_to_fit();
    c.up.Init(std::max(options_.buffer_bytes, head.size()));
    std::memcpy(c.up.buf.get(), head.data(), head.size());
    c.up.end = head.size();
    c.up.eof = c.client_eof;
    c.down.Init(options_.buffer_bytes);
    Pump(c);
  }

  void ForwardFailed(Connection& c, const char* what, int error) {
    forward_failed_.fetch_add(1);
    auto now = Clock::now();
    bool warn = now - last_backend_warning_ >= kBackendWarningInterval;
    if (warn) last_backend_warning_ = now;
    LogLevel level = warn ? LogLevel::kWarning : LogLevel::kDebug;
    if (level >= GetLogLevel()) {
      LogLine(level, __FILE__, __LINE__)
          << "tls-alpn-01 passthrough: cannot reach the backend; closing the client"
        << Kv("backend", backend_->address) << Kv("step", what) << Kv("error", strerror(error));
    }
    Finish(c, /*served=*/false);
  }

  // Copies what both sockets allow; closes the connection when both directions are done
  // or on an error.
  void Pump(Connection& c) {
    bool progress = false;
    bool ok = c.up.Fill(c.fd.get(), &progress) && c.up.Drain(c.backend.get(), &progress) &&
              c.down.Fill(c.backend.get(), &progress) && c.down.Drain(c.fd.get(), &progress);
    if (!ok || (c.up.shut && c.down.shut)) {
      Finish(c, /*served=*/false);
      return;
    }
    if (progress) {
      c.deadline = Clock::now() + std::chrono::milliseconds(options_.idle_timeout_ms);
    }
    c.events = static_cast<short>((!c.up.eof && c.up.has_room() ? POLLIN : 0) |
                                  (c.down.pending() > 0 ? POLLOUT : 0));
    c.backend_events = static_cast<short>((!c.down.eof && c.down.has_room() ? POLLIN : 0) |
                                          (c.up.pending() > 0 ? POLLOUT : 0));
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
    } else if (!c.forwarded) {
      refused_.fetch_add(1);
    }
    ERR_clear_error();
    c.ssl.reset();
    c.backend.Reset();
    c.fd.Reset();
  }

  ScopedFd listen_fd_;
  ScopedFd wake_fd_;
  const int port_;
  UniquePtr<SSL_CTX> ctx_;
  const TlsAlpnResponderOptions options_;
  const std::optional<Backend> backend_;
  Clock::time_point last_backend_warning_;  // Only used by the serving thread.

  mutable absl::Mutex mu_;
  // Keyed by the lower-case SNI (the name, or the reverse name of an IP).
  std::map<std::string, std::shared_ptr<const Challenge>> challenges_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> served_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> forwarded_{0};
  std::atomic<uint64_t> forward_failed_{0};

  absl::Mutex stop_mu_;
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TlsAlpnResponder>> TlsAlpnResponder::Start(
    std::string_view listen_address) {
  return Start(listen_address, TlsAlpnResponderOptions());
}

absl::StatusOr<std::unique_ptr<TlsAlpnResponder>> TlsAlpnResponder::Start(
    std::string_view listen_address, const TlsAlpnResponderOptions& options) {
  std::optional<Backend> backend;
  if (!options.passthrough_backend.empty()) {
    ASSIGN_OR_RETURN(backend, ResolveBackend(options.passthrough_backend));
  } else if (options.proxy_protocol_v2) {
    return absl::InvalidArgumentError(
        "tls-alpn-01 responder: proxy_protocol_v2 needs a passthrough_backend");
  }
  if (options.max_connections < 1 || options.handshake_timeout_ms < 1 ||
      options.idle_timeout_ms < 1 || options.buffer_bytes < 1) {
    return absl::InvalidArgumentError(
        "tls-alpn-01 responder: max_connections, timeouts and buffer_bytes must be positive");
  }
  if (backend.has_value() && PrefixBioMethod() == nullptr) {
    return absl::InternalError("tls-alpn-01 responder: cannot create the prefix BIO method");
  }
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
               << Kv("port", port)
               << Kv("passthrough_backend", options.passthrough_backend)
               << Kv("proxy_protocol_v2", options.proxy_protocol_v2);
  return std::unique_ptr<TlsAlpnResponder>(new TlsAlpnResponderImpl(
      std::move(listen_fd), std::move(wake_fd), port, std::move(ctx), options,
      std::move(backend)));
}

}  // namespace certfleet::responder
