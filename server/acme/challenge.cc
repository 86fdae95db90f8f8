#include "server/acme/challenge.h"

#include "absl/strings/str_cat.h"

namespace certfleet::acme {
namespace {
std::string Str(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}
}  // namespace

absl::StatusOr<Challenge> Challenge::FromJson(const nlohmann::json& json) {
  if (!json.is_object()) return absl::InvalidArgumentError("challenge is not a JSON object");
  Challenge c;
  c.type = Str(json, "type");
  c.url = Str(json, "url");
  c.status = Str(json, "status");
  c.token = Str(json, "token");
  if (c.type.empty() || c.url.empty()) {
    return absl::InvalidArgumentError("challenge lacks type or url");
  }
  auto error = json.find("error");
  if (error != json.end() && error->is_object()) {
    auto problem = ParseProblem(error->dump());
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
