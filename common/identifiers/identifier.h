#pragma once

// ACME identifiers (RFC 8555 section 9.7.7, RFC 8738): normalisation and validation.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace certfleet::identifiers {

enum class IdentifierType { kDns, kIp };

struct Identifier {
  IdentifierType type = IdentifierType::kDns;
  // Normalised value: lower-case A-label DNS name without trailing dot (may start with
  // "*." for a wildcard), or the canonical textual IP (inet_ntop form).
  std::string value;

  // "dns" or "ip", as in ACME JSON.
  std::string_view TypeString() const;
  bool IsWildcard() const;
  bool operator==(const Identifier& o) const { return type == o.type && value == o.value; }
  bool operator!=(const Identifier& o) const { return !(*this == o); }
  bool operator<(const Identifier& o) const {
    return type != o.type ? type < o.type : value < o.value;
  }
};

// Normalises one user-supplied name: trims nothing (surrounding whitespace is an error),
// lower-cases, removes one trailing dot, converts IDN U-labels to punycode A-labels
// (libidn2, IDNA2008 with UTS#46 mapping), checks LDH rules, 63-byte labels, 253-byte
// names, at least two labels, no empty label, wildcard only as the whole leftmost label.
// IPv4/IPv6 literals (IPv6 optionally in brackets) become kIp identifiers. On failure
// returns InvalidArgument whose message quotes the input and names the rule broken.
absl::StatusOr<Identifier> NormalizeIdentifier(std::string_view input);

// Normalises a list; additionally InvalidArgument when the list is empty or when two
// inputs normalise to the same identifier (naming both inputs). Order is preserved.
absl::StatusOr<std::vector<Identifier>> NormalizeIdentifiers(
    const std::vector<std::string>& inputs);

// Normalises an ACME JSON identifier {"type": type, "value": value}: as NormalizeIdentifier,
// plus InvalidArgument when `type` is not "dns"/"ip" or does not match the value's kind.
absl::StatusOr<Identifier> NormalizeAcmeIdentifier(std::string_view type, std::string_view value);

// Untrusted text quoted for an error message: quotes, backslashes and ASCII controls escaped
// (\xNN), UTF-8 left as typed (an IDN reads as typed). At most `max_shown` bytes are shown;
// longer text is cut and followed by "... (N bytes)".
std::string QuoteForMessage(std::string_view text,
                            size_t max_shown = std::string_view::npos);

// The SNI a validator uses for `id` (RFC 8737 section 3, RFC 8738 section 6): the DNS name
// itself (the base name for a wildcard, as ACME authorizes "*.x" via "x"), or the
// in-addr.arpa / ip6.arpa (nibble) reverse name for an IP identifier.
std::string ValidationServerName(const Identifier& id);

}  // namespace certfleet::identifiers
