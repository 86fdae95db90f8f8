#include "common/crypto/jwk.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#if !defined(OPENSSL_IS_BORINGSSL)
#include <openssl/core_names.h>
#endif

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/base64url.h"
#include "common/crypto/openssl_ptr.h"

namespace certfleet::crypto {
namespace {

std::string BnBytes(const BIGNUM* bn) {
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<uint8_t*>(out.data()));
  return out;
}

// The RSA modulus and public exponent as big-endian bytes; false on failure.
bool RsaComponents(EVP_PKEY* pkey, std::string* n, std::string* e) {
#if defined(OPENSSL_IS_BORINGSSL)
  const RSA* rsa = EVP_PKEY_get0_RSA(pkey);
  if (rsa == nullptr) return false;
  *n = BnBytes(RSA_get0_n(rsa));
  *e = BnBytes(RSA_get0_e(rsa));
  return true;
#else
  BIGNUM* raw_n = nullptr;
  BIGNUM* raw_e = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &raw_n) != 1) return false;
  UniquePtr<BIGNUM> bn_n(raw_n);
  if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &raw_e) != 1) return false;
  UniquePtr<BIGNUM> bn_e(raw_e);
  *n = BnBytes(bn_n.get());
  *e = BnBytes(bn_e.get());
  return true;
#endif
}

// The uncompressed EC point 0x04 || X || Y (both libraries encode EC public keys so).
std::string EcPoint(EVP_PKEY* pkey) {
  uint8_t* der = nullptr;
  int len = i2d_PublicKey(pkey, &der);
  if (len <= 0 || der == nullptr) return "";
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

}  // namespace

nlohmann::json PublicJwk(const PrivateKey& key) {
  nlohmann::json jwk = nlohmann::json::object();
  switch (key.type()) {
    case KeyType::kEcdsaP256:
    case KeyType::kEcdsaP384: {
      const size_t size = key.type() == KeyType::kEcdsaP256 ? 32 : 48;
      std::string point = EcPoint(key.get());
      if (point.size() != 1 + 2 * size || point[0] != 0x04) return jwk;
      jwk["kty"] = "EC";
      jwk["crv"] = key.type() == KeyType::kEcdsaP256 ? "P-256" : "P-384";
      jwk["x"] = Base64UrlEncode(std::string_view(point).substr(1, size));
      jwk["y"] = Base64UrlEncode(std::string_view(point).substr(1 + size, size));
      return jwk;
    }
    case KeyType::kRsa2048:
    case KeyType::kRsa3072:
    case KeyType::kRsa4096: {
      std::string n, e;
      if (!RsaComponents(key.get(), &n, &e)) return jwk;
      jwk["kty"] = "RSA";
      jwk["n"] = Base64UrlEncode(n);
      jwk["e"] = Base64UrlEncode(e);
      return jwk;
    }
  }
  return jwk;
}

absl::StatusOr<std::string> JwkThumbprint(const nlohmann::json& jwk) {
  if (!jwk.is_object()) return absl::InvalidArgumentError("JWK is not a JSON object");
  auto kty_it = jwk.find("kty");
  if (kty_it == jwk.end() || !kty_it->is_string()) {
    return absl::InvalidArgumentError("JWK has no string \"kty\"");
  }
  const std::string kty = kty_it->get<std::string>();
  std::vector<const char*> members;
  if (kty == "EC") {
    members = {"crv", "kty", "x", "y"};
  } else if (kty == "RSA") {
    members = {"e", "kty", "n"};
  } else if (kty == "oct") {
    members = {"k", "kty"};
  } else {
    return absl::InvalidArgumentError(absl::StrCat("JWK has unknown kty \"", kty, "\""));
  }
  // nlohmann::json objects keep keys sorted, so dump() is the RFC 7638 canonical form.
  nlohmann::json canonical = nlohmann::json::object();
  for (const char* member : members) {
    auto it = jwk.find(member);
    if (it == jwk.end() || !it->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("JWK (kty ", kty, ") lacks required member \"", member, "\""));
    }
    canonical[member] = *it;
  }
  const std::string text = canonical.dump();
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &digest_len, EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("SHA-256 failed");
  }
  return Base64UrlEncode(std::string_view(reinterpret_cast<char*>(digest), digest_len));
}

std::string JwkThumbprint(const PrivateKey& key) {
  absl::StatusOr<std::string> thumbprint = JwkThumbprint(PublicJwk(key));
  return thumbprint.ok() ? *thumbprint : "";
}

}  // namespace certfleet::crypto
