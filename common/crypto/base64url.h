#pragma once

// base64url without padding (RFC 4648 section 5, RFC 7515 appendix C).

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace certfleet::crypto {

// Encodes bytes as unpadded base64url.
std::string Base64UrlEncode(std::string_view bytes);
// Decodes unpadded (or padded) base64url; InvalidArgument on any other character.
absl::StatusOr<std::string> Base64UrlDecode(std::string_view text);

}  // namespace certfleet::crypto
