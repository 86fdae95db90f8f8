#include "client/cli/args.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/cli/duration.h"
#include "client/cli/enum_names.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certfleet::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<FlagSpec> kFlags = {
    {"ca", "CA", "the CA"},
    {"challenge", "TYPES", "challenges", /*repeatable=*/true},
    {"wait", "", "wait"},
};

absl::StatusOr<ParsedArgs> Parse(std::vector<std::string> args, bool stop = false) {
  return ParseArgs(args, kFlags, stop);
}

TEST(ParseArgsTest, FlagForms) {
  auto parsed = Parse({"a.example", "--ca=pebble", "b.example", "--challenge", "http-01",
                       "--challenge=tls-alpn-01", "--wait"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->positional(), ElementsAre("a.example", "b.example"));
  EXPECT_EQ(parsed->Get("ca"), "pebble");
  EXPECT_THAT(parsed->GetAll("challenge"), ElementsAre("http-01", "tls-alpn-01"));
  EXPECT_TRUE(parsed->Has("wait"));
  EXPECT_EQ(parsed->Get("wait"), "");
  EXPECT_FALSE(parsed->Has("missing"));
  EXPECT_EQ(parsed->Get("missing"), std::nullopt);
}

TEST(ParseArgsTest, EmptyValueWithEquals) {
  auto parsed = Parse({"--ca="});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->Get("ca"), "");
}

TEST(ParseArgsTest, DoubleDashEndsFlags) {
  auto parsed = Parse({"--wait", "--", "--ca", "-x"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->positional(), ElementsAre("--ca", "-x"));
  EXPECT_FALSE(parsed->Has("ca"));
}

TEST(ParseArgsTest, ValueMayStartWithDashes) {
  auto parsed = Parse({"--ca", "--wait"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->Get("ca"), "--wait");
  EXPECT_FALSE(parsed->Has("wait"));
}

TEST(ParseArgsTest, Errors) {
  EXPECT_EQ(Parse({"--nope"}).status(), absl::InvalidArgumentError("unknown flag --nope"));
  EXPECT_EQ(Parse({"--nope=1"}).status(), absl::InvalidArgumentError("unknown flag --nope"));
  EXPECT_EQ(Parse({"-w"}).status(),
            absl::InvalidArgumentError("unknown flag -w (flags are long: --name)"));
  EXPECT_EQ(Parse({"--ca"}).status(), absl::InvalidArgumentError("flag --ca needs a value"));
  EXPECT_EQ(Parse({"--wait=true"}).status(),
            absl::InvalidArgumentError("flag --wait takes no value"));
  EXPECT_EQ(Parse({"--ca", "a", "--ca=b"}).status(),
            absl::InvalidArgumentError("flag --ca given more than once"));
  EXPECT_EQ(Parse({"--wait", "--wait"}).status(),
            absl::InvalidArgumentError("flag --wait given more than once"));
}

TEST(ParseArgsTest, StopAtPositional) {
  auto parsed = Parse({"--ca", "x", "issue", "--wait", "--bogus"}, /*stop=*/true);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Get("ca"), "x");
  EXPECT_FALSE(parsed->Has("wait"));
  EXPECT_THAT(parsed->positional(), ElementsAre("issue", "--wait", "--bogus"));
}

TEST(ParseArgsTest, MergeRejectsDuplicateSingleFlags) {
  auto a = Parse({"--ca", "x", "--challenge", "http-01"});
  auto b = Parse({"--ca", "y", "--challenge", "dns-01"});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->Merge(*b, kFlags), absl::InvalidArgumentError("flag --ca given more than once"));
  auto c = Parse({"--challenge", "dns-01", "--wait"});
  ASSERT_TRUE(c.ok());
  auto d = Parse({"--challenge", "http-01"});
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d->Merge(*c, kFlags).ok());
  EXPECT_THAT(d->GetAll("challenge"), ElementsAre("http-01", "dns-01"));
  EXPECT_TRUE(d->Has("wait"));
}

TEST(ParseDurationTest, Valid) {
  EXPECT_EQ(*ParseDuration("30s"), absl::Seconds(30));
  EXPECT_EQ(*ParseDuration("10m"), absl::Minutes(10));
  EXPECT_EQ(*ParseDuration("1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseDuration("500ms"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseDuration("7d"), absl::Hours(168));
}

TEST(ParseDurationTest, Invalid) {
  for (const char* text : {"", "5", "s", "5x", "1.5s", "-5s", "5 s", "h1"}) {
    auto parsed = ParseDuration(text);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(parsed.status().message(),
                HasSubstr("want a number with a unit (ms, s, m, h, d), e.g. 30s"))
        << text;
  }
  EXPECT_EQ(ParseDuration("0s").status(),
            absl::InvalidArgumentError("invalid duration \"0s\": must be greater than zero"));
}

TEST(EnumNamesTest, KeyTypes) {
  EXPECT_EQ(*ParseKeyType("ecdsa-p256"), v1::KEY_TYPE_ECDSA_P256);
  EXPECT_EQ(*ParseKeyType("ecdsa-p384"), v1::KEY_TYPE_ECDSA_P384);
  EXPECT_EQ(*ParseKeyType("rsa2048"), v1::KEY_TYPE_RSA_2048);
  EXPECT_EQ(*ParseKeyType("rsa3072"), v1::KEY_TYPE_RSA_3072);
  EXPECT_EQ(*ParseKeyType("rsa4096"), v1::KEY_TYPE_RSA_4096);
  EXPECT_EQ(ParseKeyType("rsa1024").status(),
            absl::InvalidArgumentError("unknown key type \"rsa1024\": want one of ecdsa-p256, "
                                       "ecdsa-p384, rsa2048, rsa3072, rsa4096"));
  EXPECT_EQ(KeyTypeName(v1::KEY_TYPE_RSA_3072), "rsa3072");
  EXPECT_EQ(KeyTypeName(v1::KEY_TYPE_UNSPECIFIED), "");
}

TEST(EnumNamesTest, ChallengesAndStates) {
  EXPECT_EQ(*ParseChallengeType("tls-alpn-01"), v1::CHALLENGE_TYPE_TLS_ALPN_01);
  EXPECT_EQ(*ParseChallengeType("http-01"), v1::CHALLENGE_TYPE_HTTP_01);
  EXPECT_THAT(ParseChallengeType("tls-sni-01").status().message(),
              HasSubstr("unknown challenge type \"tls-sni-01\""));
  EXPECT_EQ(*ParseIssuanceState("failed"), v1::Issuance::STATE_FAILED);
  EXPECT_EQ(IssuanceStateName(v1::Issuance::STATE_RUNNING), "running");
  EXPECT_EQ(ParseIssuanceState("done").status(),
            absl::InvalidArgumentError(
                "unknown state \"done\": want one of pending, running, valid, failed"));
}

TEST(EnumNamesTest, RevocationReasons) {
  EXPECT_EQ(*ParseRevocationReason("keyCompromise"), 1);
  EXPECT_EQ(*ParseRevocationReason("keycompromise"), 1);
  EXPECT_EQ(*ParseRevocationReason("affiliationChanged"), 3);
  EXPECT_EQ(*ParseRevocationReason("superseded"), 4);
  EXPECT_EQ(*ParseRevocationReason("cessationOfOperation"), 5);
  EXPECT_EQ(*ParseRevocationReason("unspecified"), 0);
  EXPECT_EQ(*ParseRevocationReason("10"), 10);
  EXPECT_EQ(*ParseRevocationReason("0"), 0);
  for (const char* bad : {"11", "-1", "", "+1", "lost", "100"}) {
    EXPECT_THAT(ParseRevocationReason(bad).status().message(), HasSubstr("or a number 0-10"))
        << bad;
  }
}

}  // namespace
}  // namespace certfleet::cli
