#pragma once

// Private keys: generation and PEM import/export for the key types ACME uses.

#include <openssl/evp.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/crypto/openssl_ptr.h"

namespace certfleet::crypto {

enum class KeyType { kEcdsaP256, kEcdsaP384, kRsa2048, kRsa3072, kRsa4096 };

// "ecdsa-p256", "ecdsa-p384", "rsa2048", "rsa3072", "rsa4096".
std::string_view KeyTypeName(KeyType type);
// Parses the names above (case-insensitive); InvalidArgument naming the input and the
// accepted names otherwise.
absl::StatusOr<KeyType> ParseKeyType(std::string_view name);

// An owned private key (and so its public half). Movable, not copyable.
class PrivateKey {
 public:
  // Generates a fresh key; Internal on an OpenSSL failure.
  static absl::StatusOr<PrivateKey> Generate(KeyType type);
  // Reads a PEM private key (PKCS#8, or traditional EC/RSA); InvalidArgument when it does not
  // parse or is a key type we do not support.
  static absl::StatusOr<PrivateKey> FromPem(std::string_view pem);

  // PKCS#8 PEM of the private key. Secret: never log it.
  std::string ToPem() const;
  // SubjectPublicKeyInfo PEM of the public key.
  std::string PublicKeyPem() const;

  KeyType type() const { return type_; }
  // Borrowed pointer, valid while this object lives.
  EVP_PKEY* get() const { return pkey_.get(); }

 private:
  PrivateKey(UniquePtr<EVP_PKEY> pkey, KeyType type) : pkey_(std::move(pkey)), type_(type) {}
  UniquePtr<EVP_PKEY> pkey_;
  KeyType type_;
};

}  // namespace certfleet::crypto
