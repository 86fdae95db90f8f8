#pragma once

// The command-line spelling of the API's enums, both ways ("ecdsa-p256" <->
// KEY_TYPE_ECDSA_P256, "tls-alpn-01" <-> CHALLENGE_TYPE_TLS_ALPN_01, ...).

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "certfleet/v1/accounts.pb.h"
#include "certfleet/v1/certificates.pb.h"
#include "certfleet/v1/types.pb.h"

namespace certfleet::cli {

// Parses ecdsa-p256|ecdsa-p384|rsa2048|rsa3072|rsa4096; kInvalidArgument otherwise.
absl::StatusOr<v1::KeyType> ParseKeyType(absl::string_view text);
// "ecdsa-p256", ...; "" for KEY_TYPE_UNSPECIFIED.
std::string KeyTypeName(v1::KeyType key_type);

// Parses tls-alpn-01|http-01|dns-01; kInvalidArgument otherwise.
absl::StatusOr<v1::ChallengeType> ParseChallengeType(absl::string_view text);
// "tls-alpn-01", ...; "" for CHALLENGE_TYPE_UNSPECIFIED.
std::string ChallengeTypeName(v1::ChallengeType type);

// Parses pending|running|valid|failed; kInvalidArgument otherwise.
absl::StatusOr<v1::Issuance::State> ParseIssuanceState(absl::string_view text);
// "pending", "running", "valid", "failed"; "" for STATE_UNSPECIFIED.
std::string IssuanceStateName(v1::Issuance::State state);

// "issue", "renew"; "" for REASON_UNSPECIFIED.
std::string IssuanceReasonName(v1::Issuance::Reason reason);

// "valid", "deactivated", "revoked"; "" for STATUS_UNSPECIFIED.
std::string AccountStatusName(v1::Account::Status status);

// Parses an RFC 5280 CRLReason: a name (unspecified, keyCompromise, affiliationChanged,
// superseded, cessationOfOperation; case-insensitive) or a number 0-10. kInvalidArgument
// otherwise.
absl::StatusOr<int> ParseRevocationReason(absl::string_view text);

}  // namespace certfleet::cli
