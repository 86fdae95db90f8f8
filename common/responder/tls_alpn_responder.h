#pragma once

// A tls-alpn-01 (RFC 8737) validation listener. For a ClientHello that offers ALPN
// "acme-tls/1" and whose SNI has a challenge loaded, it completes the handshake with that
// challenge certificate, negotiates acme-tls/1, and closes. Everything else (no SNI,
// unknown SNI, other ALPN) is refused with a TLS alert. Challenges can be added and
// removed from any thread while it runs.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace certfleet::responder {

class TlsAlpnResponder {
 public:
  virtual ~TlsAlpnResponder() = default;

  // Binds `listen_address` ("host:port", "[v6]:port", ":port" for all addresses; port 0
  // picks a free port) and starts serving on a background thread. Unavailable when the
  // address cannot be bound (the message names it and errno's reason).
  static absl::StatusOr<std::unique_ptr<TlsAlpnResponder>> Start(
      std::string_view listen_address);

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

  // Stops accepting and joins the thread. Idempotent; also done by the destructor.
  virtual void Stop() = 0;
};

}  // namespace certfleet::responder
