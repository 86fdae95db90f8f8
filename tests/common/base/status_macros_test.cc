#include "common/status_macros.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace certfleet {
namespace {

absl::Status Fail(absl::StatusCode code, int* calls) {
  ++*calls;
  return absl::Status(code, "boom");
}

absl::Status TwoSteps(absl::Status first, int* reached_second) {
  RETURN_IF_ERROR(first);
  ++*reached_second;
  return absl::OkStatus();
}

TEST(ReturnIfErrorTest, PropagatesErrorAndStops) {
  int reached = 0;
  absl::Status s = TwoSteps(absl::NotFoundError("missing"), &reached);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "missing");
  EXPECT_EQ(reached, 0);
}

TEST(ReturnIfErrorTest, ContinuesOnOk) {
  int reached = 0;
  EXPECT_TRUE(TwoSteps(absl::OkStatus(), &reached).ok());
  EXPECT_EQ(reached, 1);
}

TEST(ReturnIfErrorTest, EvaluatesExpressionOnceAndWorksInStatusOrFunction) {
  int calls = 0;
  auto fn = [&calls]() -> absl::StatusOr<int> {
    RETURN_IF_ERROR(Fail(absl::StatusCode::kUnavailable, &calls));
    return 1;
  };
  absl::StatusOr<int> r = fn();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(calls, 1);
}

TEST(ReturnIfErrorTest, UsableAsSingleStatementInIfElse) {
  auto fn = [](bool check) -> absl::Status {
    if (check)
      RETURN_IF_ERROR(absl::InternalError("checked"));
    else
      return absl::AbortedError("unchecked");
    return absl::OkStatus();
  };
  EXPECT_EQ(fn(true).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(fn(false).code(), absl::StatusCode::kAborted);
}

absl::StatusOr<std::string> Name(bool ok) {
  if (!ok) return absl::InvalidArgumentError("bad name");
  return std::string("example.com");
}

absl::StatusOr<std::unique_ptr<int>> Owned(int v) { return std::make_unique<int>(v); }

absl::StatusOr<size_t> NameLength(bool ok) {
  ASSIGN_OR_RETURN(std::string name, Name(ok));
  return name.size();
}

TEST(AssignOrReturnTest, AssignsValue) {
  absl::StatusOr<size_t> n = NameLength(true);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 11u);
}

TEST(AssignOrReturnTest, PropagatesError) {
  absl::StatusOr<size_t> n = NameLength(false);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(n.status().message(), "bad name");
}

TEST(AssignOrReturnTest, AutoDeclMoveOnlyExistingVariableAndTwoInOneScope) {
  auto fn = []() -> absl::Status {
    ASSIGN_OR_RETURN(auto owned, Owned(7));
    std::string existing = "unset";
    ASSIGN_OR_RETURN(existing, Name(true));
    if (*owned != 7 || existing != "example.com") return absl::InternalError("wrong values");
    return absl::OkStatus();
  };
  EXPECT_TRUE(fn().ok()) << fn();
}

TEST(AssignOrReturnTest, ReturnsStatusIntoStatusFunction) {
  auto fn = []() -> absl::Status {
    ASSIGN_OR_RETURN(std::string name, Name(false));
    (void)name;
    return absl::OkStatus();
  };
  absl::Status s = fn();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "bad name");
}

}  // namespace
}  // namespace certfleet
