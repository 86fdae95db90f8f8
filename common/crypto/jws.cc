#include "common/crypto/jws.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/base64url.h"
#include "common/crypto/jwk.h"
#include "common/crypto/openssl_error.h"
#include "common/crypto/openssl_ptr.h"
#include "common/status_macros.h"

namespace certfleet::crypto {
namespace {

const EVP_MD* DigestFor(KeyType type) {
  return type == KeyType::kEcdsaP384 ? EVP_sha384() : EVP_sha256();
}

// Size of r (and of s) in a raw ECDSA signature; 0 for RSA.
size_t EcScalarSize(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP256:
      return 32;
    case KeyType::kEcdsaP384:
      return 48;
    default:
      return 0;
  }
}

std::string_view AsChars(const uint8_t* data, size_t len) {
  return std::string_view(reinterpret_cast<const char*>(data), len);
}

// Signs `input` with `key`; ECDSA results are converted from DER to raw r||s.
absl::StatusOr<std::string> Sign(const PrivateKey& key, std::string_view input) {
  UniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return OpenSslInternal("EVP_MD_CTX_new");
  if (EVP_DigestSignInit(ctx.get(), nullptr, DigestFor(key.type()), nullptr, key.get()) != 1) {
    return OpenSslInternal("EVP_DigestSignInit");
  }
  const auto* data = reinterpret_cast<const uint8_t*>(input.data());
  size_t sig_len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &sig_len, data, input.size()) != 1) {
    return OpenSslInternal("EVP_DigestSign (size)");
  }
  std::string sig(sig_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<uint8_t*>(sig.data()), &sig_len, data,
                     input.size()) != 1) {
    return OpenSslInternal("EVP_DigestSign");
  }
  sig.resize(sig_len);
  const size_t scalar = EcScalarSize(key.type());
  if (scalar == 0) return sig;

  const uint8_t* der = reinterpret_cast<const uint8_t*>(sig.data());
  UniquePtr<ECDSA_SIG> ecdsa(d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(sig.size())));
  if (ecdsa == nullptr) return OpenSslInternal("d2i_ECDSA_SIG");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(ecdsa.get(), &r, &s);
  std::string raw(2 * scalar, '\0');
  auto* out = reinterpret_cast<uint8_t*>(raw.data());
  if (BN_bn2binpad(r, out, static_cast<int>(scalar)) != static_cast<int>(scalar) ||
      BN_bn2binpad(s, out + scalar, static_cast<int>(scalar)) != static_cast<int>(scalar)) {
    return OpenSslInternal("BN_bn2binpad");
  }
  return raw;
}

// True when `signature` (raw r||s for ECDSA) over `input` verifies with `key`.
absl::StatusOr<bool> Verify(const PrivateKey& key, std::string_view input,
                            std::string_view signature) {
  std::string sig(signature);
  const size_t scalar = EcScalarSize(key.type());
  if (scalar != 0) {
    if (signature.size() != 2 * scalar) return false;
    const auto* raw = reinterpret_cast<const uint8_t*>(signature.data());
    UniquePtr<ECDSA_SIG> ecdsa(ECDSA_SIG_new());
    UniquePtr<BIGNUM> r(BN_bin2bn(raw, static_cast<int>(scalar), nullptr));
    UniquePtr<BIGNUM> s(BN_bin2bn(raw + scalar, static_cast<int>(scalar), nullptr));
    if (ecdsa == nullptr || r == nullptr || s == nullptr) return OpenSslInternal("BN_bin2bn");
    if (ECDSA_SIG_set0(ecdsa.get(), r.get(), s.get()) != 1)
      return OpenSslInternal("ECDSA_SIG_set0");
    r.release();  // Now owned by ecdsa.
    s.release();
    uint8_t* der = nullptr;
    int der_len = i2d_ECDSA_SIG(ecdsa.get(), &der);
    if (der_len <= 0) return OpenSslInternal("i2d_ECDSA_SIG");
    sig.assign(reinterpret_cast<char*>(der), static_cast<size_t>(der_len));
    OPENSSL_free(der);
  }
  UniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return OpenSslInternal("EVP_MD_CTX_new");
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, DigestFor(key.type()), nullptr, key.get()) != 1) {
    return OpenSslInternal("EVP_DigestVerifyInit");
  }
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const uint8_t*>(sig.data()), sig.size(),
                            reinterpret_cast<const uint8_t*>(input.data()), input.size());
  ERR_clear_error();
  return rc == 1;
}

// Reads a string member of a flattened JWS.
absl::StatusOr<std::string> Member(const nlohmann::json& jws, const char* name) {
  auto it = jws.find(name);
  if (it == jws.end() || !it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("JWS lacks string member \"", name, "\""));
  }
  return it->get<std::string>();
}

}  // namespace

std::string_view JwsAlgorithm(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP256:
      return "ES256";
    case KeyType::kEcdsaP384:
      return "ES384";
    case KeyType::kRsa2048:
    case KeyType::kRsa3072:
    case KeyType::kRsa4096:
      return "RS256";
  }
  return "";
}

absl::StatusOr<nlohmann::json> SignJws(const PrivateKey& key, const JwsHeader& header,
                                       std::string_view payload) {
  if (header.url.empty()) return absl::InvalidArgumentError("JWS header needs a url");
  nlohmann::json protected_header = nlohmann::json::object();
  protected_header["alg"] = std::string(JwsAlgorithm(key.type()));
  // keyChange's inner JWS carries no nonce (RFC 8555 7.3.5): omit it when empty.
  if (!header.nonce.empty()) protected_header["nonce"] = header.nonce;
  protected_header["url"] = header.url;
  if (header.kid.empty()) {
    nlohmann::json jwk = PublicJwk(key);
    if (jwk.empty()) return absl::InternalError("cannot build the public JWK");
    protected_header["jwk"] = std::move(jwk);
  } else {
    protected_header["kid"] = header.kid;
  }
  std::string protected_b64 = Base64UrlEncode(protected_header.dump());
  std::string payload_b64 = Base64UrlEncode(payload);
  ASSIGN_OR_RETURN(std::string signature, Sign(key, absl::StrCat(protected_b64, ".", payload_b64)));
  return nlohmann::json{{"protected", std::move(protected_b64)},
                        {"payload", std::move(payload_b64)},
                        {"signature", Base64UrlEncode(signature)}};
}

absl::StatusOr<nlohmann::json> SignExternalAccountBinding(const PrivateKey& account_key,
                                                          std::string_view eab_kid,
                                                          std::string_view hmac_key_b64url,
                                                          std::string_view url) {
  absl::StatusOr<std::string> hmac_key = Base64UrlDecode(hmac_key_b64url);
  if (!hmac_key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("EAB HMAC key is not base64url: ", hmac_key.status().message()));
  }
  if (hmac_key->empty()) return absl::InvalidArgumentError("EAB HMAC key is empty");
  if (eab_kid.empty()) return absl::InvalidArgumentError("EAB key id is empty");
  nlohmann::json jwk = PublicJwk(account_key);
  if (jwk.empty()) return absl::InternalError("cannot build the public JWK");
  nlohmann::json protected_header = {
      {"alg", "HS256"}, {"kid", std::string(eab_kid)}, {"url", std::string(url)}};
  std::string protected_b64 = Base64UrlEncode(protected_header.dump());
  std::string payload_b64 = Base64UrlEncode(jwk.dump());
  std::string input = absl::StrCat(protected_b64, ".", payload_b64);
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), hmac_key->data(), static_cast<int>(hmac_key->size()),
           reinterpret_cast<const uint8_t*>(input.data()), input.size(), mac,
           &mac_len) == nullptr) {
    return OpenSslInternal("HMAC-SHA256");
  }
  return nlohmann::json{{"protected", std::move(protected_b64)},
                        {"payload", std::move(payload_b64)},
                        {"signature", Base64UrlEncode(AsChars(mac, mac_len))}};
}

absl::StatusOr<nlohmann::json> VerifyJws(const PrivateKey& key, const nlohmann::json& jws) {
  if (!jws.is_object()) return absl::InvalidArgumentError("JWS is not a JSON object");
  ASSIGN_OR_RETURN(std::string protected_b64, Member(jws, "protected"));
  ASSIGN_OR_RETURN(std::string payload_b64, Member(jws, "payload"));
  ASSIGN_OR_RETURN(std::string signature_b64, Member(jws, "signature"));
  ASSIGN_OR_RETURN(std::string protected_json, Base64UrlDecode(protected_b64));
  ASSIGN_OR_RETURN(std::string signature, Base64UrlDecode(signature_b64));
  nlohmann::json header =
      nlohmann::json::parse(protected_json, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) {
    return absl::InvalidArgumentError("JWS protected header is not a JSON object");
  }
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string() || *alg != JwsAlgorithm(key.type())) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWS alg is not ", std::string(JwsAlgorithm(key.type()))));
  }
  ASSIGN_OR_RETURN(bool ok, Verify(key, absl::StrCat(protected_b64, ".", payload_b64), signature));
  if (!ok) return absl::UnauthenticatedError("JWS signature does not verify");
  return header;
}

}  // namespace certfleet::crypto
