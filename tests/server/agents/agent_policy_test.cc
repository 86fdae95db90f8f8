#include "server/agents/agent_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/server/agents/status_matchers.h"

namespace certfleet::agents {
namespace {

using ::certfleet::agents::testing::StatusIs;

identifiers::Identifier Id(const std::string& name) {
  return *identifiers::NormalizeIdentifier(name);
}

TEST(AgentIdTest, Pattern) {
  EXPECT_TRUE(IsValidAgentId("web-1.example_host"));
  EXPECT_TRUE(IsValidAgentId(std::string(128, 'a')));
  EXPECT_FALSE(IsValidAgentId(""));
  EXPECT_FALSE(IsValidAgentId(std::string(129, 'a')));
  EXPECT_FALSE(IsValidAgentId("web 1"));
  EXPECT_FALSE(IsValidAgentId("web/1"));
}

TEST(PatternCoversTest, ExactAndOneLabelWildcard) {
  EXPECT_TRUE(PatternCovers(Id("a.example.com"), Id("a.example.com")));
  EXPECT_FALSE(PatternCovers(Id("a.example.com"), Id("b.example.com")));
  EXPECT_TRUE(PatternCovers(Id("*.example.com"), Id("a.example.com")));
  EXPECT_TRUE(PatternCovers(Id("*.example.com"), Id("*.example.com")));
  EXPECT_FALSE(PatternCovers(Id("*.example.com"), Id("a.b.example.com")));
  EXPECT_FALSE(PatternCovers(Id("*.example.com"), Id("example.com")));
  EXPECT_FALSE(PatternCovers(Id("*.example.com"), Id("aexample.com")));
  EXPECT_FALSE(PatternCovers(Id("a.example.com"), Id("*.example.com")));
  EXPECT_TRUE(PatternCovers(Id("192.0.2.1"), Id("192.0.2.1")));
}

TEST(TokenSha256HexTest, KnownVector) {
  EXPECT_EQ(TokenSha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AgentPolicyTest, DefaultDeniesEveryone) {
  AgentPolicy policy;
  EXPECT_FALSE(policy.allow_any_agent());
  EXPECT_THAT(policy.Authenticate("web-1", "secret"),
              StatusIs(absl::StatusCode::kUnauthenticated, "not known to this server"));
  EXPECT_THAT(
      policy.CheckName("web-1", Id("a.example.com")),
      StatusIs(absl::StatusCode::kPermissionDenied, "not allowed to act for a.example.com"));
}

TEST(AgentPolicyTest, AllowAnyAgent) {
  AgentPolicy policy = AgentPolicy::AllowAnyAgent();
  EXPECT_TRUE(policy.allow_any_agent());
  EXPECT_TRUE(policy.Authenticate("anyone", "").ok());
  EXPECT_TRUE(policy.CheckName("anyone", Id("whatever.example.org")).ok());
}

TEST(AgentPolicyTest, TokensAndNames) {
  auto policy = AgentPolicy::FromGrants({
      {"web-1", "", "s3cret", {"a.example.com", "*.shop.example.com"}},
      {"web-2", TokenSha256Hex("other"), "", {"b.example.com"}},
  });
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->Authenticate("web-1", "s3cret").ok());
  EXPECT_TRUE(policy->Authenticate("web-2", "other").ok());
  EXPECT_THAT(policy->Authenticate("web-1", "other"),
              StatusIs(absl::StatusCode::kUnauthenticated, "presented a wrong token"));
  EXPECT_THAT(policy->Authenticate("web-1", ""),
              StatusIs(absl::StatusCode::kUnauthenticated, "presented no token"));
  EXPECT_THAT(policy->Authenticate("web-3", "s3cret"),
              StatusIs(absl::StatusCode::kUnauthenticated, "not known"));
  EXPECT_TRUE(policy->CheckName("web-1", Id("a.example.com")).ok());
  EXPECT_TRUE(policy->CheckName("web-1", Id("x.shop.example.com")).ok());
  EXPECT_THAT(policy->CheckName("web-1", Id("b.example.com")),
              StatusIs(absl::StatusCode::kPermissionDenied, "web-1"));
  EXPECT_THAT(policy->CheckName("web-2", Id("a.example.com")),
              StatusIs(absl::StatusCode::kPermissionDenied, "a.example.com"));
}

TEST(AgentPolicyTest, RejectsBadGrants) {
  EXPECT_THAT(AgentPolicy::FromGrants({{"bad id", "", "t", {}}}),
              StatusIs(absl::StatusCode::kInvalidArgument, "agent_id must be"));
  EXPECT_THAT(AgentPolicy::FromGrants({{"a", "", "t", {}}, {"a", "", "u", {}}}),
              StatusIs(absl::StatusCode::kInvalidArgument, "appears twice"));
  EXPECT_THAT(AgentPolicy::FromGrants({{"a", "", "", {}}}),
              StatusIs(absl::StatusCode::kInvalidArgument, "exactly one of token"));
  EXPECT_THAT(AgentPolicy::FromGrants({{"a", "abcd", "", {}}}),
              StatusIs(absl::StatusCode::kInvalidArgument, "64 hex digits"));
  EXPECT_THAT(AgentPolicy::FromGrants({{"a", "", "t", {"bad name!"}}}),
              StatusIs(absl::StatusCode::kInvalidArgument, "allowed name"));
}

}  // namespace
}  // namespace certfleet::agents
