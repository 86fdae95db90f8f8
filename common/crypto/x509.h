#pragma once

// X.509 parsing helpers for issued certificates and chains.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/key.h"
#include "common/crypto/openssl_ptr.h"

namespace certfleet::crypto {

// One parsed certificate. Movable; copies share nothing (X509_up_ref is not used).
class Certificate {
 public:
  // Parses one PEM certificate (the first in `pem`); InvalidArgument if none parses.
  static absl::StatusOr<Certificate> FromPem(std::string_view pem);
  static absl::StatusOr<Certificate> FromDer(std::string_view der);

  // Upper-case hex of the serial number, no leading zeros beyond one byte pairs
  // (as Pebble's /cert-status-by-serial/ expects: lower-case accepted there too).
  std::string SerialHex() const;
  // RFC 2253-style one-line names, e.g. "CN=Pebble Intermediate CA 645fc5".
  std::string Subject() const;
  std::string Issuer() const;
  // The commonName of the issuer (used to choose a preferred chain), "" if absent.
  std::string IssuerCommonName() const;
  std::string SubjectCommonName() const;
  // subjectAltName entries: dNSName values, and iPAddress values in textual form.
  std::vector<std::string> DnsNames() const;
  std::vector<std::string> IpAddresses() const;
  absl::Time NotBefore() const;
  absl::Time NotAfter() const;
  // True when `key`'s public half is this certificate's public key.
  bool MatchesKey(const PrivateKey& key) const;
  // True when this certificate's signature verifies with `issuer`'s public key and the
  // issuer name matches.
  bool IsIssuedBy(const Certificate& issuer) const;
  std::string ToPem() const;
  std::string ToDer() const;
  // Borrowed; valid while this object lives.
  X509* get() const { return x509_.get(); }

 private:
  explicit Certificate(UniquePtr<X509> x509) : x509_(std::move(x509)) {}
  UniquePtr<X509> x509_;
};

// Parses every certificate in a PEM bundle, in order. InvalidArgument when the text holds
// no certificate or anything between BEGIN/END markers fails to parse.
absl::StatusOr<std::vector<Certificate>> ParsePemChain(std::string_view pem);
// OK when each certificate is issued by the next one; FailedPrecondition naming the first
// broken link otherwise.
absl::Status CheckChainOrder(const std::vector<Certificate>& chain);
// Verifies chain[0] up to `root` (trusted) with chain[1..] as intermediates, at the current
// time. FailedPrecondition with OpenSSL's reason otherwise.
absl::Status VerifyChain(const std::vector<Certificate>& chain, const Certificate& root);

}  // namespace certfleet::crypto
