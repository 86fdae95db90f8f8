#include "client/cli/enum_names.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace certfleet::cli {
namespace {

constexpr std::pair<const char*, v1::KeyType> kKeyTypes[] = {
    {"ecdsa-p256", v1::KEY_TYPE_ECDSA_P256}, {"ecdsa-p384", v1::KEY_TYPE_ECDSA_P384},
    {"rsa2048", v1::KEY_TYPE_RSA_2048},      {"rsa3072", v1::KEY_TYPE_RSA_3072},
    {"rsa4096", v1::KEY_TYPE_RSA_4096},
};

constexpr std::pair<const char*, v1::ChallengeType> kChallengeTypes[] = {
    {"tls-alpn-01", v1::CHALLENGE_TYPE_TLS_ALPN_01},
    {"http-01", v1::CHALLENGE_TYPE_HTTP_01},
    {"dns-01", v1::CHALLENGE_TYPE_DNS_01},
};

constexpr std::pair<const char*, v1::Issuance::State> kStates[] = {
    {"pending", v1::Issuance::STATE_PENDING},
    {"running", v1::Issuance::STATE_RUNNING},
    {"valid", v1::Issuance::STATE_VALID},
    {"failed", v1::Issuance::STATE_FAILED},
};

constexpr std::pair<const char*, int> kRevocationReasons[] = {
    {"unspecified", 0}, {"keyCompromise", 1},        {"affiliationChanged", 3},
    {"superseded", 4},  {"cessationOfOperation", 5},
};

template <typename T, size_t N>
std::string NameOf(const std::pair<const char*, T> (&table)[N], T value) {
  for (const auto& [name, v] : table) {
    if (v == value) return name;
  }
  return "";
}

template <typename T, size_t N>
std::string Choices(const std::pair<const char*, T> (&table)[N]) {
  std::string out;
  for (const auto& [name, v] : table) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

}  // namespace

absl::StatusOr<v1::KeyType> ParseKeyType(absl::string_view text) {
  for (const auto& [name, value] : kKeyTypes) {
    if (text == name) return value;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown key type \"", text, "\": want one of ", Choices(kKeyTypes)));
}

std::string KeyTypeName(v1::KeyType key_type) {
  std::string name = NameOf(kKeyTypes, key_type);
  if (name.empty() && key_type != v1::KEY_TYPE_UNSPECIFIED) {
    return absl::StrCat("key-type-", static_cast<int>(key_type));
  }
  return name;
}

absl::StatusOr<v1::ChallengeType> ParseChallengeType(absl::string_view text) {
  for (const auto& [name, value] : kChallengeTypes) {
    if (text == name) return value;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown challenge type \"", text,
                                                 "\": want one of ", Choices(kChallengeTypes)));
}

std::string ChallengeTypeName(v1::ChallengeType type) {
  std::string name = NameOf(kChallengeTypes, type);
  if (name.empty() && type != v1::CHALLENGE_TYPE_UNSPECIFIED) {
    return absl::StrCat("challenge-", static_cast<int>(type));
  }
  return name;
}

absl::StatusOr<v1::Issuance::State> ParseIssuanceState(absl::string_view text) {
  for (const auto& [name, value] : kStates) {
    if (text == name) return value;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown state \"", text, "\": want one of ", Choices(kStates)));
}

std::string IssuanceStateName(v1::Issuance::State state) {
  std::string name = NameOf(kStates, state);
  if (name.empty() && state != v1::Issuance::STATE_UNSPECIFIED) {
    return absl::StrCat("state-", static_cast<int>(state));
  }
  return name;
}

std::string IssuanceReasonName(v1::Issuance::Reason reason) {
  switch (reason) {
    case v1::Issuance::REASON_ISSUE:
      return "issue";
    case v1::Issuance::REASON_RENEW:
      return "renew";
    default:
      return "";
  }
}

std::string AccountStatusName(v1::Account::Status status) {
  switch (status) {
    case v1::Account::STATUS_VALID:
      return "valid";
    case v1::Account::STATUS_DEACTIVATED:
      return "deactivated";
    case v1::Account::STATUS_REVOKED:
      return "revoked";
    default:
      return "";
  }
}

absl::StatusOr<int> ParseRevocationReason(absl::string_view text) {
  for (const auto& [name, value] : kRevocationReasons) {
    if (absl::EqualsIgnoreCase(text, name)) return value;
  }
  int number = 0;
  bool all_digits = !text.empty() && text.size() <= 2 &&
                    text.find_first_not_of("0123456789") == absl::string_view::npos;
  if (all_digits && absl::SimpleAtoi(text, &number) && number >= 0 && number <= 10) {
    return number;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown revocation reason \"", text,
                                                 "\": want one of ", Choices(kRevocationReasons),
                                                 " or a number 0-10"));
}

}  // namespace certfleet::cli
