#pragma once

// The ACME directory (RFC 8555 section 7.1.1) and its meta object.

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace certfleet::acme {

// The directory's "meta" object. `profiles` maps profile name → description
// (draft-aaron-acme-profiles).
struct DirectoryMeta {
  std::string terms_of_service;
  std::string website;
  std::vector<std::string> caa_identities;
  bool external_account_required = false;
  std::map<std::string, std::string> profiles;
};

// The resource URLs of one CA. Required: newNonce, newAccount, newOrder; the rest may be "".
struct Directory {
  std::string new_nonce;
  std::string new_account;
  std::string new_order;
  std::string new_authz;
  std::string revoke_cert;
  std::string key_change;
  std::string renewal_info;
  DirectoryMeta meta;

  // Parses a directory object; InvalidArgument naming the missing/mistyped member.
  static absl::StatusOr<Directory> FromJson(const nlohmann::json& json);
};

}  // namespace certfleet::acme
