// Parsing of recorded resources: directory (with profiles), profile selection, challenge
// selection, alternate-chain links.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "server/acme/authorization.h"
#include "server/acme/certificate.h"
#include "server/acme/directory.h"
#include "server/acme/order.h"
#include "server/acme/order_driver.h"
#include "tests/acme/acme_test_util.h"

namespace certfleet::acme {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ReadTestdata;

Directory LoadDirectory(const std::string& name) {
  auto dir = Directory::FromJson(nlohmann::json::parse(ReadTestdata(name)));
  EXPECT_TRUE(dir.ok()) << dir.status();
  return *dir;
}

Authorization LoadAuthz(const std::string& name) {
  auto authz = Authorization::FromJson(nlohmann::json::parse(ReadTestdata(name)), "u");
  EXPECT_TRUE(authz.ok()) << authz.status();
  return *authz;
}

TEST(DirectoryTest, ParsesLetsEncryptMeta) {
  Directory dir = LoadDirectory("directory_letsencrypt.json");
  EXPECT_EQ(dir.new_nonce, "https://acme-staging-v02.api.letsencrypt.org/acme/new-nonce");
  EXPECT_EQ(dir.key_change, "https://acme-staging-v02.api.letsencrypt.org/acme/key-change");
  EXPECT_THAT(dir.meta.caa_identities, ElementsAre("letsencrypt.org"));
  EXPECT_FALSE(dir.meta.external_account_required);
  EXPECT_EQ(dir.meta.profiles.size(), 3u);
  EXPECT_THAT(dir.meta.terms_of_service, HasSubstr("LE-SA"));
}

TEST(DirectoryTest, MissingNewOrderIsInvalidArgument) {
  auto dir = Directory::FromJson(nlohmann::json{{"newNonce", "a"}, {"newAccount", "b"}});
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(dir.status().message()), HasSubstr("newOrder"));
}

TEST(ProfileTest, OfferedProfileIsSent) {
  Directory dir = LoadDirectory("directory_letsencrypt.json");
  EXPECT_EQ(*SelectProfile(dir.meta, "shortlived", true), "shortlived");
  EXPECT_EQ(*SelectProfile(dir.meta, "", true), "");
}

TEST(ProfileTest, UnofferedMandatoryProfileIsAnError) {
  Directory dir = LoadDirectory("directory_letsencrypt.json");
  auto p = SelectProfile(dir.meta, "longlived", true);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("\"longlived\" is not offered"));
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("classic, shortlived, tlsserver"));
}

TEST(ProfileTest, UnofferedOptionalProfileFallsBackToNone) {
  Directory dir = LoadDirectory("directory_pebble.json");
  EXPECT_EQ(*SelectProfile(dir.meta, "tlsserver", false), "");
  auto p = SelectProfile(dir.meta, "tlsserver", true);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("offered: none"));
}

TEST(ChallengeSelectionTest, DefaultPrefersTlsAlpnThenHttp) {
  auto c = CandidateChallenges(LoadAuthz("authz_pending.json"), DefaultChallengePreference());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 2u);
  EXPECT_EQ((*c)[0].type, "tls-alpn-01");
  EXPECT_EQ((*c)[0].token, "tokAlpn");
  EXPECT_EQ((*c)[1].type, "http-01");
}

TEST(ChallengeSelectionTest, PreferenceOrderIsHonoured) {
  auto c = CandidateChallenges(LoadAuthz("authz_pending.json"), {"http-01", "tls-alpn-01"});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)[0].type, "http-01");
}

TEST(ChallengeSelectionTest, NothingAllowedIsFailedPrecondition) {
  Authorization authz = LoadAuthz("authz_wildcard.json");
  authz.wildcard = false;
  authz.identifier.value = "example.com";
  auto c = CandidateChallenges(authz, {"tls-alpn-01", "http-01"});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("no allowed challenge for example.com: the CA offers [dns-01], allowed "
                        "are [tls-alpn-01, http-01]"));
}

TEST(ChallengeSelectionTest, WildcardOnlyWithDns01) {
  Authorization authz = LoadAuthz("authz_wildcard.json");
  EXPECT_EQ(authz.identifier.value, "*.example.com");
  auto c = CandidateChallenges(authz, DefaultChallengePreference());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("wildcard *.example.com can only be validated with dns-01"));
  auto ok = CandidateChallenges(authz, {"tls-alpn-01", "dns-01"});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)[0].type, "dns-01");
}

TEST(ChallengeSelectionTest, IpIdentifiersNeverUseDns01) {
  identifiers::Identifier ip{identifiers::IdentifierType::kIp, "127.0.0.1"};
  EXPECT_THAT(AcceptableChallengeTypes(ip, {"dns-01", "http-01"}), ElementsAre("http-01"));
}

TEST(ChallengeSelectionTest, InvalidAuthorizationExposesTheChallengeError) {
  Authorization authz = LoadAuthz("authz_invalid.json");
  const Challenge* failed = authz.FailedChallenge();
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->error->ShortType(), "unauthorized");
  EXPECT_THAT(failed->error->detail, HasSubstr("Incorrect validation certificate"));
}

TEST(CertificateTest, ParsesAlternateLinks) {
  HttpHeaders headers;
  for (absl::string_view line :
       absl::StrSplit(ReadTestdata("certificate_links.txt"), '\n', absl::SkipEmpty())) {
    size_t colon = line.find(':');
    headers.Add(std::string(line.substr(0, colon)), std::string(line.substr(colon + 2)));
  }
  EXPECT_THAT(ParseAlternateLinks(headers, "https://127.0.0.1:14000/certZ/abc"),
              ElementsAre("https://127.0.0.1:14000/certZ/abc/1",
                          "https://127.0.0.1:14000/certZ/abc/2",
                          "https://127.0.0.1:14000/certZ/abc/3"));
}

TEST(OrderProgressTest, RoundTripsThroughJson) {
  OrderProgress p;
  p.step = "finalizing";
  p.order_url = "o";
  p.authz_urls = {"a1", "a2"};
  p.finalize_sent = true;
  p.csr_der_b64 = "MIIB";
  auto back = OrderProgress::FromJson(p.ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->step, "finalizing");
  EXPECT_THAT(back->authz_urls, ElementsAre("a1", "a2"));
  EXPECT_TRUE(back->finalize_sent);
  EXPECT_EQ(back->csr_der_b64, "MIIB");
  auto bad = OrderProgress::FromJson(nlohmann::json{{"finalize_sent", "yes"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("finalize_sent"));
}

}  // namespace
}  // namespace certfleet::acme
