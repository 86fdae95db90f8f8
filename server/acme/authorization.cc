#include "server/acme/authorization.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "server/acme/challenge_solver.h"
#include "server/acme/json_fields.h"
#include "server/acme/order.h"
#include "server/acme/retry_after.h"

namespace certfleet::acme {

std::vector<std::string> DefaultChallengePreference() { return {kTlsAlpn01, kHttp01}; }

absl::StatusOr<Authorization> Authorization::FromJson(const nlohmann::json& json,
                                                      std::string url) {
  if (!json.is_object()) return absl::InvalidArgumentError("authorization is not a JSON object");
  Authorization authz;
  authz.url = std::move(url);
  authz.status = JsonString(json, "status");
  if (authz.status.empty()) return absl::InvalidArgumentError("authorization has no status");
  auto id = json.find("identifier");
  if (id == json.end()) return absl::InvalidArgumentError("authorization has no identifier");
  ASSIGN_OR_RETURN(authz.identifier, IdentifierFromJson(*id));
  auto wildcard = json.find("wildcard");
  authz.wildcard = wildcard != json.end() && wildcard->is_boolean() && wildcard->get<bool>();
  if (authz.wildcard && authz.identifier.value.rfind("*.", 0) != 0) {
    authz.identifier.value = "*." + authz.identifier.value;
  }
  authz.expires = JsonRfc3339Time(json, "expires");
  auto challenges = json.find("challenges");
  if (challenges != json.end() && challenges->is_array()) {
    for (const auto& c : *challenges) {
      auto challenge = Challenge::FromJson(c);
      if (challenge.ok()) authz.challenges.push_back(*std::move(challenge));
    }
  }
  return authz;
}

const Challenge* Authorization::FailedChallenge() const {
  for (const Challenge& c : challenges) {
    if (c.error) return &c;
  }
  return nullptr;
}

absl::StatusOr<Authorization> FetchAuthorization(AcmeClient& client, const std::string& url) {
  auto response = client.PostAsGet(url);
  if (!response.ok()) {
    return AnnotateStatus(response.status(), absl::StrCat("fetching authorization ", url));
  }
  ASSIGN_OR_RETURN(Authorization authz, Authorization::FromJson(response->json, url));
  authz.retry_after = ReadRetryAfter(response->headers, client.clock()->Now());
  return authz;
}

std::vector<std::string> AcceptableChallengeTypes(const identifiers::Identifier& id,
                                                  const std::vector<std::string>& preference) {
  std::vector<std::string> out;
  for (const std::string& type : preference) {
    if (std::find(out.begin(), out.end(), type) != out.end()) continue;
    if (id.IsWildcard() && type != kDns01) continue;
    if (id.type == identifiers::IdentifierType::kIp && type == kDns01) continue;
    out.push_back(type);
  }
  return out;
}

absl::StatusOr<std::vector<Challenge>> CandidateChallenges(
    const Authorization& authz, const std::vector<std::string>& preference) {
  std::vector<std::string> allowed = AcceptableChallengeTypes(authz.identifier, preference);
  if (authz.identifier.IsWildcard() && allowed.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("wildcard ", authz.identifier.value,
                     " can only be validated with dns-01, which the challenge preference (",
                     absl::StrJoin(preference, ", "), ") does not allow"));
  }
  std::vector<Challenge> out;
  for (const std::string& type : allowed) {
    for (const Challenge& c : authz.challenges) {
      if (c.type == type) out.push_back(c);
    }
  }
  if (out.empty()) {
    std::vector<std::string> offered;
    for (const Challenge& c : authz.challenges) offered.push_back(c.type);
    return absl::FailedPreconditionError(absl::StrCat(
        "no allowed challenge for ", authz.identifier.value, ": the CA offers [",
        absl::StrJoin(offered, ", "), "], allowed are [", absl::StrJoin(allowed, ", "), "]"));
  }
  return out;
}

}  // namespace certfleet::acme
