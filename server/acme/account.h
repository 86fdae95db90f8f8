#pragma once

// ACME account resources (RFC 8555 section 7.3): registration (with external account
// binding), lookup, key rollover and deactivation. Each call is synchronous (worker threads).

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/crypto/key.h"
#include "server/acme/acme_client.h"

namespace certfleet::acme {

// What to register. The EAB fields are used when both are set (and required when the
// directory says externalAccountRequired).
struct AccountOptions {
  std::vector<std::string> contact;  // "mailto:ops@example.com"
  bool terms_of_service_agreed = false;
  std::string eab_kid;
  std::string eab_hmac_key;  // base64url; secret, never logged
};

// An account object as the CA returned it.
struct Account {
  std::string url;
  std::string status;  // "valid", "deactivated", "revoked"
  std::vector<std::string> contact;
  std::string orders_url;

  // Parses an account object; `url` is the account URL (Location). InvalidArgument when
  // `json` is not an object.
  static absl::StatusOr<Account> FromJson(const nlohmann::json& json, std::string url);
};

// newAccount with the client's account key; sets the client's account URL. An existing
// account for that key is returned as is (200). FailedPrecondition when the CA requires EAB
// and none is configured; the CA's problem otherwise (e.g. PermissionDenied on a bad EAB).
absl::StatusOr<Account> RegisterAccount(AcmeClient& client, const AccountOptions& options);
// newAccount with onlyReturnExisting; sets the client's account URL. NotFound
// (accountDoesNotExist) when no account has the client's key.
absl::StatusOr<Account> LookUpAccount(AcmeClient& client);
// POST-as-GET of the client's account URL.
absl::StatusOr<Account> FetchAccount(AcmeClient& client);
// keyChange (RFC 8555 section 7.3.5): the inner JWS is signed by `new_key` (with jwk), the
// outer by the current key (with kid). On success the client signs with `new_key`
// from then on; on failure it keeps the old key. The caller persists the new key.
absl::Status ChangeAccountKey(AcmeClient& client, crypto::PrivateKey new_key);
// Deactivates the client's account (RFC 8555 section 7.3.6); returns the updated account.
absl::StatusOr<Account> DeactivateAccount(AcmeClient& client);

}  // namespace certfleet::acme
