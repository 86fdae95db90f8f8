#pragma once

// Throwaway test PKI: a self-signed CA and one "localhost" TLS server certificate it signed
// (ECDSA P-256, valid from an hour ago for a week). Used by the Pebble fixture's listener and
// the fault proxy.

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/crypto/openssl_ptr.h"

namespace certfleet::testing {

// A CA and the server certificate it issued, with their private keys.
struct TestPki {
  crypto::UniquePtr<EVP_PKEY> ca_key;
  crypto::UniquePtr<X509> ca_cert;
  crypto::UniquePtr<EVP_PKEY> leaf_key;
  crypto::UniquePtr<X509> leaf_cert;
};

// Makes a CA with common name `ca_common_name` and a CN=localhost serverAuth certificate
// with subjectAltName `leaf_san` (e.g. "DNS:localhost,IP:127.0.0.1"). Internal errors read
// "<error_prefix>: OpenSSL failed: <step>".
absl::StatusOr<TestPki> MakeTestPki(const std::string& ca_common_name,
                                    const std::string& leaf_san, const std::string& error_prefix);

// Writes `cert` and/or `key` (either may be null) as PEM to `path`. Internal on failure.
absl::Status WritePem(const std::string& path, X509* cert, EVP_PKEY* key,
                      const std::string& error_prefix);

}  // namespace certfleet::testing
