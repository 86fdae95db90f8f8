#pragma once

// Certificate signing requests for ACME finalize.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/key.h"

namespace certfleet::crypto {

// A PKCS#10 request signed with `key` (SHA-256; SHA-384 for P-384) whose subjectAltName holds
// `dns_names` as dNSName and `ip_addresses` (textual IPv4/IPv6) as iPAddress (RFC 8738).
// The subject CN is the first DNS name when it fits in 64 bytes, else empty. Returns DER.
// InvalidArgument when both lists are empty or an IP does not parse.
absl::StatusOr<std::string> CreateCsrDer(const std::vector<std::string>& dns_names,
                                         const std::vector<std::string>& ip_addresses,
                                         const PrivateKey& key);
// PEM ("CERTIFICATE REQUEST") of a DER request.
std::string CsrDerToPem(const std::string& der);

}  // namespace certfleet::crypto
