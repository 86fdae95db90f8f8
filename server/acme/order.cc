#include "server/acme/order.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/crypto/base64url.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "server/acme/json_fields.h"
#include "server/acme/retry_after.h"

namespace certfleet::acme {
namespace {

std::string JoinIds(const std::vector<identifiers::Identifier>& ids) {
  return absl::StrJoin(ids, ", ", [](std::string* out, const identifiers::Identifier& id) {
    out->append(id.value);
  });
}

absl::StatusOr<Order> OrderFromResponse(AcmeClient& client, const AcmeResponse& response,
                                        std::string url) {
  ASSIGN_OR_RETURN(Order order, Order::FromJson(response.json, std::move(url)));
  order.retry_after = ReadRetryAfter(response.headers, client.clock()->Now());
  return order;
}

}  // namespace

absl::StatusOr<identifiers::Identifier> IdentifierFromJson(const nlohmann::json& json) {
  if (!json.is_object()) return absl::InvalidArgumentError("identifier is not an object");
  std::string type = JsonString(json, "type");
  identifiers::Identifier id;
  if (type == "dns") {
    id.type = identifiers::IdentifierType::kDns;
  } else if (type == "ip") {
    id.type = identifiers::IdentifierType::kIp;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unsupported identifier type \"", type, "\""));
  }
  id.value = JsonString(json, "value");
  return id;
}

nlohmann::json IdentifierToJson(const identifiers::Identifier& id) {
  return {{"type", std::string(id.TypeString())}, {"value", id.value}};
}

absl::StatusOr<Order> Order::FromJson(const nlohmann::json& json, std::string url) {
  if (!json.is_object()) return absl::InvalidArgumentError("order is not a JSON object");
  Order order;
  order.url = std::move(url);
  order.status = JsonString(json, "status");
  if (order.status.empty()) return absl::InvalidArgumentError("order has no status");
  order.expires = JsonRfc3339Time(json, "expires");
  auto ids = json.find("identifiers");
  if (ids != json.end() && ids->is_array()) {
    for (const auto& j : *ids) {
      ASSIGN_OR_RETURN(auto id, IdentifierFromJson(j));
      order.identifiers.push_back(std::move(id));
    }
  }
  auto authzs = json.find("authorizations");
  if (authzs != json.end() && authzs->is_array()) {
    for (const auto& a : *authzs) {
      if (a.is_string()) order.authorizations.push_back(a.get<std::string>());
    }
  }
  order.finalize = JsonString(json, "finalize");
  order.certificate = JsonString(json, "certificate");
  order.profile = JsonString(json, "profile");
  auto error = json.find("error");
  if (error != json.end() && error->is_object()) {
    auto problem = Problem::FromJson(*error);
    if (problem.ok()) order.error = *std::move(problem);
  }
  return order;
}

absl::StatusOr<std::string> SelectProfile(const DirectoryMeta& meta, const std::string& wanted,
                                          bool mandatory) {
  if (wanted.empty()) return std::string();
  if (meta.profiles.count(wanted) > 0) return wanted;
  std::vector<std::string> offered;
  for (const auto& [name, description] : meta.profiles) offered.push_back(name);
  std::string offered_text = offered.empty() ? "none" : absl::StrJoin(offered, ", ");
  if (mandatory) {
    return absl::InvalidArgumentError(absl::StrCat("certificate profile \"", wanted,
                                                   "\" is not offered by the CA (offered: ",
                                                   offered_text, ")"));
  }
  CF_LOG(WARNING) << "certificate profile not offered by the CA; ordering without a profile"
                  << Kv("profile", wanted) << Kv("offered", offered_text);
  return std::string();
}

absl::StatusOr<Order> NewOrder(AcmeClient& client,
                               const std::vector<identifiers::Identifier>& ids,
                               const std::string& profile) {
  ASSIGN_OR_RETURN(Directory dir, client.GetDirectory());
  nlohmann::json payload;
  payload["identifiers"] = nlohmann::json::array();
  for (const auto& id : ids) payload["identifiers"].push_back(IdentifierToJson(id));
  if (!profile.empty()) payload["profile"] = profile;
  auto response = client.SignedPost(dir.new_order, payload);
  if (!response.ok()) {
    return AnnotateStatus(response.status(), absl::StrCat("newOrder for ", JoinIds(ids)));
  }
  std::string url = response->location();
  if (url.empty()) return absl::InvalidArgumentError("newOrder answer has no Location");
  return OrderFromResponse(client, *response, url);
}

absl::StatusOr<Order> FetchOrder(AcmeClient& client, const std::string& order_url) {
  auto response = client.PostAsGet(order_url);
  if (!response.ok()) {
    return AnnotateStatus(response.status(), absl::StrCat("fetching order ", order_url));
  }
  return OrderFromResponse(client, *response, order_url);
}

absl::StatusOr<Order> FinalizeOrder(AcmeClient& client, const Order& order,
                                    const std::string& csr_der) {
  auto response =
      client.SignedPostOnce(order.finalize, {{"csr", crypto::Base64UrlEncode(csr_der)}});
  if (!response.ok()) {
    return AnnotateStatus(response.status(), absl::StrCat("finalizing order ", order.url));
  }
  return OrderFromResponse(client, *response, order.url);
}

}  // namespace certfleet::acme
