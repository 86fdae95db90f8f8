#include "server/agents/agent_policy.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/token_digest.h"
#include "common/status_macros.h"

namespace certfleet::agents {
namespace {

// Printable, bounded rendering of untrusted text for messages.
std::string Printable(std::string_view text) {
  text = text.substr(0, 64);
  return absl::CHexEscape(absl::string_view(text.data(), text.size()));
}

}  // namespace

bool IsValidAgentId(std::string_view agent_id) {
  if (agent_id.empty() || agent_id.size() > 128) return false;
  for (char c : agent_id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

bool PatternCovers(const identifiers::Identifier& pattern, const identifiers::Identifier& name) {
  if (pattern == name) return true;
  if (pattern.type != identifiers::IdentifierType::kDns ||
      name.type != identifiers::IdentifierType::kDns || !pattern.IsWildcard() ||
      name.IsWildcard()) {
    return false;
  }
  std::string_view suffix = std::string_view(pattern.value).substr(1);  // ".example.com"
  std::string_view value = name.value;
  if (value.size() <= suffix.size() || value.substr(value.size() - suffix.size()) != suffix) {
    return false;
  }
  std::string_view label = value.substr(0, value.size() - suffix.size());
  return label.find('.') == std::string_view::npos;
}

std::string TokenSha256Hex(std::string_view token) {
  absl::StatusOr<crypto::TokenDigest> digest = crypto::DigestToken(token);
  return digest.ok() ? crypto::TokenDigestHex(*digest) : "";
}

AgentPolicy AgentPolicy::AllowAnyAgent() {
  AgentPolicy policy;
  policy.allow_any_ = true;
  return policy;
}

absl::StatusOr<AgentPolicy> AgentPolicy::FromGrants(const std::vector<AgentGrant>& grants) {
  AgentPolicy policy;
  for (size_t i = 0; i < grants.size(); ++i) {
    const AgentGrant& grant = grants[i];
    std::string where =
        absl::StrCat("agent grant #", i + 1, " (\"", Printable(grant.agent_id), "\")");
    if (!IsValidAgentId(grant.agent_id)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": agent_id must be 1 to 128 characters of [A-Za-z0-9._-]"));
    }
    if (policy.entries_.count(grant.agent_id) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": agent_id appears twice"));
    }
    if (grant.token.empty() == grant.token_sha256.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": set exactly one of token and token_sha256"));
    }
    Entry entry;
    absl::StatusOr<crypto::TokenDigest> digest =
        grant.token.empty() ? crypto::ParseTokenDigestHex(grant.token_sha256)
                            : crypto::DigestToken(grant.token);
    if (!digest.ok()) {
      return absl::Status(digest.status().code(),
                          absl::StrCat(where, grant.token.empty() ? ": token_sha256 " : ": ",
                                       digest.status().message()));
    }
    entry.token_digest = *digest;
    for (const std::string& pattern : grant.allowed_names) {
      auto id = identifiers::NormalizeIdentifier(pattern);
      if (!id.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": allowed name: ", id.status().message()));
      }
      entry.patterns.push_back(*std::move(id));
    }
    policy.entries_.emplace(grant.agent_id, std::move(entry));
  }
  return policy;
}

absl::Status AgentPolicy::Authenticate(std::string_view agent_id, std::string_view token) const {
  if (allow_any_) return absl::OkStatus();
  auto it = entries_.find(agent_id);
  if (it == entries_.end()) {
    return absl::UnauthenticatedError(
        absl::StrCat("agent \"", Printable(agent_id), "\" is not known to this server"));
  }
  if (token.empty()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "agent \"", Printable(agent_id), "\" presented no token (authorization: Bearer ...)"));
  }
  absl::StatusOr<crypto::TokenDigest> presented = crypto::DigestToken(token);
  if (!presented.ok() || !crypto::TokenDigestsEqual(*presented, it->second.token_digest)) {
    return absl::UnauthenticatedError(
        absl::StrCat("agent \"", Printable(agent_id), "\" presented a wrong token"));
  }
  return absl::OkStatus();
}

absl::Status AgentPolicy::CheckName(std::string_view agent_id,
                                    const identifiers::Identifier& name) const {
  if (allow_any_) return absl::OkStatus();
  auto it = entries_.find(agent_id);
  if (it != entries_.end()) {
    for (const identifiers::Identifier& pattern : it->second.patterns) {
      if (PatternCovers(pattern, name)) return absl::OkStatus();
    }
  }
  return absl::PermissionDeniedError(
      absl::StrCat("agent \"", Printable(agent_id), "\" is not allowed to act for ", name.value));
}

}  // namespace certfleet::agents
