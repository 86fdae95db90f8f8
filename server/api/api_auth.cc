#include "server/api/api_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace certfleet::api {
namespace {

constexpr std::string_view kBearerPrefix = "Bearer ";

// False when OpenSSL fails (then `digest` must not be compared).
bool Sha256(std::string_view data, std::array<uint8_t, 32>* digest) {
  unsigned int len = 0;
  // EVP_Digest with a static EVP_MD allocates nothing we must free.
  return EVP_Digest(data.data(), data.size(), digest->data(), &len, EVP_sha256(), nullptr) == 1 &&
         len == digest->size();
}

bool IsHex64(std::string_view text) {
  if (text.size() != 64) return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); });
}

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
    if (!IsHex64(client.token_sha256)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": token_sha256 must be 64 hex digits"));
    }
    Client entry;
    entry.name = client.name;
    std::string bytes = absl::HexStringToBytes(client.token_sha256);
    std::copy(bytes.begin(), bytes.end(), entry.digest.begin());
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
  std::array<uint8_t, 32> presented{};
  if (!Sha256(token, &presented)) return Rejected();
  // Every client is compared, so the time taken does not tell which one (nearly) matched.
  bool match = false;
  for (const Client& client : clients_) {
    match |= CRYPTO_memcmp(presented.data(), client.digest.data(), presented.size()) == 0;
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
