#pragma once

// Bearer tokens at rest: servers keep only a token's SHA-256 and compare digests in
// constant time (agent grants and operator API clients alike).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace certfleet::crypto {

using TokenDigest = std::array<uint8_t, 32>;

// SHA-256 of `token`. Internal when OpenSSL fails.
absl::StatusOr<TokenDigest> DigestToken(std::string_view token);
// Parses a digest written as 64 hex digits (either case); InvalidArgument
// "must be 64 hex digits" otherwise.
absl::StatusOr<TokenDigest> ParseTokenDigestHex(std::string_view hex);
// Lower-case hex of `digest`.
std::string TokenDigestHex(const TokenDigest& digest);
// Equality whose time does not depend on where the digests differ.
bool TokenDigestsEqual(const TokenDigest& a, const TokenDigest& b);

}  // namespace certfleet::crypto
