#include "server/agents/agent_policy.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace certfleet::agents {
namespace {

// False when OpenSSL fails (then `digest` must not be compared).
bool Sha256(std::string_view data, std::array<uint8_t, 32>* digest) {
  unsigned int len = 0;
  // EVP_Digest with a static EVP_MD allocates nothing we must free.
  return EVP_Digest(data.data(), data.size(), digest->data(), &len, EVP_sha256(), nullptr) == 1 &&
         len == digest->size();
}

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
  std::array<uint8_t, 32> digest{};
  if (!Sha256(token, &digest)) return "";
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
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
    if (!grant.token.empty()) {
      if (!Sha256(grant.token, &entry.token_digest)) {
        return absl::InternalError(absl::StrCat(where, ": SHA-256 failed"));
      }
    } else {
      if (grant.token_sha256.size() != 64) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": token_sha256 must be 64 hex digits"));
      }
      for (char c : grant.token_sha256) {
        if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": token_sha256 must be 64 hex digits"));
        }
      }
      std::string bytes = absl::HexStringToBytes(grant.token_sha256);
      std::copy(bytes.begin(), bytes.end(), entry.token_digest.begin());
    }
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
  std::array<uint8_t, 32> presented{};
  if (!Sha256(token, &presented) ||
      CRYPTO_memcmp(presented.data(), it->second.token_digest.data(), presented.size()) != 0) {
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
