#pragma once

// Authentication of the operators' API (Certificates, Accounts, Agents.ListAgents): each
// call carries "authorization: Bearer TOKEN" and TOKEN's SHA-256 must be one of the
// configured API clients'. Agents.Connect is not covered: agents have their own tokens
// (server/agents/agent_policy.h).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/crypto/token_digest.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/server_callback.h"

namespace certfleet::api {

// One client of the API: a name for logs and the SHA-256 of its bearer token.
struct ApiClient {
  std::string name;
  // 64 hex digits (upper or lower case).
  std::string token_sha256;
};

// The message of every rejection; it never contains the presented token.
inline constexpr char kApiTokenRequiredMessage[] =
    "missing or invalid API token (pass --token-file)";

// Immutable, safe to share between threads once built.
class ApiAuthenticator {
 public:
  // Open: every call is allowed (development on loopback, when no client is configured).
  ApiAuthenticator() = default;

  // Requires a token of one of `clients` on every call (open when `clients` is empty).
  // InvalidArgument naming the client when a name is empty or repeated or a digest is not
  // 64 hex digits.
  static absl::StatusOr<ApiAuthenticator> FromClients(const std::vector<ApiClient>& clients);

  // True when no client is configured and every call is allowed.
  bool open() const { return clients_.empty(); }

  // OK when open or the call's "authorization" metadata is "Bearer TOKEN" with a known
  // TOKEN (compared in constant time); Unauthenticated kApiTokenRequiredMessage otherwise,
  // logged at warning with `method` and the peer (never the token).
  absl::Status Check(const grpc::CallbackServerContext& context, std::string_view method) const;

  // The check on the raw values of the "authorization" metadata (all of them; exactly one
  // is accepted). Does not log.
  absl::Status CheckAuthorization(const std::vector<std::string_view>& values) const;

 private:
  struct Client {
    std::string name;
    crypto::TokenDigest digest{};
  };
  std::vector<Client> clients_;
};

// For unary handlers: nullptr when `auth` (null: open) allows the call; otherwise the
// call's default reactor, already finished with the Unauthenticated status.
grpc::ServerUnaryReactor* RejectUnauthorized(const ApiAuthenticator* auth,
                                             grpc::CallbackServerContext* context,
                                             std::string_view method);

}  // namespace certfleet::api
