#pragma once

// JSON Web Keys (RFC 7517/7518) for our key types and the RFC 7638 thumbprint.

#include <string>

#include "absl/status/statusor.h"
#include "common/crypto/key.h"
#include <nlohmann/json.hpp>

namespace certfleet::crypto {

// The public JWK of `key`: {"crv","kty","x","y"} for EC (coordinates padded to the curve
// size), {"e","kty","n"} for RSA.
nlohmann::json PublicJwk(const PrivateKey& key);
// RFC 7638 thumbprint: base64url(SHA-256(canonical JSON of the required members)).
// InvalidArgument when `jwk` lacks a required member or has an unknown kty.
absl::StatusOr<std::string> JwkThumbprint(const nlohmann::json& jwk);
// Thumbprint of `key`'s public JWK.
std::string JwkThumbprint(const PrivateKey& key);

}  // namespace certfleet::crypto
