#include "common/crypto/token_digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"

namespace certfleet::crypto {

absl::StatusOr<TokenDigest> DigestToken(std::string_view token) {
  TokenDigest digest{};
  unsigned int len = 0;
  // EVP_Digest with a static EVP_MD allocates nothing we must free.
  if (EVP_Digest(token.data(), token.size(), digest.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != digest.size()) {
    return absl::InternalError("SHA-256 failed");
  }
  return digest;
}

absl::StatusOr<TokenDigest> ParseTokenDigestHex(std::string_view hex) {
  if (hex.size() != 64 || !std::all_of(hex.begin(), hex.end(), [](char c) {
        return absl::ascii_isxdigit(static_cast<unsigned char>(c));
      })) {
    return absl::InvalidArgumentError("must be 64 hex digits");
  }
  std::string bytes = absl::HexStringToBytes(absl::string_view(hex.data(), hex.size()));
  TokenDigest digest{};
  std::copy(bytes.begin(), bytes.end(), digest.begin());
  return digest;
}

std::string TokenDigestHex(const TokenDigest& digest) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

bool TokenDigestsEqual(const TokenDigest& a, const TokenDigest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace certfleet::crypto
