#include "common/identifiers/identifier.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

// Decisions (see also identifier.h):
//  * IDNA: IDNA2008 with UTS#46 non-transitional processing only (IDN2_NONTRANSITIONAL |
//    IDN2_NFC_INPUT). There is deliberately no fallback to transitional processing: it maps
//    "ß"/"ς"/ZWJ/ZWNJ to other names ("straße.de" -> "strasse.de", a different registrable
//    domain) and accepts IDNA2003-only input such as emoji. Browsers, registries and curl's
//    preferred path use non-transitional processing, so a certificate must name that form.
//    Input that fails non-transitional processing is rejected.
//  * "*.com" is accepted: RFC 8555 only requires the wildcard to be the whole leftmost
//    label; refusing wildcards directly over public suffixes needs the public suffix list
//    and is left to the CA.
//  * A name whose last label is all digits is treated as an attempted IP literal (RFC 3696
//    section 2: a top-level label is never all-numeric), so "1.2.3" and "1.2.3.256" fail as
//    invalid IPv4 addresses instead of passing as DNS names. IPv4 uses glibc inet_pton,
//    which accepts only dotted-quad decimal and rejects leading zeros ("01.2.3.4").

namespace certfleet::identifiers {
namespace {

constexpr size_t kMaxNameBytes = 253;
constexpr size_t kMaxLabelBytes = 63;
// Inputs longer than this are rejected before IDN processing. A valid name's U-label form
// can be longer than its 253-byte A-label form, but not by more than this.
constexpr size_t kMaxInputBytes = 1024;
constexpr int kIdnFlags = IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT;

// Debian's abseil keeps absl::string_view distinct from std::string_view.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Splits on '.', keeping empty pieces.
std::vector<std::string_view> SplitLabels(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, dot - start));
    start = dot + 1;
  }
}

std::string Quote(std::string_view text) { return QuoteForMessage(text); }

absl::Status Invalid(std::string_view input, std::string_view rule) {
  std::string_view shown = input;
  std::string suffix;
  if (shown.size() > kMaxInputBytes) {
    shown = shown.substr(0, 64);
    suffix = "...";
  }
  return absl::InvalidArgumentError(absl::StrCat(Quote(shown), suffix, ": ", Av(rule)));
}

bool IsAscii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

bool IsAllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsLdhChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// Printable form of a single byte for "character not allowed" messages.
std::string CharForMessage(char c) {
  if (c == ' ') return "' ' (space)";
  if (c == '\'') return "'\\''";
  return absl::StrCat("'", std::string(1, c), "'");
}

// Free-on-scope-exit holder for strings allocated by libidn2.
struct IdnString {
  ~IdnString() { idn2_free(ptr); }
  char* ptr = nullptr;
};

// Runs libidn2 on one label (or a run of labels); returns the A-label form or the idn2 error.
absl::StatusOr<std::string> IdnToAscii(std::string_view text, int* rc_out) {
  std::string z(text);
  IdnString out;
  uint8_t* raw = nullptr;
  int rc = idn2_lookup_u8(reinterpret_cast<const uint8_t*>(z.c_str()), &raw, kIdnFlags);
  out.ptr = reinterpret_cast<char*>(raw);
  *rc_out = rc;
  if (rc != IDN2_OK) return absl::InvalidArgumentError(idn2_strerror(rc));
  return std::string(out.ptr);
}

// Checks the ASCII (LDH) rules on a lower-case label that is meant to be in final A-label
// form. `input` is the whole user input, for the message.
absl::Status CheckLdhLabel(std::string_view input, std::string_view label) {
  for (char c : label) {
    if (!IsLdhChar(c)) {
      std::string rule = absl::StrCat("label ", Quote(label),
                                      " has a character not allowed in a host name (",
                                      CharForMessage(c), ")");
      if (c == '_') {
        absl::StrAppend(&rule,
                        "; underscores are not allowed in host names (letters, digits and "
                        "hyphens only)");
      }
      return Invalid(input, rule);
    }
  }
  if (label.size() > kMaxLabelBytes) {
    return Invalid(input, absl::StrCat("label ", Quote(label), " is longer than 63 bytes (",
                                       label.size(), ")"));
  }
  if (label.front() == '-' || label.back() == '-') {
    return Invalid(input,
                   absl::StrCat("label ", Quote(label), " starts or ends with a hyphen"));
  }
  if (label.size() >= 4 && label[2] == '-' && label[3] == '-' &&
      !StartsWith(label, "xn--")) {
    return Invalid(input, absl::StrCat("label ", Quote(label),
                                       " has \"--\" in positions 3-4, which is reserved for "
                                       "encodings other than \"xn--\""));
  }
  return absl::OkStatus();
}

// Checks that an ASCII "xn--" label is valid punycode that decodes to a valid IDNA2008
// label whose canonical A-label is this exact label.
absl::Status CheckALabel(std::string_view input, std::string_view label) {
  std::string z(label);
  IdnString unicode;
  int rc = idn2_to_unicode_8z8z(z.c_str(), &unicode.ptr, 0);
  if (rc != IDN2_OK || unicode.ptr == nullptr || unicode.ptr[0] == '\0') {
    return Invalid(input, absl::StrCat("label ", Quote(label), " is not valid punycode",
                                       rc != IDN2_OK ? absl::StrCat(" (", idn2_strerror(rc), ")")
                                                     : std::string()));
  }
  int lookup_rc = IDN2_OK;
  absl::StatusOr<std::string> back = IdnToAscii(unicode.ptr, &lookup_rc);
  if (!back.ok()) {
    return Invalid(input, absl::StrCat("label ", Quote(label), " (", Quote(unicode.ptr),
                                       ") is not a valid IDNA2008 label: ",
                                       back.status().message()));
  }
  if (*back != label) {
    return Invalid(input, absl::StrCat("label ", Quote(label),
                                       " is not the canonical A-label of ", Quote(unicode.ptr),
                                       " (expected ", Quote(*back), ")"));
  }
  return absl::OkStatus();
}

// Converts one raw (lower-cased where ASCII) label to one or more A-labels. UTS#46 mapping
// can turn a label into several (e.g. U+3002 IDEOGRAPHIC FULL STOP maps to '.').
absl::Status ConvertLabel(std::string_view input, std::string_view raw,
                          std::vector<std::string>* out) {
  if (IsAscii(raw)) {
    RETURN_IF_ERROR(CheckLdhLabel(input, raw));
    if (StartsWith(raw, "xn--")) RETURN_IF_ERROR(CheckALabel(input, raw));
    out->emplace_back(raw);
    return absl::OkStatus();
  }
  // ASCII characters in a U-label follow the host name rules too; checking them here names
  // the label as typed.
  for (char c : raw) {
    if (static_cast<unsigned char>(c) < 0x80 && !IsLdhChar(c)) {
      return CheckLdhLabel(input, raw);  // Reports the offending character.
    }
  }
  int rc = IDN2_OK;
  absl::StatusOr<std::string> ascii = IdnToAscii(raw, &rc);
  if (!ascii.ok()) {
    if (rc == IDN2_ENCODING_ERROR) {
      return Invalid(input, absl::StrCat("label ", Quote(raw), " is not valid UTF-8"));
    }
    if (rc == IDN2_TOO_BIG_LABEL || rc == IDN2_TOO_BIG_DOMAIN || rc == IDN2_PUNYCODE_BIG_OUTPUT) {
      return Invalid(input, absl::StrCat("label ", Quote(raw),
                                         " is longer than 63 bytes as an A-label"));
    }
    return Invalid(input, absl::StrCat("label ", Quote(raw),
                                       " is not a valid internationalized (IDNA2008) label: ",
                                       ascii.status().message()));
  }
  for (std::string_view piece : SplitLabels(*ascii)) {
    if (piece.empty()) {
      return Invalid(input, absl::StrCat("empty label (label ", Quote(raw),
                                         " maps to ", Quote(*ascii), ")"));
    }
    RETURN_IF_ERROR(CheckLdhLabel(input, piece));
    if (StartsWith(piece, "xn--")) RETURN_IF_ERROR(CheckALabel(input, piece));
    out->emplace_back(piece);
  }
  return absl::OkStatus();
}

// Parses `text` as an IPv4 or IPv6 literal into `*id` (inet_ntop form); false if it is neither.
bool ParseIp(const std::string& text, Identifier* id) {
  unsigned char buf[sizeof(struct in6_addr)];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    if (inet_ntop(AF_INET, buf, out, sizeof(out)) == nullptr) return false;
  } else if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    if (inet_ntop(AF_INET6, buf, out, sizeof(out)) == nullptr) return false;
  } else {
    return false;
  }
  id->type = IdentifierType::kIp;
  id->value = out;
  return true;
}

// Handles everything that is, or looks like, an IP literal. Returns true with `*result` set
// (an identifier or an error) when `input` was handled here; false for DNS names.
bool TryIp(std::string_view input, absl::StatusOr<Identifier>* result) {
  std::string text(input);
  Identifier id;
  if (text.front() == '[' || text.back() == ']') {
    if (text.size() < 2 || text.front() != '[' || text.back() != ']') {
      *result = Invalid(input, "unbalanced brackets around an IPv6 literal");
      return true;
    }
    std::string inner = text.substr(1, text.size() - 2);
    if (inner.find('%') != std::string::npos) {
      *result = Invalid(input, "IPv6 zone identifiers ('%...') are not allowed");
    } else if (!ParseIp(inner, &id) || id.value.find(':') == std::string::npos) {
      *result = Invalid(input, "not a valid IPv6 address inside brackets");
    } else {
      *result = id;
    }
    return true;
  }
  bool wildcard = StartsWith(text, "*.");
  if (wildcard && ParseIp(text.substr(2), &id)) {
    *result = Invalid(input, "a wildcard is not allowed on an IP address");
    return true;
  }
  if (text.find(':') != std::string::npos) {
    if (text.find('%') != std::string::npos) {
      *result = Invalid(input, "IPv6 zone identifiers ('%...') are not allowed");
    } else if (wildcard) {
      *result = Invalid(input, "a wildcard is not allowed on an IP address");
    } else if (!ParseIp(text, &id)) {
      *result = Invalid(input, "not a valid IPv6 address (':' is not allowed in a host name)");
    } else {
      *result = id;
    }
    return true;
  }
  if (ParseIp(text, &id)) {
    *result = id;
    return true;
  }
  // RFC 3696 section 2: a top-level label is never all-numeric, so this was meant as IPv4.
  std::string_view name = input;
  if (EndsWith(name, ".")) name.remove_suffix(1);
  size_t dot = name.rfind('.');
  std::string_view last = dot == std::string_view::npos ? name : name.substr(dot + 1);
  if (IsAllDigits(last)) {
    *result = Invalid(input,
                      "not a valid IPv4 address (a host name cannot end in an all-numeric "
                      "label; IPv4 must be four decimal octets 0-255 without leading zeros)");
    return true;
  }
  return false;
}

absl::StatusOr<Identifier> NormalizeDns(std::string_view input) {
  std::string name(input);
  // Lower-case ASCII only; libidn2 case-maps the rest.
  for (char& c : name) {
    if (static_cast<unsigned char>(c) < 0x80) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  }
  if (EndsWith(name, ".")) name.pop_back();
  if (name.empty()) return Invalid(input, "empty label");
  if (name == "*") return Invalid(input, "a wildcard '*' needs a name under it (\"*.example.com\")");
  bool wildcard = StartsWith(name, "*.");
  std::string_view rest = name;
  if (wildcard) rest.remove_prefix(2);
  if (rest.find('*') != std::string_view::npos) {
    return Invalid(input, "a wildcard '*' is only allowed as the whole leftmost label");
  }

  std::vector<std::string> labels;
  if (wildcard) labels.push_back("*");
  for (std::string_view raw : SplitLabels(rest)) {
    if (raw.empty()) return Invalid(input, "empty label");
    RETURN_IF_ERROR(ConvertLabel(input, raw, &labels));
  }
  if (labels.size() < 2) {
    return Invalid(input, "a host name needs at least two labels (like \"example.com\")");
  }
  if (IsAllDigits(labels.back())) {
    return Invalid(input, absl::StrCat("top-level label ", Quote(labels.back()),
                                       " is all-numeric, which is not a host name"));
  }
  Identifier id;
  id.type = IdentifierType::kDns;
  id.value = absl::StrJoin(labels, ".");
  if (id.value.size() > kMaxNameBytes) {
    return Invalid(input, absl::StrCat("longer than 253 bytes (", id.value.size(), ")"));
  }
  return id;
}

}  // namespace

std::string_view Identifier::TypeString() const {
  return type == IdentifierType::kIp ? "ip" : "dns";
}

bool Identifier::IsWildcard() const {
  return type == IdentifierType::kDns && StartsWith(value, "*.");
}

absl::StatusOr<Identifier> NormalizeIdentifier(std::string_view input) {
  if (input.empty()) return Invalid(input, "empty name");
  for (unsigned char c : input) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
      return Invalid(input, "contains whitespace (names are not trimmed)");
    }
    if (c < 0x20 || c == 0x7f) return Invalid(input, "contains a control character");
  }
  if (input.size() > kMaxInputBytes) {
    return Invalid(input, absl::StrCat("longer than 253 bytes (", input.size(), ")"));
  }
  absl::StatusOr<Identifier> ip;
  if (TryIp(input, &ip)) return ip;
  return NormalizeDns(input);
}

absl::StatusOr<std::vector<Identifier>> NormalizeIdentifiers(
    const std::vector<std::string>& inputs) {
  if (inputs.empty()) return absl::InvalidArgumentError("no names given");
  std::vector<Identifier> out;
  out.reserve(inputs.size());
  std::map<Identifier, size_t> seen;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSIGN_OR_RETURN(Identifier id, NormalizeIdentifier(inputs[i]));
    auto [it, inserted] = seen.emplace(id, i);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quote(inputs[it->second]), " and ", Quote(inputs[i]),
                       " are the same name (", id.value, ")"));
    }
    out.push_back(std::move(id));
  }
  return out;
}

absl::StatusOr<Identifier> NormalizeAcmeIdentifier(std::string_view type,
                                                   std::string_view value) {
  if (type != "dns" && type != "ip") {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported identifier type ", Quote(type), " for ", Quote(value)));
  }
  ASSIGN_OR_RETURN(Identifier id, NormalizeIdentifier(value));
  if (id.TypeString() != type) {
    return absl::InvalidArgumentError(absl::StrCat(Quote(value), ": identifier type ",
                                                   Quote(type), " but the value is of type ",
                                                   Quote(id.TypeString())));
  }
  return id;
}

std::string QuoteForMessage(std::string_view text, size_t max_shown) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < max_shown; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  if (text.size() > max_shown) absl::StrAppend(&out, "... (", text.size(), " bytes)");
  return out;
}

std::string ValidationServerName(const Identifier& id) {
  if (id.type == IdentifierType::kDns) {
    return id.IsWildcard() ? id.value.substr(2) : id.value;
  }
  unsigned char buf[sizeof(struct in6_addr)];
  if (inet_pton(AF_INET, id.value.c_str(), buf) == 1) {
    return absl::StrCat(buf[3], ".", buf[2], ".", buf[1], ".", buf[0], ".in-addr.arpa");
  }
  if (inet_pton(AF_INET6, id.value.c_str(), buf) == 1) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(64 + 9);
    for (int i = 15; i >= 0; --i) {
      out += kHex[buf[i] & 0xf];
      out += '.';
      out += kHex[buf[i] >> 4];
      out += '.';
    }
    out += "ip6.arpa";
    return out;
  }
  return id.value;
}

}  // namespace certfleet::identifiers
