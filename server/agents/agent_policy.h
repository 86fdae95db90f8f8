#pragma once

// Who may connect as which agent, and for which names: the server's answer to "an agent may
// only act for the names it is allowed". The default policy denies every agent.

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/crypto/token_digest.h"
#include "common/identifiers/identifier.h"

namespace certfleet::agents {

// One agent the server accepts: its id, its secret, and the names it may act for.
struct AgentGrant {
  std::string agent_id;
  // SHA-256 of the bearer token, 64 hex digits (preferred in config files)...
  std::string token_sha256;
  // ...or the token itself. Exactly one of the two must be set.
  std::string token;
  // Allowed names: exact names ("www.example.com", "192.0.2.1", "*.example.com" for the
  // wildcard itself) or "*.example.com", which also allows any single label under
  // example.com ("a.example.com", not "a.b.example.com" nor "example.com").
  std::vector<std::string> allowed_names;
};

// Immutable authorization policy, safe to share between threads once built.
class AgentPolicy {
 public:
  // Denies every agent (the default).
  AgentPolicy() = default;

  // Development mode for loopback stacks: any agent id, any or no token, any names.
  static AgentPolicy AllowAnyAgent();

  // Builds a policy from grants. InvalidArgument naming the grant when an agent id is
  // malformed or repeated, the token is missing/doubled/not 64 hex digits, or a pattern is
  // not a valid name.
  static absl::StatusOr<AgentPolicy> FromGrants(const std::vector<AgentGrant>& grants);

  // True in development mode.
  bool allow_any_agent() const { return allow_any_; }

  // OK when `agent_id` is granted and `token` (the bearer token, empty when none was
  // presented) matches, compared in constant time. Unauthenticated otherwise.
  absl::Status Authenticate(std::string_view agent_id, std::string_view token) const;

  // OK when `agent_id` may act for `name` (normalised); PermissionDenied naming both otherwise.
  absl::Status CheckName(std::string_view agent_id, const identifiers::Identifier& name) const;

 private:
  struct Entry {
    crypto::TokenDigest token_digest{};
    std::vector<identifiers::Identifier> patterns;
  };
  bool allow_any_ = false;
  std::map<std::string, Entry, std::less<>> entries_;
};

// True when `agent_id` is 1 to 128 characters of [A-Za-z0-9._-].
bool IsValidAgentId(std::string_view agent_id);

// True when the allowed `pattern` covers `name` (both normalised): equal, or pattern
// "*.S" and name "L.S" for one non-wildcard DNS label L.
bool PatternCovers(const identifiers::Identifier& pattern, const identifiers::Identifier& name);

// Lower-case hex SHA-256 of `token`, for writing `token_sha256` into a config file.
std::string TokenSha256Hex(std::string_view token);

}  // namespace certfleet::agents
