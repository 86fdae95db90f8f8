#include "server/acme/directory.h"

#include "absl/strings/str_cat.h"
#include "server/acme/json_fields.h"

namespace certfleet::acme {
namespace {

absl::Status ReadUrl(const nlohmann::json& json, const char* key, bool required,
                     std::string* out) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) {
    if (required) {
      return absl::InvalidArgumentError(absl::StrCat("ACME directory lacks \"", key, "\""));
    }
    return absl::OkStatus();
  }
  if (!it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ACME directory member \"", key, "\" is not a string"));
  }
  *out = it->get<std::string>();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Directory> Directory::FromJson(const nlohmann::json& json) {
  if (!json.is_object()) return absl::InvalidArgumentError("ACME directory is not a JSON object");
  Directory dir;
  absl::Status s;
  if (!(s = ReadUrl(json, "newNonce", true, &dir.new_nonce)).ok()) return s;
  if (!(s = ReadUrl(json, "newAccount", true, &dir.new_account)).ok()) return s;
  if (!(s = ReadUrl(json, "newOrder", true, &dir.new_order)).ok()) return s;
  if (!(s = ReadUrl(json, "newAuthz", false, &dir.new_authz)).ok()) return s;
  if (!(s = ReadUrl(json, "revokeCert", false, &dir.revoke_cert)).ok()) return s;
  if (!(s = ReadUrl(json, "keyChange", false, &dir.key_change)).ok()) return s;
  if (!(s = ReadUrl(json, "renewalInfo", false, &dir.renewal_info)).ok()) return s;
  auto meta = json.find("meta");
  if (meta != json.end() && meta->is_object()) {
    dir.meta.terms_of_service = JsonString(*meta, "termsOfService");
    dir.meta.website = JsonString(*meta, "website");
    auto caa = meta->find("caaIdentities");
    if (caa != meta->end() && caa->is_array()) {
      for (const auto& v : *caa) {
        if (v.is_string()) dir.meta.caa_identities.push_back(v.get<std::string>());
      }
    }
    auto ear = meta->find("externalAccountRequired");
    dir.meta.external_account_required = ear != meta->end() && ear->is_boolean() && ear->get<bool>();
    auto profiles = meta->find("profiles");
    if (profiles != meta->end() && profiles->is_object()) {
      for (auto it = profiles->begin(); it != profiles->end(); ++it) {
        dir.meta.profiles[it.key()] = it.value().is_string() ? it.value().get<std::string>() : "";
      }
    }
  }
  return dir;
}

}  // namespace certfleet::acme
