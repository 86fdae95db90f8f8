#pragma once

// The RFC 8737 tls-alpn-01 challenge certificate.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/crypto/key.h"
#include "common/crypto/openssl_ptr.h"

namespace certfleet::crypto {

// The OID of the acmeIdentifier extension.
inline constexpr char kAcmeIdentifierOid[] = "1.3.6.1.5.5.7.1.31";

// A self-signed challenge certificate and its key (a fresh P-256 key per certificate).
struct ChallengeCertificate {
  PrivateKey key;
  UniquePtr<X509> cert;
  std::string cert_pem;
};

// Builds the certificate for `identifier` — a DNS name, or an IPv4/IPv6 literal when
// `is_ip` — with exactly one SAN (dNSName or iPAddress) and the critical acmeIdentifier
// extension holding an ASN.1 OCTET STRING of `digest` (must be 32 bytes: the SHA-256 of the
// key authorization). Valid from one day ago for seven days. InvalidArgument on a bad
// digest length or IP.
absl::StatusOr<ChallengeCertificate> CreateTlsAlpnCertificate(std::string_view identifier,
                                                              bool is_ip,
                                                              std::string_view digest);

}  // namespace certfleet::crypto
