#include "server/issuance/composite_solver.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certfleet::issuance {
namespace {

// Answers only the names it was given; records what it presented and cleaned up.
class FakeSolver : public acme::ChallengeSolver {
 public:
  explicit FakeSolver(std::vector<std::string> names) : names_(std::move(names)) {}
  absl::Status CanSolve(const identifiers::Identifier& id, const std::string& type) override {
    for (const auto& n : names_) {
      if (n == id.value) return absl::OkStatus();
    }
    return absl::FailedPreconditionError("no agent serves " + id.value);
  }
  absl::Status Present(const acme::ChallengeTask& task, absl::Time) override {
    presented.push_back(task.identifier.value);
    return absl::OkStatus();
  }
  void CleanUp(const acme::ChallengeTask& task) override {
    cleaned.push_back(task.identifier.value);
  }
  std::vector<std::string> presented;
  std::vector<std::string> cleaned;

 private:
  std::vector<std::string> names_;
};

acme::ChallengeTask Task(const std::string& name) {
  acme::ChallengeTask task;
  task.identifier.value = name;
  task.type = acme::kTlsAlpn01;
  task.challenge_url = "https://ca/chall/" + name;
  return task;
}

TEST(CompositeSolverTest, PrefersFirstSolverThatServesTheName) {
  FakeSolver agent({"a.example.com"});
  FakeSolver builtin({"a.example.com", "b.example.com"});
  CompositeSolver solver({&agent, nullptr, &builtin});
  ASSERT_TRUE(solver.Present(Task("a.example.com"), absl::InfiniteFuture()).ok());
  ASSERT_TRUE(solver.Present(Task("b.example.com"), absl::InfiniteFuture()).ok());
  EXPECT_EQ(agent.presented, std::vector<std::string>{"a.example.com"});
  EXPECT_EQ(builtin.presented, std::vector<std::string>{"b.example.com"});
  solver.CleanUp(Task("a.example.com"));
  solver.CleanUp(Task("b.example.com"));
  EXPECT_EQ(agent.cleaned, std::vector<std::string>{"a.example.com"});
  EXPECT_EQ(builtin.cleaned, std::vector<std::string>{"b.example.com"});
}

TEST(CompositeSolverTest, NobodyServesTheName) {
  FakeSolver agent({});
  CompositeSolver solver({&agent});
  identifiers::Identifier id;
  id.value = "c.example.com";
  absl::Status st = solver.CanSolve(id, acme::kTlsAlpn01);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("no agent serves c.example.com"));
  CompositeSolver empty({});
  EXPECT_EQ(empty.CanSolve(id, acme::kTlsAlpn01).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace certfleet::issuance
