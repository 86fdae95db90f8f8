#include "server/acme/account.h"

#include "absl/strings/str_cat.h"
#include "common/crypto/jwk.h"
#include "common/crypto/jws.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "server/acme/json_fields.h"
#include "server/acme/problem.h"

namespace certfleet::acme {
namespace {

absl::StatusOr<Account> AccountFromResponse(const AcmeResponse& response,
                                            const std::string& fallback_url) {
  std::string url = response.location();
  if (url.empty()) url = fallback_url;
  if (url.empty()) return absl::InvalidArgumentError("account response has no Location");
  return Account::FromJson(response.json, url);
}

}  // namespace

absl::StatusOr<Account> Account::FromJson(const nlohmann::json& json, std::string url) {
  if (!json.is_object()) return absl::InvalidArgumentError("account is not a JSON object");
  Account account;
  account.url = std::move(url);
  account.status = JsonString(json, "status");
  account.orders_url = JsonString(json, "orders");
  auto contact = json.find("contact");
  if (contact != json.end() && contact->is_array()) {
    for (const auto& c : *contact) {
      if (c.is_string()) account.contact.push_back(c.get<std::string>());
    }
  }
  return account;
}

absl::StatusOr<Account> RegisterAccount(AcmeClient& client, const AccountOptions& options) {
  ASSIGN_OR_RETURN(Directory dir, client.GetDirectory());
  auto key = client.account_key();
  if (key == nullptr) return absl::FailedPreconditionError("ACME client has no account key");
  nlohmann::json payload = {{"termsOfServiceAgreed", options.terms_of_service_agreed}};
  if (!options.contact.empty()) payload["contact"] = options.contact;
  const bool have_eab = !options.eab_kid.empty() && !options.eab_hmac_key.empty();
  if (dir.meta.external_account_required && !have_eab) {
    return absl::FailedPreconditionError(absl::StrCat(
        "CA ", client.options().directory_url,
        " requires external account binding: configure an EAB key id and HMAC key"));
  }
  if (have_eab) {
    auto eab = crypto::SignExternalAccountBinding(*key, options.eab_kid, options.eab_hmac_key,
                                                  dir.new_account);
    if (!eab.ok()) return AnnotateStatus(eab.status(), "external account binding");
    payload["externalAccountBinding"] = *std::move(eab);
  }
  auto response = client.SignedPostWithJwk(dir.new_account, payload);
  if (!response.ok()) return AnnotateStatus(response.status(), "newAccount");
  ASSIGN_OR_RETURN(Account account, AccountFromResponse(*response, ""));
  client.set_account_url(account.url);
  CF_LOG(INFO) << "ACME account ready" << Kv("account", account.url)
               << Kv("created", response->status == 201);
  return account;
}

absl::StatusOr<Account> LookUpAccount(AcmeClient& client) {
  ASSIGN_OR_RETURN(Directory dir, client.GetDirectory());
  auto response = client.SignedPostWithJwk(dir.new_account, {{"onlyReturnExisting", true}});
  if (!response.ok()) return AnnotateStatus(response.status(), "account lookup");
  ASSIGN_OR_RETURN(Account account, AccountFromResponse(*response, ""));
  client.set_account_url(account.url);
  return account;
}

absl::StatusOr<Account> FetchAccount(AcmeClient& client) {
  std::string url = client.account_url();
  auto response = client.PostAsGet(url);
  if (!response.ok()) return AnnotateStatus(response.status(), "fetching account");
  return AccountFromResponse(*response, url);
}

absl::Status ChangeAccountKey(AcmeClient& client, crypto::PrivateKey new_key) {
  ASSIGN_OR_RETURN(Directory dir, client.GetDirectory());
  if (dir.key_change.empty()) {
    return absl::UnimplementedError("CA directory offers no keyChange");
  }
  auto old_key = client.account_key();
  std::string account_url = client.account_url();
  if (old_key == nullptr || account_url.empty()) {
    return absl::FailedPreconditionError("keyChange needs a registered account");
  }
  nlohmann::json inner_payload = {{"account", account_url},
                                  {"oldKey", crypto::PublicJwk(*old_key)}};
  // Inner JWS: new key, embedded jwk, no nonce (RFC 8555 section 7.3.5).
  crypto::JwsHeader inner_header{dir.key_change, "", ""};
  ASSIGN_OR_RETURN(nlohmann::json inner,
                   crypto::SignJws(new_key, inner_header, inner_payload.dump()));
  auto response = client.SignedPost(dir.key_change, inner);
  if (!response.ok()) return AnnotateStatus(response.status(), "keyChange");
  client.SetAccountKey(std::move(new_key));
  CF_LOG(INFO) << "ACME account key changed" << Kv("account", account_url);
  return absl::OkStatus();
}

absl::StatusOr<Account> DeactivateAccount(AcmeClient& client) {
  std::string url = client.account_url();
  auto response = client.SignedPost(url, {{"status", "deactivated"}});
  if (!response.ok()) return AnnotateStatus(response.status(), "deactivating account");
  CF_LOG(INFO) << "ACME account deactivated" << Kv("account", url);
  return AccountFromResponse(*response, url);
}

}  // namespace certfleet::acme
