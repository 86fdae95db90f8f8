#include "server/issuance/request_validation.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/identifiers/identifier.h"
#include "common/status_macros.h"
#include "server/acme/challenge_solver.h"

namespace certfleet::issuance {
namespace {

bool IsRequestIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '-';
}

std::string Quote(std::string_view s) { return QuoteForMessage(s); }

// True when every character of `text` is in [A-Za-z0-9._-] or `extra`.
bool AllIdChars(std::string_view text, std::string_view extra) {
  for (char c : text) {
    if (!IsRequestIdChar(c) && extra.find(c) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<identifiers::Identifier>> NormalizeNames(
    const std::vector<std::string>& names) {
  if (names.empty()) return absl::InvalidArgumentError("names: no names given");
  if (names.size() > static_cast<size_t>(kMaxNames)) {
    return absl::InvalidArgumentError(absl::StrCat("names: ", names.size(),
                                                   " names given, at most ", kMaxNames,
                                                   " allowed"));
  }
  std::vector<identifiers::Identifier> out;
  out.reserve(names.size());
  std::map<identifiers::Identifier, size_t> seen;
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StatusOr<identifiers::Identifier> id = identifiers::NormalizeIdentifier(names[i]);
    if (!id.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("names[", i, "]: ", id.status().message()));
    }
    auto [it, inserted] = seen.emplace(*id, i);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat("names[", i, "]: ", Quote(names[i]),
                                                     " is the same name as names[",
                                                     it->second, "] (",
                                                     Quote(names[it->second]), ")"));
    }
    out.push_back(*std::move(id));
  }
  return out;
}

absl::Status ValidateRequestId(std::string_view request_id) {
  if (request_id.empty()) return absl::OkStatus();
  bool ok = request_id.size() <= 64;
  for (char c : request_id) ok = ok && IsRequestIdChar(c);
  if (!ok) {
    return absl::InvalidArgumentError("request_id: must be 1-64 characters of [A-Za-z0-9._-]");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ResolveCa(std::string_view requested, const CaSettingsMap& cas,
                                      const IssuanceDefaults& defaults) {
  RETURN_IF_ERROR(ValidateCaName(requested));
  std::string name(requested.empty() ? std::string_view(defaults.default_ca) : requested);
  if (cas.count(name) == 0) {
    std::vector<std::string> configured;
    for (const auto& [n, ca] : cas) configured.push_back(n);
    if (name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ca: no CA given and no default_ca configured (configured: ",
          absl::StrJoin(configured, ", "), ")"));
    }
    return absl::InvalidArgumentError(absl::StrCat("ca: unknown CA ", Quote(name),
                                                   " (configured: ",
                                                   absl::StrJoin(configured, ", "), ")"));
  }
  return name;
}

absl::StatusOr<std::vector<std::string>> ResolveChallengePreference(
    const std::vector<std::string>& requested, const IssuanceDefaults& defaults) {
  if (requested.empty()) return defaults.challenge_preference;
  std::vector<std::string> out;
  for (size_t i = 0; i < requested.size(); ++i) {
    const std::string& type = requested[i];
    std::string field = absl::StrCat("challenge_preference[", i, "]: ");
    if (type == acme::kDns01) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "dns-01 is not supported by this server"));
    }
    if (type != acme::kTlsAlpn01 && type != acme::kHttp01) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "unknown challenge type ", Quote(type)));
    }
    for (const std::string& prev : out) {
      if (prev == type) {
        return absl::InvalidArgumentError(absl::StrCat(field, Quote(type), " given twice"));
      }
    }
    out.push_back(type);
  }
  return out;
}

absl::Status ValidateCertificateName(std::string_view name) {
  if (name.empty()) return absl::OkStatus();
  bool ok = name.size() <= 253;
  for (char c : name) ok = ok && (IsRequestIdChar(c) || c == '*');
  if (!ok) {
    return absl::InvalidArgumentError(
        "certificate_name: must be 1-253 characters of [A-Za-z0-9._*-]");
  }
  return absl::OkStatus();
}

std::string QuoteForMessage(std::string_view text) {
  return identifiers::QuoteForMessage(text, /*max_shown=*/64);
}

absl::Status ValidateCertificateNameLookup(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("certificate_name: no certificate name given");
  if (name.size() > 253 || !AllIdChars(name, "*:")) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate_name: ", QuoteForMessage(name),
                     ": must be 1-253 characters of [A-Za-z0-9._*:-]"));
  }
  return absl::OkStatus();
}

absl::Status ValidateIssuanceId(std::string_view issuance_id) {
  if (issuance_id.empty()) return absl::InvalidArgumentError("issuance_id: no issuance id given");
  if (issuance_id.size() > 128 || !AllIdChars(issuance_id, "")) {
    return absl::InvalidArgumentError(
        absl::StrCat("issuance_id: ", QuoteForMessage(issuance_id),
                     ": must be 1-128 characters of [A-Za-z0-9._-]"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCaName(std::string_view ca) {
  if (ca.empty()) return absl::OkStatus();
  if (ca.size() > 64 || !AllIdChars(ca, "")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ca: ", QuoteForMessage(ca), ": must be 1-64 characters of [A-Za-z0-9._-]"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePageToken(std::string_view page_token) {
  bool ok = page_token.size() <= 64;
  for (char c : page_token) ok = ok && c > 0x20 && c < 0x7f;
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_token: ", QuoteForMessage(page_token),
                     " is not a token returned by ListCertificates"));
  }
  return absl::OkStatus();
}

}  // namespace certfleet::issuance
