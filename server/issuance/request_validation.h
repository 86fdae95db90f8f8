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

// Untrusted text for an error message: quoted, at most 64 bytes shown (then "..."), and
// quotes, backslashes and ASCII controls escaped (UTF-8 is left as typed), so an echo stays small enough
// for a gRPC status (whose message travels in a size-limited header) and printable.
std::string QuoteForMessage(std::string_view text);

// A managed-certificate name to look up (get, renew, revoke): 1-253 characters of
// [A-Za-z0-9._*:-] (an IPv6 certificate is named by its address). InvalidArgument
// "certificate_name: no certificate name given" or "certificate_name: \"X\": must be ...".
absl::Status ValidateCertificateNameLookup(std::string_view name);

// An issuance id to look up: 1-128 characters of [A-Za-z0-9._-]. InvalidArgument
// "issuance_id: no issuance id given" or "issuance_id: \"X\": must be ...".
absl::Status ValidateIssuanceId(std::string_view issuance_id);

// A CA name given by a client: "" (the default) or 1-64 characters of [A-Za-z0-9._-],
// the rule CA names in the config follow. InvalidArgument "ca: \"X\": must be ...".
absl::Status ValidateCaName(std::string_view ca);

// A ListCertificates page_token: "" or at most 64 printable ASCII characters (tokens the
// server hands out are short). InvalidArgument "page_token: ..." otherwise.
absl::Status ValidatePageToken(std::string_view page_token);

}  // namespace certfleet::issuance
