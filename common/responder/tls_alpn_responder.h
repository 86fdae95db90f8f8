#pragma once

// A tls-alpn-01 (RFC 8737) validation listener. For a ClientHello that offers ALPN
// "acme-tls/1" and whose SNI has a challenge loaded, it completes the handshake with that
// challenge certificate, negotiates acme-tls/1, and closes. Everything else (no SNI,
// unknown SNI, other ALPN) is refused with a TLS alert. Challenges can be added and
// removed from any thread while it runs.
//
// Passthrough mode (TlsAlpnResponderOptions::passthrough_backend set) lets the responder
// share port 443 with a web server, like HAProxy's `req.ssl_alpn` routing: it reads the
// ClientHello without answering it; a ClientHello offering ALPN "acme-tls/1" whose SNI has a
// loaded challenge is answered as above, and every other connection (other ALPN, no ALPN,
// acme-tls/1 for an unknown SNI, non-TLS bytes, oversized ClientHellos) is forwarded as raw
// TCP, byte for byte, to the backend (e.g. Apache on 127.0.0.1:8443), optionally behind a
// PROXY protocol v2 header. acme-tls/1 for an unknown SNI is forwarded rather than refused so
// that a backend with its own tls-alpn-01 support (Apache mod_md) keeps working.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace certfleet::responder {

// Tuning and passthrough settings for TlsAlpnResponder::Start.
struct TlsAlpnResponderOptions {
  // "host:port" (or "[v6]:port") of the web server that gets all non-validation connections;
  // empty: no passthrough (non-validation connections are refused with a TLS alert).
  std::string passthrough_backend;
  // Prefix forwarded connections with a PROXY protocol v2 header carrying the client's
  // address (Apache: mod_remoteip `RemoteIPProxyProtocol On`). Only with a backend.
  bool proxy_protocol_v2 = false;
  // Connections handled at once (handshaking plus forwarded); more wait in the backlog.
  // Each forwarded connection uses two file descriptors.
  int max_connections = 256;
  // A client must send its whole ClientHello (passthrough) / finish its handshake within this.
  int handshake_timeout_ms = 10000;
  // A forwarded connection idle in both directions this long is closed; also bounds the
  // backend's TCP connect.
  int idle_timeout_ms = 600000;
  // Buffer per direction of a forwarded connection.
  size_t buffer_bytes = 64 * 1024;
};

class TlsAlpnResponder {
 public:
  virtual ~TlsAlpnResponder() = default;

  // Binds `listen_address` ("host:port", "[v6]:port", ":port" for all addresses; port 0
  // picks a free port) and starts serving on a background thread. Unavailable when the
  // address cannot be bound (the message names it and errno's reason).
  static absl::StatusOr<std::unique_ptr<TlsAlpnResponder>> Start(
      std::string_view listen_address);
  // As above with options. InvalidArgument when passthrough_backend is not host:port, cannot
  // be resolved, or proxy_protocol_v2 is set without a backend.
  static absl::StatusOr<std::unique_ptr<TlsAlpnResponder>> Start(
      std::string_view listen_address, const TlsAlpnResponderOptions& options);

  // The bound port (useful with port 0).
  virtual int port() const = 0;

  // Loads (or replaces) the challenge for an identifier: `identifier` is a DNS name or an IP
  // literal (`is_ip`); the SNI matched is ValidationServerName of it. `key_authorization` is
  // token.thumbprint. InvalidArgument on a bad identifier.
  virtual absl::Status AddChallenge(std::string_view identifier, bool is_ip,
                                    std::string_view key_authorization) = 0;
  // Removes it; a no-op when absent.
  virtual void RemoveChallenge(std::string_view identifier, bool is_ip) = 0;

  // Handshakes completed with a challenge certificate for `identifier` since start
  // (counts validation attempts; used by tests and logs).
  virtual uint64_t ServedCount(std::string_view identifier, bool is_ip) const = 0;
  // Connections refused (unknown SNI, wrong ALPN, bad ClientHello).
  virtual uint64_t RefusedCount() const = 0;
  // Passthrough mode: connections forwarded to the backend (counted once the backend
  // accepted the TCP connection). Always 0 without a backend.
  virtual uint64_t PassthroughCount() const { return 0; }
  // Passthrough mode: connections closed because the backend could not be reached (these
  // also count in RefusedCount).
  virtual uint64_t PassthroughFailedCount() const { return 0; }

  // Stops accepting and joins the thread. Idempotent; also done by the destructor.
  virtual void Stop() = 0;
};

}  // namespace certfleet::responder
