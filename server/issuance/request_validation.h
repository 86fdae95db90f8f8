#pragma once

// Validation and normalisation of issuance requests at the edge. Every error is
// InvalidArgument with a message that names the offending field, e.g.
// `names[2]: "a..b": empty label ...` or `request_id: must be 1-64 characters of
// [A-Za-z0-9._-]`.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/identifiers/identifier.h"
#include "server/issuance/settings.h"

namespace certfleet::issuance {

// Most names one certificate may carry.
inline constexpr int kMaxNames = 100;

// Normalises `names` (identifiers::NormalizeIdentifier each, order kept): "names: no names
// given", "names: 101 names given, at most 100 allowed", `names[i]: <why>`, or
// `names[j]: "X" is the same name as names[i] ("Y")` for duplicates.
absl::StatusOr<std::vector<identifiers::Identifier>> NormalizeNames(
    const std::vector<std::string>& names);

// OK for "" (no idempotency key) or 1-64 characters of [A-Za-z0-9._-]; otherwise
// "request_id: must be 1-64 characters of [A-Za-z0-9._-]".
absl::Status ValidateRequestId(std::string_view request_id);

// The CA to use: `requested`, or defaults.default_ca when empty. `ca: unknown CA "foo"
// (configured: a, b)` when it is not configured.
absl::StatusOr<std::string> ResolveCa(std::string_view requested, const CaSettingsMap& cas,
                                      const IssuanceDefaults& defaults);

// Checks challenge type names ("tls-alpn-01", "http-01", "dns-01" is refused as
// unsupported: the server has no dns-01 solver) and duplicates; empty -> the defaults.
absl::StatusOr<std::vector<std::string>> ResolveChallengePreference(
    const std::vector<std::string>& requested, const IssuanceDefaults& defaults);

// A managed-certificate name given by the client: 1-253 characters of [A-Za-z0-9._*-]
// ("" = use the first normalised identifier). `certificate_name: ...` otherwise.
absl::Status ValidateCertificateName(std::string_view name);

}  // namespace certfleet::issuance
