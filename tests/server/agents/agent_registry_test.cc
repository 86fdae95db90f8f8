#include "server/agents/agent_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "tests/server/agents/status_matchers.h"

namespace certfleet::agents {
namespace {

using ::certfleet::agents::testing::StatusIs;
using ::testing::ElementsAre;

identifiers::Identifier Id(const std::string& name) {
  return *identifiers::NormalizeIdentifier(name);
}

// An in-memory connection: records sends; the test resolves their waiters.
class FakeConnection : public AgentConnection {
 public:
  FakeConnection(std::string id, std::vector<std::string> names) {
    desc_.agent_id = std::move(id);
    for (const auto& n : names) desc_.names.push_back(Id(n));
    desc_.capabilities = {v1::CHALLENGE_TYPE_TLS_ALPN_01};
  }
  const AgentDescription& description() const override { return desc_; }
  absl::Time last_seen() const override { return absl::Now(); }
  bool IsOpen() const override { return open_; }
  std::shared_ptr<AckWaiter> Send(v1::ServerMessage message, std::string what,
                                  absl::Time deadline) override {
    auto w = std::make_shared<AckWaiter>(desc_.agent_id, "m-1", what, deadline);
    sent.push_back(w);
    if (!open_) w->ResolveWentAway();
    return w;
  }
  void Close(const absl::Status&) override { open_ = false; }
  std::vector<std::shared_ptr<AckWaiter>> sent;

 private:
  AgentDescription desc_;
  bool open_ = true;
};

std::vector<std::string> Ids(const std::vector<std::shared_ptr<AgentConnection>>& cs) {
  std::vector<std::string> out;
  for (const auto& c : cs) out.push_back(c->description().agent_id);
  return out;
}

TEST(AgentRegistryTest, FindsByExactAndWildcardName) {
  AgentRegistry registry;
  registry.Register(
      std::make_shared<FakeConnection>("b", std::vector<std::string>{"*.example.com"}));
  registry.Register(std::make_shared<FakeConnection>(
      "a", std::vector<std::string>{"x.example.com", "192.0.2.1"}));
  EXPECT_THAT(Ids(registry.FindServing(Id("x.example.com"))), ElementsAre("a", "b"));
  EXPECT_THAT(Ids(registry.FindServing(Id("y.example.com"))), ElementsAre("b"));
  EXPECT_THAT(Ids(registry.FindServing(Id("*.example.com"))), ElementsAre("b"));
  EXPECT_THAT(Ids(registry.FindServing(Id("y.z.example.com"))), ElementsAre());
  EXPECT_THAT(Ids(registry.FindServing(Id("example.com"))), ElementsAre());
  EXPECT_THAT(Ids(registry.FindServing(Id("192.0.2.1"))), ElementsAre("a"));
  EXPECT_THAT(registry.AgentIds(), ElementsAre("a", "b"));
}

TEST(AgentRegistryTest, ReplaceAndUnregister) {
  AgentRegistry registry;
  auto first = std::make_shared<FakeConnection>("a", std::vector<std::string>{"x.example.com"});
  auto second = std::make_shared<FakeConnection>("a", std::vector<std::string>{"y.example.com"});
  EXPECT_EQ(registry.Register(first), nullptr);
  EXPECT_EQ(registry.Register(second), first);
  EXPECT_TRUE(registry.FindServing(Id("x.example.com")).empty());
  EXPECT_EQ(registry.FindServing(Id("y.example.com")).size(), 1u);
  registry.Unregister(first.get());  // stale: no effect
  EXPECT_EQ(registry.Find("a"), second);
  registry.Unregister(second.get());
  EXPECT_EQ(registry.Find("a"), nullptr);
  EXPECT_EQ(registry.size(), 0u);
  EXPECT_THAT(registry.Send("a", v1::ServerMessage(), "x", absl::Now()),
              StatusIs(absl::StatusCode::kUnavailable, "agent a is not connected"));
}

TEST(AgentRegistryTest, WaitForAgent) {
  AgentRegistry registry;
  EXPECT_FALSE(registry.WaitForAgent("a", absl::Now() + absl::Milliseconds(10)));
  auto conn = std::make_shared<FakeConnection>("a", std::vector<std::string>{"x.example.com"});
  std::thread t([&] { registry.Register(conn); });
  EXPECT_TRUE(registry.WaitForAgent("a", absl::Now() + absl::Seconds(10)));
  t.join();
  std::thread u([&] { registry.Unregister(conn.get()); });
  EXPECT_TRUE(registry.WaitForAgentGone("a", absl::Now() + absl::Seconds(10)));
  u.join();
}

TEST(AckWaiterTest, ResolvesOnceAndTimesOut) {
  AckWaiter waiter("a", "m-1", "PresentChallenge tls-alpn-01 for x",
                   absl::Now() + absl::Milliseconds(20));
  EXPECT_THAT(waiter.Wait(), StatusIs(absl::StatusCode::kDeadlineExceeded,
                                      "agent a did not acknowledge PresentChallenge"));
  EXPECT_FALSE(waiter.Resolve(AckResult()));

  AckWaiter gone("a", "m-2", "X", absl::InfiniteFuture());
  int calls = 0;
  gone.OnResolved([&](const absl::StatusOr<AckResult>& r) { ++calls; });
  EXPECT_TRUE(gone.ResolveWentAway());
  EXPECT_EQ(calls, 1);
  EXPECT_THAT(gone.Wait(), StatusIs(absl::StatusCode::kUnavailable,
                                    "agent a went away (stream closed) before acknowledging X"));
}

}  // namespace
}  // namespace certfleet::agents
