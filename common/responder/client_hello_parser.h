#pragma once

// A bounds-checked parser for the first flight of a TLS client: the ClientHello, possibly
// fragmented over several TLS records and several reads. Used by the tls-alpn-01 responder's
// passthrough mode to decide, before any TLS processing, whether a connection is an ACME
// validation (answer it) or ordinary traffic (forward it to the web server untouched).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace certfleet::responder {

// Raw bytes a ClientHello (with its record headers) may take before the parser gives up.
inline constexpr size_t kMaxClientHelloBytes = 16 * 1024;

// What ParseClientHello found.
enum class ClientHelloState {
  kComplete,  // A whole ClientHello was parsed; the fields below are set.
  kNeedMore,  // The bytes so far are a valid prefix; read more and call again.
  kInvalid,   // Not a (supported) TLS ClientHello, or larger than kMaxClientHelloBytes.
};

// The fields of a ClientHello the responder routes on.
struct ClientHelloResult {
  ClientHelloState state = ClientHelloState::kNeedMore;
  // Why the input is kInvalid (for logs and tests).
  std::string error;
  // The server_name extension's host_name, as sent (not lower-cased); empty when absent.
  std::string sni;
  // The ALPN protocol names offered, in order; empty when no ALPN extension.
  std::vector<std::string> alpn;
  // True when the extension was present.
  bool has_sni = false;
  bool has_alpn = false;
};

// Parses the start of a client's byte stream. Never reads outside `data`; any input is
// safe. Returns kNeedMore while `data` is a valid but incomplete prefix shorter than
// kMaxClientHelloBytes.
ClientHelloResult ParseClientHello(std::string_view data);

// Parses a server_name extension body (RFC 6066 section 3) into `name`, which must be
// empty on entry. False when the body is malformed, has no host_name or more than one.
bool ParseServerName(std::string_view body, std::string* name);

// Parses an ALPN extension body (RFC 7301 section 3.1), appending the protocol names to
// `protos`. False when the body is malformed or the list (or a name) is empty.
bool ParseAlpn(std::string_view body, std::vector<std::string>* protos);

// True when the result offers exactly the ALPN protocol `proto` among its list.
bool OffersAlpn(const ClientHelloResult& hello, std::string_view proto);

}  // namespace certfleet::responder
