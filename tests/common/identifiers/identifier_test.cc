#include "common/identifiers/identifier.h"

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certfleet::identifiers {
namespace {

using ::testing::HasSubstr;

constexpr IdentifierType kDns = IdentifierType::kDns;
constexpr IdentifierType kIp = IdentifierType::kIp;

// One row of the table: either a good input with its exact normalised form, or a bad one
// with the rule its InvalidArgument message must name.
struct Case {
  std::string input;
  bool ok;
  IdentifierType type;   // For good rows.
  std::string expected;  // Good rows: the normalised value. Bad rows: a message substring.
};

Case Good(std::string input, std::string value, IdentifierType type = kDns) {
  return {std::move(input), true, type, std::move(value)};
}
Case Bad(std::string input, std::string rule) {
  return {std::move(input), false, kDns, std::move(rule)};
}

std::string Label(size_t n, char c = 'a') { return std::string(n, c); }

// Labels of at most 63 bytes joined by dots, `total` bytes long; the last label is at
// least 2 bytes.
std::string NameOfLength(size_t total) {
  std::string out;
  char c = 'a';
  while (total - out.size() > 65) {
    out += Label(63, c++) + ".";
  }
  return out + Label(total - out.size(), 'z');
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << (c.ok ? "good " : "bad ") << ::testing::PrintToString(c.input) << " -> "
      << ::testing::PrintToString(c.expected);
}

std::vector<Case> Cases() {
  return {
      // Plain DNS names, case and trailing dot.
      Good("example.com", "example.com"),
      Good("Example.COM", "example.com"),
      Good("example.com.", "example.com"),
      Good("WWW.Example.Com.", "www.example.com"),
      Good("a.b.c.d.example.org", "a.b.c.d.example.org"),
      Good("a-b.example.com", "a-b.example.com"),
      Good("a--b.example.com", "a--b.example.com"),
      Good("123.example.com", "123.example.com"),
      Good("1a.example.a1", "1a.example.a1"),
      Good(Label(63) + ".com", Label(63) + ".com"),
      Good(NameOfLength(253), NameOfLength(253)),
      Good(NameOfLength(252) + ".", NameOfLength(252)),
      // IDN.
      Good("bücher.example", "xn--bcher-kva.example"),
      Good("Bücher.example", "xn--bcher-kva.example"),
      Good("BÜCHER.EXAMPLE", "xn--bcher-kva.example"),
      Good("xn--bcher-kva.example", "xn--bcher-kva.example"),
      Good("XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example"),
      Good("ÄÖÜ.de", "xn--4ca0bs.de"),
      Good("münchen.de", "xn--mnchen-3ya.de"),
      Good("straße.de", "xn--strae-oqa.de"),  // Non-transitional: not "strasse.de".
      Good("公司.cn", "xn--55qx5d.cn"),
      Good("例え.テスト", "xn--r8jz45g.xn--zckzah"),
      Good("ＥＸＡＭＰＬＥ.com", "example.com"),  // Full-width letters map to ASCII.
      Good("a\u3002b.com", "a.b.com"),           // Ideographic full stop is a dot.
      Good("xn--zzz.example", "xn--zzz.example"),
      // Wildcards.
      Good("*.example.com", "*.example.com"),
      Good("*.Example.COM.", "*.example.com"),
      Good("*.com", "*.com"),  // ACME syntax allows it; public-suffix policy is the CA's.
      Good("*.bücher.example", "*.xn--bcher-kva.example"),
      // IPv4.
      Good("1.2.3.4", "1.2.3.4", kIp),
      Good("0.0.0.0", "0.0.0.0", kIp),
      Good("255.255.255.255", "255.255.255.255", kIp),
      Good("192.0.2.10", "192.0.2.10", kIp),
      // IPv6.
      Good("2001:DB8::1", "2001:db8::1", kIp),
      Good("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1", kIp),
      Good("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", kIp),
      Good("[::1]", "::1", kIp),
      Good("[2001:DB8::A]", "2001:db8::a", kIp),
      Good("::", "::", kIp),
      Good("fe80::1", "fe80::1", kIp),
      Good("::ffff:192.0.2.1", "::ffff:192.0.2.1", kIp),
      Good("::FFFF:C000:0201", "::ffff:192.0.2.1", kIp),  // Mapped IPv4 stays IPv6.

      // Empty, whitespace, control characters.
      Bad("", "empty name"),
      Bad(" example.com", "contains whitespace"),
      Bad("example.com ", "contains whitespace"),
      Bad("exa mple.com", "contains whitespace"),
      Bad("example.com\n", "contains whitespace"),
      Bad("\texample.com", "contains whitespace"),
      Bad(std::string("exa\0mple.com", 12), "control character"),
      // Empty labels.
      Bad("a..b.com", "empty label"),
      Bad(".example.com", "empty label"),
      Bad("example.com..", "empty label"),
      Bad(".", "empty label"),
      // Characters outside LDH.
      Bad("ex_ample.com",
          "label \"ex_ample\" has a character not allowed in a host name ('_')"),
      Bad("ex_ample.com", "underscores are not allowed in host names"),
      Bad("_acme-challenge.example.com", "('_')"),
      Bad("bü_cher.example", "label \"bü_cher\" has a character not allowed"),
      Bad("ａ＿b.com", "('_')"),  // Full-width underscore maps to '_'.
      Bad("exa!mple.com", "('!')"),
      Bad("ex\"ample.com", "('\"')"),
      Bad("a\u00a0b.com", "not allowed in a host name (' ' (space))"),
      // Hyphens.
      Bad("-example.com", "label \"-example\" starts or ends with a hyphen"),
      Bad("example-.com", "starts or ends with a hyphen"),
      Bad("ab--cd.example.com", "\"--\" in positions 3-4, which is reserved"),
      Bad("XY--z.example.com", "reserved"),
      // Punycode.
      Bad("xn--0.example", "label \"xn--0\" is not valid punycode"),
      Bad("xn--ls8h.com", "is not a valid IDNA2008 label"),  // Emoji A-label.
      Bad("xn--a.example", "xn--a"),
      // Label count and wildcards.
      Bad("localhost", "at least two labels"),
      Bad("com.", "at least two labels"),
      Bad("*", "wildcard '*' needs a name under it"),
      Bad("*.", "wildcard '*' needs a name under it"),
      Bad("*x.example.com", "only allowed as the whole leftmost label"),
      Bad("a.*.example.com", "only allowed as the whole leftmost label"),
      Bad("*.*.example.com", "only allowed as the whole leftmost label"),
      Bad("example.*", "only allowed as the whole leftmost label"),
      Bad("＊.example.com", "('*')"),
      Bad("\uff58\uff4e\uff0d\uff0dls8h.com", "IDNA2008) label"),  // Full-width "xn--ls8h".
      // Lengths.
      Bad(Label(64) + ".com", "is longer than 63 bytes (64)"),
      Bad(NameOfLength(254), "longer than 253 bytes (254)"),
      Bad(NameOfLength(300), "longer than 253 bytes (300)"),
      Bad("*." + NameOfLength(252), "longer than 253 bytes (254)"),
      Bad(Label(2000) + ".com", "longer than 253 bytes (2004)"),
      Bad(std::string("b\u00fc") + Label(62) + ".example", "longer than 63 bytes"),
      // Invalid IDN.
      Bad("😀.com", "is not a valid internationalized (IDNA2008) label"),
      Bad("ab\u200dc.com", "IDNA2008"),        // ZERO WIDTH JOINER outside CONTEXTJ.
      Bad("\u0661.com", "IDNA2008"),           // Arabic-Indic digit: bidi rule.
      Bad("\xff\xfe.com", "is not valid UTF-8"),
      Bad("\u2488.com", "IDNA2008"),           // DIGIT ONE FULL STOP: disallowed.
      Bad("example.\uff11\uff12\uff13", "top-level label \"123\" is all-numeric"),
      // Numeric names that are not IPs.
      Bad("1.2.3", "not a valid IPv4 address"),
      Bad("1.2.3.256", "not a valid IPv4 address"),
      Bad("256.1.1.1", "not a valid IPv4 address"),
      Bad("01.2.3.4", "not a valid IPv4 address"),  // glibc inet_pton: no leading zeros.
      Bad("1.2.3.4.", "not a valid IPv4 address"),
      Bad("1.2.3.4.5", "not a valid IPv4 address"),
      Bad("example.123", "not a valid IPv4 address"),
      Bad("0x7f.1", "not a valid IPv4 address"),
      // IP literal errors.
      Bad("*.1.2.3.4", "wildcard is not allowed on an IP address"),
      Bad("*.::1", "wildcard is not allowed on an IP address"),
      Bad("*.2001:db8::1", "wildcard is not allowed on an IP address"),
      Bad("fe80::1%eth0", "zone identifiers"),
      Bad("[fe80::1%eth0]", "zone identifiers"),
      Bad("[1.2.3.4]", "not a valid IPv6 address inside brackets"),
      Bad("[example.com]", "not a valid IPv6 address inside brackets"),
      Bad("[::1", "unbalanced brackets"),
      Bad("::1]", "unbalanced brackets"),
      Bad("2001:db8::1::2", "not a valid IPv6 address"),
      Bad("2001:db8::g", "not a valid IPv6 address"),
      Bad("::ffff:01.2.3.4", "not a valid IPv6 address"),
      Bad("example.com:443", "':' is not allowed in a host name"),
  };
}

class NormalizeTableTest : public ::testing::TestWithParam<Case> {};

TEST_P(NormalizeTableTest, NormalisesOrRejects) {
  const Case& c = GetParam();
  absl::StatusOr<Identifier> id = NormalizeIdentifier(c.input);
  if (c.ok) {
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(id->value, c.expected);
    EXPECT_EQ(id->type, c.type);
    // Normalisation is idempotent.
    absl::StatusOr<Identifier> again = NormalizeIdentifier(id->value);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, *id);
  } else {
    ASSERT_FALSE(id.ok()) << "accepted as " << id->value;
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << id.status();
    EXPECT_THAT(std::string(id.status().message()), HasSubstr(c.expected));
    bool plain = !c.input.empty() && c.input.size() <= 1024;
    for (unsigned char ch : c.input) {
      if (ch < 0x20 || ch == '"' || ch == '\\') plain = false;
    }
    if (plain) {
      // The message quotes the offending input.
      EXPECT_THAT(std::string(id.status().message()), HasSubstr("\"" + c.input + "\": "));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, NormalizeTableTest, ::testing::ValuesIn(Cases()));

TEST(NormalizeTableSize, HasAtLeastSixtyCases) { EXPECT_GE(Cases().size(), 60u); }

TEST(NormalizeIdentifierTest, ExactMessages) {
  EXPECT_EQ(NormalizeIdentifier("a..b.com").status().message(), "\"a..b.com\": empty label");
  EXPECT_THAT(std::string(NormalizeIdentifier("ex_ample.com").status().message()),
              ::testing::StartsWith("\"ex_ample.com\": label \"ex_ample\" has a character not "
                                    "allowed in a host name ('_')"));
  std::string long_name = NameOfLength(300);
  EXPECT_EQ(NormalizeIdentifier(long_name).status().message(),
            "\"" + long_name + "\": longer than 253 bytes (300)");
}

TEST(NormalizeIdentifierTest, ControlCharactersAreEscapedInMessages) {
  EXPECT_EQ(NormalizeIdentifier("a\x01.com").status().message(),
            "\"a\\x01.com\": contains a control character");
}

TEST(NormalizeIdentifierTest, TypeStringAndWildcard) {
  Identifier dns = *NormalizeIdentifier("*.Example.com");
  EXPECT_EQ(dns.TypeString(), "dns");
  EXPECT_TRUE(dns.IsWildcard());
  EXPECT_FALSE(NormalizeIdentifier("example.com")->IsWildcard());
  Identifier ip = *NormalizeIdentifier("::1");
  EXPECT_EQ(ip.TypeString(), "ip");
  EXPECT_FALSE(ip.IsWildcard());
}

TEST(NormalizeIdentifiersTest, EmptyList) {
  absl::StatusOr<std::vector<Identifier>> ids = NormalizeIdentifiers({});
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ids.status().message(), "no names given");
}

TEST(NormalizeIdentifiersTest, PreservesOrder) {
  absl::StatusOr<std::vector<Identifier>> ids =
      NormalizeIdentifiers({"www.Example.com", "1.2.3.4", "*.example.com", "example.com",
                            "[2001:db8::1]"});
  ASSERT_TRUE(ids.ok()) << ids.status();
  std::vector<Identifier> want = {{kDns, "www.example.com"},
                                  {kIp, "1.2.3.4"},
                                  {kDns, "*.example.com"},
                                  {kDns, "example.com"},
                                  {kIp, "2001:db8::1"}};
  EXPECT_EQ(*ids, want);
}

TEST(NormalizeIdentifiersTest, DuplicateAfterNormalisationNamesBoth) {
  absl::StatusOr<std::vector<Identifier>> ids =
      NormalizeIdentifiers({"Example.COM", "www.example.com", "example.com."});
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ids.status().message(),
            "\"Example.COM\" and \"example.com.\" are the same name (example.com)");
}

TEST(NormalizeIdentifiersTest, DuplicateIdnAndALabel) {
  absl::StatusOr<std::vector<Identifier>> ids =
      NormalizeIdentifiers({"bücher.example", "xn--bcher-kva.example"});
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(ids.status().message()),
              HasSubstr("are the same name (xn--bcher-kva.example)"));
}

TEST(NormalizeIdentifiersTest, DuplicateIpv6Spellings) {
  absl::StatusOr<std::vector<Identifier>> ids =
      NormalizeIdentifiers({"2001:DB8::1", "[2001:db8:0::1]"});
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ids.status().message(),
            "\"2001:DB8::1\" and \"[2001:db8:0::1]\" are the same name (2001:db8::1)");
}

TEST(NormalizeIdentifiersTest, MappedIpv4IsNotTheSameAsIpv4) {
  absl::StatusOr<std::vector<Identifier>> ids = NormalizeIdentifiers({"1.2.3.4", "::ffff:1.2.3.4"});
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ((*ids)[1], (Identifier{kIp, "::ffff:1.2.3.4"}));
}

TEST(NormalizeIdentifiersTest, PropagatesTheFirstBadName) {
  absl::StatusOr<std::vector<Identifier>> ids =
      NormalizeIdentifiers({"example.com", "a..b.com", "ex_ample.com"});
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ids.status().message(), "\"a..b.com\": empty label");
}

TEST(NormalizeAcmeIdentifierTest, ChecksType) {
  EXPECT_EQ(*NormalizeAcmeIdentifier("dns", "Example.com"), (Identifier{kDns, "example.com"}));
  EXPECT_EQ(*NormalizeAcmeIdentifier("ip", "2001:DB8::1"), (Identifier{kIp, "2001:db8::1"}));
  absl::Status wrong = NormalizeAcmeIdentifier("dns", "1.2.3.4").status();
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wrong.message()), HasSubstr("but the value is of type \"ip\""));
  absl::Status unknown = NormalizeAcmeIdentifier("email", "a@example.com").status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("unsupported identifier type \"email\""));
}

TEST(ValidationServerNameTest, DnsNameIsItself) {
  EXPECT_EQ(ValidationServerName({kDns, "www.example.com"}), "www.example.com");
  EXPECT_EQ(ValidationServerName({kDns, "xn--bcher-kva.example"}), "xn--bcher-kva.example");
}

TEST(ValidationServerNameTest, WildcardUsesTheBaseName) {
  EXPECT_EQ(ValidationServerName({kDns, "*.example.com"}), "example.com");
}

TEST(ValidationServerNameTest, Ipv4ReverseName) {
  EXPECT_EQ(ValidationServerName({kIp, "1.2.3.4"}), "4.3.2.1.in-addr.arpa");
  EXPECT_EQ(ValidationServerName({kIp, "192.0.2.10"}), "10.2.0.192.in-addr.arpa");
  EXPECT_EQ(ValidationServerName({kIp, "0.0.0.0"}), "0.0.0.0.in-addr.arpa");
}

TEST(ValidationServerNameTest, Ipv6NibbleReverseName) {
  // RFC 3596 section 2.5 example.
  EXPECT_EQ(ValidationServerName({kIp, "4321:0:1:2:3:4:567:89ab"}),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa");
  EXPECT_EQ(ValidationServerName({kIp, "::1"}),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa");
  EXPECT_EQ(ValidationServerName({kIp, "::ffff:192.0.2.1"}),
            "1.0.2.0.0.0.0.c.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa");
}

TEST(ValidationServerNameTest, FromNormalisedInput) {
  EXPECT_EQ(ValidationServerName(*NormalizeIdentifier("[2001:DB8::1]")),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
}

}  // namespace
}  // namespace certfleet::identifiers
