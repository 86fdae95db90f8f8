#include "server/acme/challenge.h"

#include "absl/strings/str_cat.h"
#include "server/acme/json_fields.h"

namespace certfleet::acme {

absl::StatusOr<Challenge> Challenge::FromJson(const nlohmann::json& json) {
  if (!json.is_object()) return absl::InvalidArgumentError("challenge is not a JSON object");
  Challenge c;
  c.type = JsonString(json, "type");
  c.url = JsonString(json, "url");
  c.status = JsonString(json, "status");
  c.token = JsonString(json, "token");
  if (c.type.empty() || c.url.empty()) {
    return absl::InvalidArgumentError("challenge lacks type or url");
  }
  auto error = json.find("error");
  if (error != json.end() && error->is_object()) {
    auto problem = Problem::FromJson(*error);
    if (problem.ok()) c.error = *std::move(problem);
  }
  return c;
}

absl::StatusOr<Challenge> RespondToChallenge(AcmeClient& client, const std::string& url) {
  auto response = client.SignedPost(url, nlohmann::json::object());
  if (!response.ok()) {
    return AnnotateStatus(response.status(), absl::StrCat("responding to challenge ", url));
  }
  return Challenge::FromJson(response->json);
}

}  // namespace certfleet::acme
