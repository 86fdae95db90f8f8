#pragma once

// Key authorizations (RFC 8555 section 8.1).

#include <string>
#include <string_view>

#include "common/crypto/key.h"

namespace certfleet::crypto {

// token || '.' || base64url(JWK thumbprint of the account key).
std::string KeyAuthorization(std::string_view token, const PrivateKey& account_key);
// SHA-256 of the key authorization: the 32 raw bytes tls-alpn-01 puts in acmeIdentifier.
std::string KeyAuthorizationDigest(std::string_view key_authorization);
// base64url(SHA-256(key authorization)): the dns-01 TXT value.
std::string Dns01TxtValue(std::string_view key_authorization);

}  // namespace certfleet::crypto
