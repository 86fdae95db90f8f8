#include "server/issuance/request_validation.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certfleet::issuance {
namespace {

using ::testing::HasSubstr;

MATCHER_P2(StatusIs, code, substr, "") {
  return arg.code() == code && std::string(arg.message()).find(substr) != std::string::npos;
}

TEST(NormalizeNamesTest, NormalisesInOrder) {
  auto ids = NormalizeNames({"WWW.Example.COM.", "192.0.2.1"});
  ASSERT_TRUE(ids.ok()) << ids.status();
  ASSERT_EQ(ids->size(), 2u);
  EXPECT_EQ((*ids)[0].value, "www.example.com");
  EXPECT_EQ((*ids)[1].type, identifiers::IdentifierType::kIp);
}

TEST(NormalizeNamesTest, EmptyList) {
  EXPECT_THAT(NormalizeNames({}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "names: no names given"));
}

TEST(NormalizeNamesTest, TooMany) {
  std::vector<std::string> names;
  for (int i = 0; i < 101; ++i) names.push_back(absl::StrCat("n", i, ".example.com"));
  EXPECT_THAT(NormalizeNames(names).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "names: 101 names given, at most 100 allowed"));
  names.pop_back();
  EXPECT_TRUE(NormalizeNames(names).ok());
}

TEST(NormalizeNamesTest, InvalidNameIsIndexed) {
  EXPECT_THAT(NormalizeNames({"a.example.com", "b.example.com", "a..b"}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "names[2]: \"a..b\": empty label"));
}

TEST(NormalizeNamesTest, Duplicate) {
  EXPECT_THAT(NormalizeNames({"a.example.com", "A.example.com."}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "names[1]: \"A.example.com.\" is the same name as names[0] "
                       "(\"a.example.com\")"));
}

TEST(ValidateRequestIdTest, Accepts) {
  EXPECT_TRUE(ValidateRequestId("").ok());
  EXPECT_TRUE(ValidateRequestId("abc.DEF_123-x").ok());
  EXPECT_TRUE(ValidateRequestId(std::string(64, 'a')).ok());
}

TEST(ValidateRequestIdTest, Rejects) {
  for (const std::string& bad : {std::string(65, 'a'), std::string("has space"),
                                 std::string("slash/"), std::string("ü")}) {
    EXPECT_THAT(ValidateRequestId(bad),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         "request_id: must be 1-64 characters of [A-Za-z0-9._-]"))
        << bad;
  }
}

TEST(ResolveCaTest, KnownDefaultAndUnknown) {
  CaSettingsMap cas;
  cas["pebble"].name = "pebble";
  cas["staging"].name = "staging";
  IssuanceDefaults defaults;
  defaults.default_ca = "pebble";
  EXPECT_EQ(*ResolveCa("", cas, defaults), "pebble");
  EXPECT_EQ(*ResolveCa("staging", cas, defaults), "staging");
  EXPECT_THAT(ResolveCa("foo", cas, defaults).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "ca: unknown CA \"foo\" (configured: pebble, staging)"));
  defaults.default_ca = "";
  EXPECT_THAT(ResolveCa("", cas, defaults).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "ca: no CA given"));
}

TEST(ResolveChallengePreferenceTest, DefaultsAndErrors) {
  IssuanceDefaults defaults;
  EXPECT_EQ(*ResolveChallengePreference({}, defaults), defaults.challenge_preference);
  EXPECT_EQ(*ResolveChallengePreference({"http-01"}, defaults),
            std::vector<std::string>{"http-01"});
  EXPECT_THAT(ResolveChallengePreference({"http-01", "dns-01"}, defaults).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "challenge_preference[1]: dns-01 is not supported"));
  EXPECT_THAT(ResolveChallengePreference({"http-01", "http-01"}, defaults).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "challenge_preference[1]: \"http-01\" given twice"));
}

TEST(ValidateCertificateNameTest, Rules) {
  EXPECT_TRUE(ValidateCertificateName("").ok());
  EXPECT_TRUE(ValidateCertificateName("www.example.com").ok());
  EXPECT_THAT(ValidateCertificateName("../etc"),
              StatusIs(absl::StatusCode::kInvalidArgument, "certificate_name: must be"));
}

// Regression: untrusted text was echoed whole and raw into status messages; a 64 KiB value
// made the status exceed gRPC's header limit, so the client saw RESOURCE_EXHAUSTED.
TEST(QuoteForMessageTest, BoundedAndEscaped) {
  EXPECT_EQ(QuoteForMessage("a.example.com"), "\"a.example.com\"");
  EXPECT_EQ(QuoteForMessage(std::string("a\0\x01\"\\\x7f", 6)), "\"a\\x00\\x01\\\"\\\\\\x7f\"");
  EXPECT_EQ(QuoteForMessage("b\xc3\xbc" "cher"), "\"b\xc3\xbc" "cher\"");  // UTF-8 kept.
  std::string quoted = QuoteForMessage(std::string(65536, 'x'));
  EXPECT_EQ(quoted, absl::StrCat("\"", std::string(64, 'x'), "\"... (65536 bytes)"));
}

TEST(ResolveCaTest, HugeOrOddCaNameIsBoundedInTheMessage) {
  CaSettingsMap cas;
  cas["pebble"] = CaSettings{};
  absl::Status st = ResolveCa(std::string(70000, 'c'), cas, IssuanceDefaults{}).status();
  EXPECT_THAT(st, StatusIs(absl::StatusCode::kInvalidArgument,
                           "must be 1-64 characters of [A-Za-z0-9._-]"));
  EXPECT_LT(st.message().size(), 200u);
  EXPECT_THAT(ResolveCa(std::string("pe\nbble", 7), cas, IssuanceDefaults{}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "ca: \"pe\\x0abble\": must be"));
}

TEST(LookupValidationTest, CertificateName) {
  EXPECT_TRUE(ValidateCertificateNameLookup("www.example.com").ok());
  EXPECT_TRUE(ValidateCertificateNameLookup("2001:db8::1").ok());  // IPv6 certificates.
  EXPECT_TRUE(ValidateCertificateNameLookup("*.example.com").ok());
  EXPECT_THAT(ValidateCertificateNameLookup(""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "certificate_name: no certificate name given"));
  absl::Status st = ValidateCertificateNameLookup(std::string(65536, 'z'));
  EXPECT_THAT(st, StatusIs(absl::StatusCode::kInvalidArgument,
                           "... (65536 bytes): must be 1-253 characters of [A-Za-z0-9._*:-]"));
  EXPECT_LT(st.message().size(), 200u);
  EXPECT_THAT(ValidateCertificateNameLookup(std::string("a\0b", 3)),
              StatusIs(absl::StatusCode::kInvalidArgument, "certificate_name: \"a\\x00b\""));
}

TEST(LookupValidationTest, IssuanceIdCaAndPageToken) {
  EXPECT_TRUE(ValidateIssuanceId("iss_0123abcd").ok());
  EXPECT_THAT(ValidateIssuanceId(""), StatusIs(absl::StatusCode::kInvalidArgument,
                                               "issuance_id: no issuance id given"));
  EXPECT_THAT(ValidateIssuanceId(std::string(129, 'j')),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "must be 1-128 characters of [A-Za-z0-9._-]"));
  EXPECT_THAT(ValidateIssuanceId("../x"),
              StatusIs(absl::StatusCode::kInvalidArgument, "issuance_id: \"../x\": must be"));
  EXPECT_TRUE(ValidateCaName("").ok());
  EXPECT_TRUE(ValidateCaName("letsencrypt-staging").ok());
  EXPECT_THAT(ValidateCaName("a b"), StatusIs(absl::StatusCode::kInvalidArgument, "ca: \"a b\""));
  EXPECT_TRUE(ValidatePageToken("").ok());
  EXPECT_TRUE(ValidatePageToken("12345").ok());
  absl::Status st = ValidatePageToken(std::string(65536, '9'));
  EXPECT_THAT(st, StatusIs(absl::StatusCode::kInvalidArgument,
                           "is not a token returned by ListCertificates"));
  EXPECT_LT(st.message().size(), 200u);
  EXPECT_THAT(ValidatePageToken("1 2"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                 "page_token: \"1 2\""));
}

}  // namespace
}  // namespace certfleet::issuance
