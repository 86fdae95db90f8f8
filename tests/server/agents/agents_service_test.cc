// The agent stream over real gRPC on 127.0.0.1:0, with scripted agents (fake_agent.h).

#include "server/agents/agents_service.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "server/agents/agent_challenge_solver.h"
#include "tests/server/agents/fake_agent.h"
#include "tests/server/agents/status_matchers.h"

namespace certfleet::agents {
namespace {

using ::certfleet::agents::testing::FakeAgent;
using ::certfleet::agents::testing::FakeAgentOptions;
using ::certfleet::agents::testing::GrpcStatusIs;
using ::certfleet::agents::testing::In;
using ::certfleet::agents::testing::PresentMode;
using ::certfleet::agents::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

identifiers::Identifier Id(const std::string& name) {
  return *identifiers::NormalizeIdentifier(name);
}

acme::ChallengeTask Task(const std::string& name, const std::string& token = "tok1") {
  acme::ChallengeTask task;
  task.identifier = Id(name);
  task.type = acme::kTlsAlpn01;
  task.token = token;
  task.key_authorization = token + ".thumb";
  task.challenge_url = "https://ca.test/chall/" + name + "/" + token;
  task.issuance_id = "iss-1";
  return task;
}

bool IsPresent(const v1::ServerMessage& m) { return m.has_present_challenge(); }
bool IsWithdraw(const v1::ServerMessage& m) { return m.has_withdraw_challenge(); }

class FakeClock : public Clock {
 public:
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void SleepUntil(absl::Time) override {}
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
};

class AgentsServiceTest : public ::testing::Test {
 protected:
  void StartServer(AgentsServiceOptions options) {
    service_ = std::make_unique<AgentsService>(&registry_, std::move(options));
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.SetMaxReceiveMessageSize(kRecommendedMaxReceiveMessageBytes);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
    AgentChallengeSolverOptions solver_options;
    solver_options.straggler_grace = absl::Seconds(2);
    solver_options.cleanup_wait = absl::Seconds(5);
    solver_ = std::make_unique<AgentChallengeSolver>(&registry_, solver_options);
  }
  void StartDevServer() {
    AgentsServiceOptions options;
    options.policy = AgentPolicy::AllowAnyAgent();
    StartServer(std::move(options));
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    solver_.reset();
    service_.reset();
  }
  std::unique_ptr<FakeAgent> Connect(FakeAgentOptions options) {
    return std::make_unique<FakeAgent>(channel_, std::move(options));
  }
  // Connects an agent and waits for its Welcome.
  std::unique_ptr<FakeAgent> ConnectWelcomed(FakeAgentOptions options) {
    auto agent = Connect(std::move(options));
    EXPECT_TRUE(agent->WaitWelcome(In(10)).has_value());
    return agent;
  }
  // A well-behaved agent still gets a challenge through end to end.
  void ExpectHealthyAgentWorks(const std::string& agent_id = "good-1") {
    FakeAgentOptions options;
    options.agent_id = agent_id;
    options.names = {"good.example.com"};
    auto agent = ConnectWelcomed(options);
    acme::ChallengeTask task = Task("good.example.com", "healthy");
    EXPECT_TRUE(solver_->Present(task, In(10)).ok());
    solver_->CleanUp(task);
    EXPECT_TRUE(agent->WaitMessage(IsWithdraw, In(10)).has_value());
  }

  AgentRegistry registry_;
  std::unique_ptr<AgentsService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<AgentChallengeSolver> solver_;
};

TEST_F(AgentsServiceTest, HelloGetsWelcomeWithAcceptedAndRefusedNames) {
  AgentsServiceOptions options;
  options.policy =
      *AgentPolicy::FromGrants({{"web-1", "", "s3cret", {"a.example.com", "*.shop.example.com"}}});
  StartServer(std::move(options));
  FakeAgentOptions agent_options;
  agent_options.token = "s3cret";
  agent_options.names = {"A.Example.COM.", "x.shop.example.com", "evil.com", "not a name!",
                         "a.example.com"};
  auto agent = Connect(agent_options);
  auto welcome = agent->WaitWelcome(In(10));
  ASSERT_TRUE(welcome.has_value());
  EXPECT_EQ(welcome->agent_id(), "web-1");
  EXPECT_THAT(welcome->accepted_names(), ElementsAre("a.example.com", "x.shop.example.com"));
  EXPECT_THAT(welcome->refused_names(), ElementsAre("evil.com", "not a name!"));
  EXPECT_EQ(welcome->heartbeat_interval_seconds(), 15);
  EXPECT_TRUE(solver_->CanSolve(Id("x.shop.example.com"), acme::kTlsAlpn01).ok());
  EXPECT_THAT(solver_->CanSolve(Id("evil.com"), acme::kTlsAlpn01),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "no connected agent serves evil.com (connected agents: web-1)"));

  // ListAgents over the wire.
  auto stub = v1::Agents::NewStub(channel_);
  grpc::ClientContext context;
  v1::ListAgentsResponse response;
  ASSERT_TRUE(stub->ListAgents(&context, v1::ListAgentsRequest(), &response).ok());
  ASSERT_EQ(response.agents_size(), 1);
  EXPECT_EQ(response.agents(0).agent_id(), "web-1");
  EXPECT_THAT(response.agents(0).names(), ElementsAre("a.example.com", "x.shop.example.com"));
  EXPECT_EQ(response.agents(0).version(), "fake-1");
  EXPECT_THAT(response.agents(0).peer(), HasSubstr("127.0.0.1"));
}

TEST_F(AgentsServiceTest, TokenAuthentication) {
  AgentsServiceOptions options;
  options.policy =
      *AgentPolicy::FromGrants({{"web-1", TokenSha256Hex("s3cret"), "", {"a.example.com"}}});
  StartServer(std::move(options));

  FakeAgentOptions no_token;
  auto a = Connect(no_token);
  EXPECT_THAT(*a->WaitFinished(In(10)),
              GrpcStatusIs(grpc::StatusCode::UNAUTHENTICATED, "presented no token"));
  FakeAgentOptions wrong = no_token;
  wrong.token = "guess";
  auto b = Connect(wrong);
  EXPECT_THAT(*b->WaitFinished(In(10)),
              GrpcStatusIs(grpc::StatusCode::UNAUTHENTICATED, "presented a wrong token"));
  FakeAgentOptions unknown = no_token;
  unknown.agent_id = "web-9";
  unknown.token = "s3cret";
  auto c = Connect(unknown);
  EXPECT_THAT(*c->WaitFinished(In(10)),
              GrpcStatusIs(grpc::StatusCode::UNAUTHENTICATED, "not known to this server"));
  EXPECT_EQ(registry_.size(), 0u);

  FakeAgentOptions right = no_token;
  right.token = "s3cret";
  auto d = Connect(right);
  ASSERT_TRUE(d->WaitWelcome(In(10)).has_value());
  EXPECT_TRUE(solver_->CanSolve(Id("a.example.com"), acme::kTlsAlpn01).ok());
}

TEST_F(AgentsServiceTest, DefaultPolicyRefusesEveryAgent) {
  StartServer(AgentsServiceOptions());
  FakeAgentOptions options;
  options.token = "anything";
  auto agent = Connect(options);
  EXPECT_THAT(*agent->WaitFinished(In(10)),
              GrpcStatusIs(grpc::StatusCode::UNAUTHENTICATED, "not known to this server"));
}

TEST_F(AgentsServiceTest, CanSolveBeforeAndAfterHello) {
  StartDevServer();
  EXPECT_THAT(solver_->CanSolve(Id("a.example.com"), acme::kTlsAlpn01),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "no connected agent serves a.example.com (connected agents: none)"));
  auto agent = ConnectWelcomed(FakeAgentOptions());
  EXPECT_TRUE(solver_->CanSolve(Id("a.example.com"), acme::kTlsAlpn01).ok());
  EXPECT_THAT(solver_->CanSolve(Id("a.example.com"), acme::kHttp01),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "no connected agent serving a.example.com can answer http-01 "
                       "(agents serving it: web-1 [tls-alpn-01])"));
  EXPECT_THAT(solver_->CanSolve(Id("a.example.com"), "carrier-pigeon-01"),
              StatusIs(absl::StatusCode::kInvalidArgument, "unknown challenge type"));
  agent.reset();
  EXPECT_TRUE(registry_.WaitForAgentGone("web-1", In(10)));
  EXPECT_THAT(solver_->CanSolve(Id("a.example.com"), acme::kTlsAlpn01),
              StatusIs(absl::StatusCode::kFailedPrecondition, "no connected agent serves"));
}

TEST_F(AgentsServiceTest, PresentWaitsForAckThenCleanUpWithdraws) {
  StartDevServer();
  FakeAgentOptions options;
  options.present_mode = PresentMode::kNoAck;  // the test acknowledges by hand
  auto agent = ConnectWelcomed(options);
  acme::ChallengeTask task = Task("a.example.com");

  auto present = std::async(std::launch::async, [&] { return solver_->Present(task, In(20)); });
  auto message = agent->WaitMessage(IsPresent, In(10));
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->present_challenge().type(), v1::CHALLENGE_TYPE_TLS_ALPN_01);
  EXPECT_EQ(message->present_challenge().identifier().value(), "a.example.com");
  EXPECT_EQ(message->present_challenge().identifier().type(), v1::Identifier::TYPE_DNS);
  EXPECT_EQ(message->present_challenge().token(), "tok1");
  EXPECT_EQ(message->present_challenge().key_authorization(), "tok1.thumb");
  EXPECT_EQ(message->present_challenge().issuance_id(), "iss-1");
  EXPECT_FALSE(message->message_id().empty());
  // Not acknowledged yet: Present is still waiting.
  EXPECT_EQ(present.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  ASSERT_TRUE(agent->Ack(message->message_id(), true));
  EXPECT_TRUE(present.get().ok());
  EXPECT_TRUE(solver_->StillPresented(task));

  solver_->CleanUp(task);
  auto withdraw = agent->WaitMessage(IsWithdraw, In(10));
  ASSERT_TRUE(withdraw.has_value());
  EXPECT_EQ(withdraw->withdraw_challenge().token(), "tok1");
  EXPECT_EQ(withdraw->withdraw_challenge().identifier().value(), "a.example.com");
  EXPECT_FALSE(solver_->StillPresented(task));
}

TEST_F(AgentsServiceTest, AgentDisconnectDuringPresentIsUnavailableWentAway) {
  StartDevServer();
  FakeAgentOptions options;
  options.present_mode = PresentMode::kDisconnect;
  auto agent = ConnectWelcomed(options);
  EXPECT_THAT(solver_->Present(Task("a.example.com"), In(20)),
              StatusIs(absl::StatusCode::kUnavailable,
                       "agent web-1 went away (stream closed) before acknowledging "
                       "PresentChallenge tls-alpn-01 for a.example.com"));
  ExpectHealthyAgentWorks();
}

TEST_F(AgentsServiceTest, StillPresentedTurnsFalseWhenAgentLeaves) {
  StartDevServer();
  auto agent = ConnectWelcomed(FakeAgentOptions());
  acme::ChallengeTask task = Task("a.example.com");
  ASSERT_TRUE(solver_->Present(task, In(20)).ok());
  EXPECT_TRUE(solver_->CheckStillPresented(task).ok());
  agent->Cancel();
  ASSERT_TRUE(registry_.WaitForAgentGone("web-1", In(10)));
  EXPECT_FALSE(solver_->StillPresented(task));
  EXPECT_THAT(solver_->CheckStillPresented(task),
              StatusIs(absl::StatusCode::kUnavailable,
                       "agent web-1 went away (stream closed) after presenting tls-alpn-01 for "
                       "a.example.com"));
  solver_->CleanUp(task);  // nothing to withdraw from; must not hang or crash
}

TEST_F(AgentsServiceTest, NegativeAckAndDeadline) {
  StartDevServer();
  FakeAgentOptions nack;
  nack.present_mode = PresentMode::kNack;
  auto a = ConnectWelcomed(nack);
  EXPECT_THAT(
      solver_->Present(Task("a.example.com"), In(20)),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               "agent web-1 could not present tls-alpn-01 for a.example.com: port 443 busy"));
  FakeAgentOptions silent;
  silent.agent_id = "web-2";
  silent.names = {"b.example.com"};
  silent.present_mode = PresentMode::kNoAck;
  auto b = ConnectWelcomed(silent);
  EXPECT_THAT(solver_->Present(Task("b.example.com"), absl::Now() + absl::Milliseconds(300)),
              StatusIs(absl::StatusCode::kDeadlineExceeded,
                       "agent web-2 did not acknowledge PresentChallenge tls-alpn-01 for "
                       "b.example.com by the deadline"));
}

TEST_F(AgentsServiceTest, PresentSucceedsIfOneOfTwoAgentsAcks) {
  StartDevServer();
  FakeAgentOptions leaving;
  leaving.agent_id = "web-1";
  leaving.present_mode = PresentMode::kDisconnect;
  auto a = ConnectWelcomed(leaving);
  FakeAgentOptions good;
  good.agent_id = "web-2";
  good.names = {"*.example.com"};
  auto b = ConnectWelcomed(good);
  acme::ChallengeTask task = Task("a.example.com");
  EXPECT_TRUE(solver_->Present(task, In(20)).ok());
  EXPECT_TRUE(b->WaitMessage(IsPresent, In(1)).has_value());
  solver_->CleanUp(task);
  EXPECT_TRUE(b->WaitMessage(IsWithdraw, In(10)).has_value());
}

TEST_F(AgentsServiceTest, NewStreamWithSameIdReplacesOld) {
  StartDevServer();
  auto first = ConnectWelcomed(FakeAgentOptions());
  auto second = ConnectWelcomed(FakeAgentOptions());
  EXPECT_THAT(*first->WaitFinished(In(10)),
              GrpcStatusIs(grpc::StatusCode::ABORTED, "replaced by a new connection"));
  acme::ChallengeTask task = Task("a.example.com");
  EXPECT_TRUE(solver_->Present(task, In(20)).ok());
  EXPECT_TRUE(second->WaitMessage(IsPresent, In(1)).has_value());
  EXPECT_EQ(registry_.size(), 1u);
}

TEST_F(AgentsServiceTest, InstallCertificateGoesToInstallingAgents) {
  StartDevServer();
  FakeAgentOptions installer;
  installer.agent_id = "web-1";
  installer.names = {"a.example.com"};
  auto a = ConnectWelcomed(installer);
  FakeAgentOptions responder_only;
  responder_only.agent_id = "web-2";
  responder_only.names = {"a.example.com", "b.example.com"};
  responder_only.installs_certificates = false;
  auto b = ConnectWelcomed(responder_only);

  InstallRequest request;
  request.certificate_name = "shop";
  request.names = {Id("a.example.com"), Id("b.example.com")};
  request.fullchain_pem = "-----BEGIN CERTIFICATE-----\n...";
  request.private_key_pem = "-----BEGIN PRIVATE KEY-----\n...";
  request.serial = "0a";
  auto results = solver_->InstallCertificate(request, In(20));
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 1u);
  EXPECT_EQ((*results)[0].agent_id, "web-1");
  EXPECT_TRUE((*results)[0].success);
  EXPECT_EQ((*results)[0].reload_exit_status, 0);
  EXPECT_EQ((*results)[0].install_path, "/etc/certfleet/shop");
  auto message =
      a->WaitMessage([](const v1::ServerMessage& m) { return m.has_install_certificate(); }, In(1));
  ASSERT_TRUE(message.has_value());
  EXPECT_THAT(message->install_certificate().names(),
              ElementsAre("a.example.com", "b.example.com"));

  request.names = {Id("c.example.com")};
  EXPECT_THAT(
      solver_->InstallCertificate(request, In(20)),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               "no connected agent that installs certificates serves any of c.example.com"));
}

// --- Misbehaving agents ---------------------------------------------------------------

TEST_F(AgentsServiceTest, FirstMessageMustBeHello) {
  StartDevServer();
  FakeAgentOptions options;
  options.send_hello = false;
  auto agent = Connect(options);
  agent->Heartbeat();
  EXPECT_THAT(*agent->WaitFinished(In(10)),
              GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT, "first message must be Hello"));
  auto acker = Connect(options);
  acker->Ack("m-1", true);
  EXPECT_THAT(*acker->WaitFinished(In(10)),
              GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT, "first message must be Hello"));
  ExpectHealthyAgentWorks();
}

TEST_F(AgentsServiceTest, MalformedHellos) {
  StartDevServer();
  FakeAgentOptions bad_id;
  bad_id.agent_id = "web 1/../";
  auto a = Connect(bad_id);
  EXPECT_THAT(*a->WaitFinished(In(10)),
              GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT, "must be 1 to 128 characters"));
  FakeAgentOptions empty_id;
  empty_id.agent_id = "";
  auto b = Connect(empty_id);
  EXPECT_THAT(*b->WaitFinished(In(10)),
              GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT, "agent_id"));
  FakeAgentOptions many;
  many.names.clear();
  for (int i = 0; i < kMaxHelloNames + 1; ++i)
    many.names.push_back("n" + std::to_string(i) + ".example.com");
  auto c = Connect(many);
  EXPECT_THAT(*c->WaitFinished(In(10)),
              GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT, "at most 1000"));
  // Larger than the server's max receive size: gRPC itself refuses it.
  FakeAgentOptions huge;
  huge.names = {std::string(kRecommendedMaxReceiveMessageBytes + 10, 'a')};
  auto d = Connect(huge);
  auto status = d->WaitFinished(In(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status->error_message();
  // A second Hello.
  auto e = ConnectWelcomed(FakeAgentOptions());
  v1::AgentMessage hello;
  hello.mutable_hello()->set_agent_id("web-1");
  e->Write(hello);
  EXPECT_THAT(*e->WaitFinished(In(10)),
              GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT, "second Hello"));
  ASSERT_TRUE(registry_.WaitForAgentGone("web-1", In(10)));
  ExpectHealthyAgentWorks();
}

TEST_F(AgentsServiceTest, AcksForUnknownIdsAreIgnored) {
  StartDevServer();
  auto agent = ConnectWelcomed(FakeAgentOptions());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(agent->Ack("never-sent-" + std::to_string(i), true));
  v1::AgentMessage empty;  // no body at all
  ASSERT_TRUE(agent->Write(empty));
  // The stream is still usable: a Present goes through on it.
  acme::ChallengeTask task = Task("a.example.com");
  EXPECT_TRUE(solver_->Present(task, In(20)).ok());
  solver_->CleanUp(task);
  EXPECT_FALSE(agent->WaitFinished(absl::Now()).has_value());
}

TEST_F(AgentsServiceTest, HeartbeatFloodIsCut) {
  AgentsServiceOptions options;
  options.policy = AgentPolicy::AllowAnyAgent();
  options.max_messages_per_second = 50;
  StartServer(std::move(options));
  FakeAgentOptions agent_options;
  agent_options.agent_id = "flood";
  agent_options.names = {"flood.example.com"};
  auto agent = ConnectWelcomed(agent_options);
  for (int i = 0; i < 100000 && agent->Heartbeat(); ++i) {
  }
  EXPECT_THAT(*agent->WaitFinished(In(20)),
              GrpcStatusIs(grpc::StatusCode::RESOURCE_EXHAUSTED, "more than 50 messages"));
  ExpectHealthyAgentWorks();
}

TEST_F(AgentsServiceTest, ManyConnectDisconnectCyclesAndMidStreamCancels) {
  StartDevServer();
  for (int i = 0; i < 50; ++i) {
    FakeAgentOptions options;
    options.agent_id = "cycler";
    options.names = {"cycle.example.com"};
    auto agent = Connect(options);
    if (i % 2 == 0) agent->WaitWelcome(In(10));
    agent->Cancel();  // disconnect, with or without the Welcome seen
    agent.reset();
  }
  // An agent that vanishes while a Present is outstanding, with a write possibly in flight.
  FakeAgentOptions options;
  options.agent_id = "cycler";
  options.names = {"cycle.example.com"};
  options.present_mode = PresentMode::kNoAck;
  auto agent = ConnectWelcomed(options);
  auto present = std::async(std::launch::async,
                            [&] { return solver_->Present(Task("cycle.example.com"), In(20)); });
  ASSERT_TRUE(agent->WaitMessage(IsPresent, In(10)).has_value());
  agent->Cancel();
  EXPECT_THAT(present.get(), StatusIs(absl::StatusCode::kUnavailable, "went away"));
  ASSERT_TRUE(registry_.WaitForAgentGone("cycler", In(10)));
  agent.reset();
  // Every stream of the cycles was released (no leaked reactors).
  EXPECT_TRUE(service_->WaitForStreamCount(0, In(10)));
  ExpectHealthyAgentWorks();
}

TEST_F(AgentsServiceTest, IdleAndHelloTimeouts) {
  FakeClock clock;
  AgentsServiceOptions options;
  options.policy = AgentPolicy::AllowAnyAgent();
  options.clock = &clock;
  options.sweep_interval = absl::Hours(1);  // the test sweeps by hand
  StartServer(std::move(options));
  auto idle = ConnectWelcomed(FakeAgentOptions());
  FakeAgentOptions mute;
  mute.send_hello = false;
  auto silent = Connect(mute);
  ASSERT_TRUE(service_->WaitForStreamCount(2, In(10)));
  clock.Advance(absl::Seconds(20));
  EXPECT_EQ(service_->SweepIdle(), 0);
  clock.Advance(absl::Seconds(41));
  EXPECT_EQ(service_->SweepIdle(), 2);
  EXPECT_THAT(*idle->WaitFinished(In(10)),
              GrpcStatusIs(grpc::StatusCode::UNAVAILABLE, "no message from agent for 1m1s"));
  EXPECT_THAT(*silent->WaitFinished(In(10)),
              GrpcStatusIs(grpc::StatusCode::DEADLINE_EXCEEDED, "no Hello within 30s"));
  EXPECT_TRUE(service_->WaitForStreamCount(0, In(10)));
}

}  // namespace
}  // namespace certfleet::agents
