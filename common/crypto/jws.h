#pragma once

// JWS in the flattened JSON serialization as RFC 8555 section 6.2 requires, and the
// HMAC-SHA256 inner JWS of external account binding (section 7.3.4).

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/crypto/key.h"
#include <nlohmann/json.hpp>

namespace certfleet::crypto {

// "ES256" (P-256), "ES384" (P-384), "RS256" (any RSA size).
std::string_view JwsAlgorithm(KeyType type);

// Protected-header fields that vary per request. Exactly one of `kid` (account URL) and
// the embedded `jwk` is used: `jwk` when kid is empty (newAccount, revoke by cert key).
struct JwsHeader {
  std::string url;
  std::string nonce;
  std::string kid;
};

// Signs `payload` (raw bytes, "" for POST-as-GET) with `key`. Returns the flattened JSON
// {"protected","payload","signature"}; ECDSA signatures are raw r||s (RFC 7518 3.4).
absl::StatusOr<nlohmann::json> SignJws(const PrivateKey& key, const JwsHeader& header,
                                       std::string_view payload);

// The EAB inner JWS: protected {"alg":"HS256","kid":eab_kid,"url":url}, payload the
// account's public JWK, HMAC-SHA256 with the decoded `hmac_key_b64url`. InvalidArgument
// when the HMAC key is not base64url or is empty.
absl::StatusOr<nlohmann::json> SignExternalAccountBinding(const PrivateKey& account_key,
                                                          std::string_view eab_kid,
                                                          std::string_view hmac_key_b64url,
                                                          std::string_view url);

// Verifies a flattened JWS signed with `key` (used by tests and by keyChange checks);
// returns the decoded protected header, or InvalidArgument/Unauthenticated.
absl::StatusOr<nlohmann::json> VerifyJws(const PrivateKey& key, const nlohmann::json& jws);

}  // namespace certfleet::crypto
