#include "common/crypto/key_authorization.h"

#include <openssl/evp.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/crypto/base64url.h"
#include "common/crypto/jwk.h"

namespace certfleet::crypto {

std::string KeyAuthorization(std::string_view token, const PrivateKey& account_key) {
  return absl::StrCat(std::string(token), ".", JwkThumbprint(account_key));
}

std::string KeyAuthorizationDigest(std::string_view key_authorization) {
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(key_authorization.data(), key_authorization.size(), digest, &len, EVP_sha256(),
                 nullptr) != 1) {
    return "";
  }
  return std::string(reinterpret_cast<char*>(digest), len);
}

std::string Dns01TxtValue(std::string_view key_authorization) {
  return Base64UrlEncode(KeyAuthorizationDigest(key_authorization));
}

}  // namespace certfleet::crypto
