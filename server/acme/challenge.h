#pragma once

// ACME challenge objects (RFC 8555 section 7.5.1/8): parsing and "ready to validate".

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "server/acme/acme_client.h"
#include "server/acme/problem.h"

namespace certfleet::acme {

// One challenge of an authorization.
struct Challenge {
  std::string type;    // "tls-alpn-01", "http-01", "dns-01", ...
  std::string url;
  std::string status;  // pending, processing, valid, invalid
  std::string token;
  std::optional<Problem> error;

  // Parses a challenge object; InvalidArgument when it lacks type or url.
  static absl::StatusOr<Challenge> FromJson(const nlohmann::json& json);
};

// Tells the CA the challenge is ready (POST {} to its URL); returns the challenge as the CA
// answered it.
absl::StatusOr<Challenge> RespondToChallenge(AcmeClient& client, const std::string& url);

}  // namespace certfleet::acme
