#pragma once

// ACME authorization resources (RFC 8555 section 7.5) and the choice of a challenge.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/identifiers/identifier.h"
#include "server/acme/acme_client.h"
#include "server/acme/challenge.h"

namespace certfleet::acme {

// The default challenge preference, like mod_md's MDCAChallenges default.
std::vector<std::string> DefaultChallengePreference();

// An authorization object. `identifier` is as the CA states it; for a wildcard
// authorization, "*." is prepended to the value and `wildcard` is true.
struct Authorization {
  std::string url;
  std::string status;  // pending, valid, invalid, deactivated, expired, revoked
  identifiers::Identifier identifier;
  bool wildcard = false;
  std::optional<absl::Time> expires;
  std::vector<Challenge> challenges;
  // Retry-After of the response (polling hint).
  std::optional<absl::Time> retry_after;

  // Parses an authorization object. InvalidArgument when malformed.
  static absl::StatusOr<Authorization> FromJson(const nlohmann::json& json, std::string url);
  // The first challenge with an error (for the CA's detail when the authz is invalid).
  const Challenge* FailedChallenge() const;
};

// POST-as-GET of an authorization.
absl::StatusOr<Authorization> FetchAuthorization(AcmeClient& client, const std::string& url);

// The challenge types of `preference` allowed for `id` (in preference order): a wildcard
// only with dns-01, an IP identifier never with dns-01 (RFC 8738).
std::vector<std::string> AcceptableChallengeTypes(const identifiers::Identifier& id,
                                                  const std::vector<std::string>& preference);
// The offered challenges usable for `authz`, best first by `preference`. InvalidArgument
// for a wildcard when dns-01 is not allowed; FailedPrecondition naming the identifier, the
// offered and the allowed types when nothing offered is allowed.
absl::StatusOr<std::vector<Challenge>> CandidateChallenges(
    const Authorization& authz, const std::vector<std::string>& preference);

}  // namespace certfleet::acme
