#include "server/acme/problem.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/acme/acme_test_util.h"

namespace certfleet::acme {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::JsonResponse;
using testing::ReadTestdata;

TEST(ProblemTest, ParsesSubproblemsWithIdentifiers) {
  auto problem = ParseProblem(ReadTestdata("problem_subproblems.json"));
  ASSERT_TRUE(problem.ok()) << problem.status();
  EXPECT_EQ(problem->type, "urn:ietf:params:acme:error:malformed");
  EXPECT_EQ(problem->ShortType(), "malformed");
  ASSERT_EQ(problem->subproblems.size(), 2u);
  EXPECT_EQ(problem->subproblems[0].identifier_type, "dns");
  EXPECT_EQ(problem->subproblems[0].identifier_value, "_example.org");
  EXPECT_EQ(problem->subproblems[1].type, "urn:ietf:params:acme:error:rejectedIdentifier");
  EXPECT_EQ(problem->subproblems[1].identifier_value, "example.net");
}

TEST(ProblemTest, StatusNamesTypeDetailAndEachSubproblemIdentifier) {
  auto problem = ParseProblem(ReadTestdata("problem_subproblems.json"));
  ASSERT_TRUE(problem.ok());
  absl::Status s = ProblemToStatus(*problem, 400, std::nullopt);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("malformed: Some of the identifiers"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("dns:_example.org: malformed"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("dns:example.net: rejectedIdentifier"));
  EXPECT_EQ(ProblemTypeOf(s), "urn:ietf:params:acme:error:malformed");
}

TEST(ProblemTest, TableMapsTypesToCodes) {
  EXPECT_EQ(ProblemTypeToCode("urn:ietf:params:acme:error:badNonce"),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(ProblemTypeToCode("urn:ietf:params:acme:error:rateLimited"),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ProblemTypeToCode("urn:ietf:params:acme:error:serverInternal"),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(ProblemTypeToCode("urn:ietf:params:acme:error:malformed"),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ProblemTypeToCode("urn:ietf:params:acme:error:unauthorized"),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ProblemTypeToCode("rejectedIdentifier"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ProblemTypeToCode("urn:ietf:params:acme:error:accountDoesNotExist"),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ProblemTypeToCode("urn:ietf:params:acme:error:externalAccountRequired"),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ProblemTypeToCode("urn:example:unknown"), absl::StatusCode::kUnknown);
}

TEST(ProblemTest, RateLimitedCarriesRetryAfter) {
  HttpResponse r = JsonResponse(429, ReadTestdata("problem_rate_limited.json"), "",
                                "application/problem+json");
  r.headers.Add("Retry-After", "3600");
  absl::Time now = absl::FromUnixSeconds(1700000000);
  absl::Status s = ErrorResponseToStatus(r, now);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()), HasSubstr("rateLimited: too many certificates"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("retry after 2023-11-14T23:13:20Z"));
  auto retry = RetryAfterOf(s);
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(*retry, now + absl::Hours(1));
}

TEST(ProblemTest, HtmlErrorPageBecomesUnavailableWithoutTheBody) {
  HttpResponse r = JsonResponse(503, ReadTestdata("error_503.html"), "", "text/html");
  r.headers.Add("Retry-After", "120");
  absl::Time now = absl::FromUnixSeconds(1700000000);
  absl::Status s = ErrorResponseToStatus(r, now);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("CA unavailable: HTTP 503"));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("<html>")));
  EXPECT_EQ(RetryAfterOf(s), now + absl::Minutes(2));
}

TEST(ProblemTest, ServerInternalIsUnavailable) {
  HttpResponse r = JsonResponse(
      500, R"({"type":"urn:ietf:params:acme:error:serverInternal","detail":"db down"})", "",
      "application/problem+json");
  absl::Status s = ErrorResponseToStatus(r, absl::Now());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("serverInternal: db down"));
}

TEST(ProblemTest, NotJsonIsInvalidArgument) {
  EXPECT_EQ(ParseProblem("<html>").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ProblemTest, FromJsonReadsAParsedDocumentLikeParseProblem) {
  std::string text = ReadTestdata("problem_subproblems.json");
  auto problem = Problem::FromJson(nlohmann::json::parse(text));
  ASSERT_TRUE(problem.ok()) << problem.status();
  auto reparsed = ParseProblem(text);
  ASSERT_TRUE(reparsed.ok());
  EXPECT_EQ(problem->type, reparsed->type);
  EXPECT_EQ(problem->detail, reparsed->detail);
  ASSERT_EQ(problem->subproblems.size(), 2u);
  EXPECT_EQ(problem->subproblems[1].identifier_value, "example.net");
  absl::Status not_object = Problem::FromJson(nlohmann::json::array()).status();
  EXPECT_EQ(not_object.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(not_object.message()), HasSubstr("not a JSON object"));
}

TEST(ProblemTest, AnnotateKeepsCodeAndPayload) {
  auto problem = ParseProblem(ReadTestdata("problem_bad_nonce.json"));
  ASSERT_TRUE(problem.ok());
  absl::Status s = AnnotateStatus(ProblemToStatus(*problem, 400, std::nullopt), "newOrder");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("newOrder: badNonce:"));
  EXPECT_EQ(ProblemTypeOf(s), "urn:ietf:params:acme:error:badNonce");
}

}  // namespace
}  // namespace certfleet::acme
