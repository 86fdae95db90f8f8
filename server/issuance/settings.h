#pragma once

// What the issuance module needs to know about the configured CAs and the defaults for new
// managed certificates. Filled from the server's config file (server/app/config.h).

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/crypto/key.h"

namespace certfleet::issuance {

// One configured ACME CA.
struct CaSettings {
  std::string name;           // The configured name, e.g. "pebble".
  std::string directory_url;  // https://.../directory
  std::vector<std::string> contact;  // "mailto:..." URIs.
  std::string eab_kid;        // External account binding key id ("" = none).
  std::string eab_hmac_key;   // base64url HMAC key. Secret: never log.
  std::string ca_bundle;      // PEM file trusted for the CA's HTTPS ("" = system store).
  std::string preferred_chain;  // Issuer CN of the preferred chain ("" = CA default).
  std::string profile;          // ACME profile to request ("" = none).
  bool profile_mandatory = false;
  bool terms_of_service_agreed = false;
};

// Defaults applied to requests that leave a field unset, and the worker settings.
struct IssuanceDefaults {
  std::string default_ca;  // Name of the CA used when a request names none.
  std::vector<std::string> challenge_preference = {"tls-alpn-01", "http-01"};
  crypto::KeyType key_type = crypto::KeyType::kEcdsaP256;
  // Renew this long before notAfter. When it is at least the certificate's whole lifetime
  // (short-lived certificates), renew once 2/3 of the lifetime has passed instead.
  absl::Duration renew_before = absl::Hours(24 * 30);
  // How often the renewal scheduler looks for certificates due for renewal (first look at
  // start). Config "defaults.renewal_check_interval"; at least 1 s.
  absl::Duration renewal_check_interval = absl::Hours(1);
  int workers = 4;
};

// All CAs by configured name.
using CaSettingsMap = std::map<std::string, CaSettings>;

}  // namespace certfleet::issuance
