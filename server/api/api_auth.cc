#include "server/api/api_auth.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/token_digest.h"
#include "common/log.h"

namespace certfleet::api {
namespace {

constexpr std::string_view kBearerPrefix = "Bearer ";

absl::Status Rejected() { return absl::UnauthenticatedError(kApiTokenRequiredMessage); }

}  // namespace

absl::StatusOr<ApiAuthenticator> ApiAuthenticator::FromClients(
    const std::vector<ApiClient>& clients) {
  ApiAuthenticator auth;
  std::set<std::string> names;
  for (size_t i = 0; i < clients.size(); ++i) {
    const ApiClient& client = clients[i];
    std::string where = absl::StrCat("api client #", i + 1, " (\"",
                                     absl::CHexEscape(client.name.substr(0, 64)), "\")");
    if (client.name.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": no name"));
    if (!names.insert(client.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": name appears twice"));
    }
    absl::StatusOr<crypto::TokenDigest> digest = crypto::ParseTokenDigestHex(client.token_sha256);
    if (!digest.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": token_sha256 ", digest.status().message()));
    }
    Client entry;
    entry.name = client.name;
    entry.digest = *digest;
    auth.clients_.push_back(std::move(entry));
  }
  return auth;
}

absl::Status ApiAuthenticator::CheckAuthorization(
    const std::vector<std::string_view>& values) const {
  if (open()) return absl::OkStatus();
  if (values.size() != 1) return Rejected();
  std::string_view value = values.front();
  if (value.size() <= kBearerPrefix.size() ||
      !absl::EqualsIgnoreCase(absl::string_view(value.data(), kBearerPrefix.size()),
                              absl::string_view(kBearerPrefix.data(), kBearerPrefix.size()))) {
    return Rejected();
  }
  std::string_view token = value.substr(kBearerPrefix.size());
  absl::StatusOr<crypto::TokenDigest> presented = crypto::DigestToken(token);
  if (!presented.ok()) return Rejected();
  // Every client is compared, so the time taken does not tell which one (nearly) matched.
  bool match = false;
  for (const Client& client : clients_) {
    match |= crypto::TokenDigestsEqual(*presented, client.digest);
  }
  return match ? absl::OkStatus() : Rejected();
}

absl::Status ApiAuthenticator::Check(const grpc::CallbackServerContext& context,
                                     std::string_view method) const {
  if (open()) return absl::OkStatus();
  std::vector<std::string_view> values;
  const auto& metadata = context.client_metadata();
  for (auto [it, end] = metadata.equal_range("authorization"); it != end; ++it) {
    values.emplace_back(it->second.data(), it->second.size());
  }
  absl::Status status = CheckAuthorization(values);
  if (!status.ok()) {
    CF_LOG(WARNING) << "API call rejected: missing or invalid token" << Kv("method", method)
                    << Kv("peer", context.peer()) << Kv("token", values.empty() ? "missing" : "invalid");
  }
  return status;
}

grpc::ServerUnaryReactor* RejectUnauthorized(const ApiAuthenticator* auth,
                                             grpc::CallbackServerContext* context,
                                             std::string_view method) {
  if (auth == nullptr) return nullptr;
  absl::Status status = auth->Check(*context, method);
  if (status.ok()) return nullptr;
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(status.message())));
  return reactor;
}

}  // namespace certfleet::api
