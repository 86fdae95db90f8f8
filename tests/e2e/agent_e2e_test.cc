// certfleet's main job end to end, with real processes only: Pebble and challtestsrv (the
// fixture), the certfleet-server binary, certfleet-agent binaries and the certfleet CLI.
//
// Pebble validates every name on one port P, so each agent listens for tls-alpn-01 on its own
// loopback address at that port (web-a 127.0.0.2:P, web-b 127.0.0.3:P, web-c 127.0.0.4:P)
// and challtestsrv maps each agent's names to its address. The server has no built-in
// solver: a certificate can only be validated through an agent.
//
// One stack serves the whole suite (starting it takes seconds); the tests use disjoint names,
// so each test's assertions hold whatever ran before it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "certfleet/v1/agents.grpc.pb.h"
#include "common/crypto/key.h"
#include "common/crypto/x509.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_process.h"
#include "tests/e2e/e2e_stack.h"
#include "tests/support/pebble_fixture.h"

namespace certfleet::e2e {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using nlohmann::json;

constexpr absl::Duration kStartTimeout = absl::Seconds(60);
constexpr absl::Duration kIssueTimeout = absl::Minutes(4);
constexpr absl::Duration kCliTimeout = absl::Minutes(5);

// One certfleet-agent process and everything it writes.
struct AgentProcess {
  std::string id;
  std::string ip;  // its tls-alpn-01 listener address (port: Pebble's tls port)
  std::vector<std::string> names;
  std::string token_file;
  std::string cert_dir;
  std::string status_file;
  std::string reload_file;  // the reload command appends one line per run
  std::unique_ptr<Daemon> daemon;

  // The status file's counters; an empty object while it does not parse.
  json Status() const { return ReadAgentStatus(status_file); }
  // How often `name` was presented (or withdrawn) according to the status file.
  int64_t Presented(const std::string& name,
                    const std::string& counter = "challenges_presented") const {
    json status = Status();
    if (!status.contains(counter) || !status[counter].is_object()) return 0;
    const json& presented = status[counter];
    return presented.contains(name) ? presented[name].get<int64_t>() : 0;
  }
  bool Connected() const { return AgentConnected(Status()); }
  int64_t Counter(const std::string& key) const {
    json status = Status();
    return status.contains(key) && status[key].is_number() ? status[key].get<int64_t>() : 0;
  }
  // Lines the reload command appended so far.
  int Reloads() const {
    std::string text = ReadFileOrEmpty(reload_file);
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  }
};

// The processes shared by the suite.
struct Stack {
  std::string work_dir;
  std::unique_ptr<testing::PebbleFixture> pebble;
  int tls_port = 0;
  std::unique_ptr<Daemon> server;
  std::string server_address;  // 127.0.0.1:PORT
  std::map<std::string, AgentProcess> agents;  // by id
  std::string rogue_token;  // the raw gRPC clients' grant ("rogue")
};

Stack* stack = nullptr;
std::string stack_error;  // why the stack did not start

// True when a socket can bind `ip`:0 (Linux routes all of 127.0.0.0/8 to lo).
bool CanBind(const std::string& ip) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  bool ok = inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) == 1 &&
            bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

std::string NewToken(const std::string& id) {
  return absl::StrCat("e2e-token-", id, "-", getpid(), "-", absl::ToUnixNanos(absl::Now()));
}

// Starts the agent described by `agent` (its fields but `daemon` filled in).
absl::Status StartAgent(AgentProcess& agent) {
  std::vector<std::string> argv = AgentArgv(
      {stack->server_address, agent.id, agent.token_file,
       absl::StrCat(agent.ip, ":", stack->tls_port), agent.cert_dir,
       absl::StrCat("echo reloaded >> '", agent.reload_file, "'"), agent.status_file});
  for (const std::string& name : agent.names) {
    argv.push_back("--name");
    argv.push_back(name);
  }
  auto daemon = e2e::StartAgent(argv, absl::StrCat(stack->work_dir, "/", agent.id, ".log"),
                                agent.status_file, "agent " + agent.id, kStartTimeout);
  if (!daemon.ok()) return daemon.status();
  agent.daemon = *std::move(daemon);
  return absl::OkStatus();
}

absl::Status StartStack() {
  stack->work_dir = testing::MakeTempDir("certfleet-e2e");
  for (const char* ip : {"127.0.0.2", "127.0.0.3", "127.0.0.4"}) {
    if (!CanBind(ip)) {
      return absl::FailedPreconditionError(absl::StrCat("cannot bind ", ip, " on loopback"));
    }
  }
  stack->tls_port = testing::PickFreePort();
  auto pebble = StartPebble(stack->tls_port);
  if (!pebble.ok()) return pebble.status();
  stack->pebble = *std::move(pebble);

  struct Spec {
    std::string id, ip;
    std::vector<std::string> names;
  };
  std::vector<Spec> specs = {
      {"web-a", "127.0.0.2", {"a1.e2e.test", "a2.e2e.test", "a3.e2e.test", "a4.e2e.test"}},
      {"web-b", "127.0.0.3", {"b1.e2e.test", "b2.e2e.test", "b3.e2e.test"}},
      {"web-c", "127.0.0.4", {"c1.e2e.test"}},
  };
  json grants = json::array();
  for (const Spec& spec : specs) {
    AgentProcess agent;
    agent.id = spec.id;
    agent.ip = spec.ip;
    agent.names = spec.names;
    std::string dir = absl::StrCat(stack->work_dir, "/", spec.id);
    std::filesystem::create_directories(dir + "/live");
    agent.token_file = dir + "/token";
    agent.cert_dir = dir + "/live";
    agent.status_file = dir + "/status.json";
    agent.reload_file = dir + "/reloads.txt";
    if (!WriteFileWithMode(agent.token_file, NewToken(spec.id), 0600)) {
      return absl::InternalError("cannot write " + agent.token_file);
    }
    for (const std::string& name : spec.names) {
      absl::Status mapped = stack->pebble->AddARecord(name, spec.ip);
      if (!mapped.ok()) return mapped;
    }
    grants.push_back({{"id", spec.id}, {"token_file", agent.token_file}, {"names", spec.names}});
    stack->agents[spec.id] = std::move(agent);
  }
  stack->rogue_token = NewToken("rogue");
  std::string rogue_token_file = stack->work_dir + "/rogue.token";
  if (!WriteFileWithMode(rogue_token_file, stack->rogue_token, 0600)) {
    return absl::InternalError("cannot write " + rogue_token_file);
  }
  grants.push_back(
      {{"id", "rogue"}, {"token_file", rogue_token_file}, {"names", {"rogue.e2e.test"}}});

  auto server = StartServer(
      stack->work_dir,
      PebbleServerConfig(*stack->pebble, stack->work_dir + "/certfleet.db", grants, 4),
      kStartTimeout);
  if (!server.ok()) return server.status();
  stack->server = std::move(server->daemon);
  stack->server_address = server->address;
  for (const char* id : {"web-a", "web-b"}) {
    absl::Status started = StartAgent(stack->agents[id]);
    if (!started.ok()) return started;
  }
  return absl::OkStatus();
}

// Runs the certfleet CLI against the stack's server.
CommandResult Cli(std::vector<std::string> args) {
  std::vector<std::string> argv = {absl::StrCat(BuildDir(), "/client/cli/certfleet"), "--server",
                                   stack->server_address};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, stack->work_dir, kCliTimeout);
}

// `certfleet --output json issuance ID`, parsed; an empty object when it fails.
json GetIssuance(const std::string& id) {
  CommandResult r = Cli({"--output", "json", "issuance", id});
  if (r.exit_code != 0) return json::object();
  json parsed = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  return parsed.is_object() ? parsed : json::object();
}

std::unique_ptr<v1::Agents::Stub> AgentsStub() {
  return v1::Agents::NewStub(
      grpc::CreateChannel(stack->server_address, grpc::InsecureChannelCredentials()));
}

// The ids ListAgents reports; fails the test when the RPC fails.
std::vector<std::string> ConnectedAgentIds() {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ListAgentsRequest request;
  v1::ListAgentsResponse response;
  grpc::Status status = AgentsStub()->ListAgents(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  std::vector<std::string> ids;
  for (const auto& agent : response.agents()) ids.push_back(agent.agent_id());
  std::sort(ids.begin(), ids.end());
  return ids;
}

// The server process is alive (waitpid WNOHANG) and answers an RPC.
void ExpectServerServing() {
  ASSERT_TRUE(stack->server->Running()) << "certfleet-server exited:\n" << stack->server->Log();
  std::vector<std::string> ids = ConnectedAgentIds();
  EXPECT_THAT(ids, ::testing::IsSupersetOf({"web-a", "web-b"}));
}

// Issues `name` through the CLI (waiting), then checks it was validated through `owner` (and
// presented by no other agent), installed in owner's cert dir with a key that matches, mode
// 0600 on the key, and that owner's reload command ran exactly once for it.
void IssueAndCheckInstalled(const std::string& name, const std::string& owner) {
  AgentProcess& agent = stack->agents[owner];
  int reloads_before = agent.Reloads();
  int64_t installs_before = agent.Counter("certificates_installed");
  std::map<std::string, int64_t> presented_before;
  for (auto& [id, other] : stack->agents) presented_before[id] = other.Presented(name);

  CommandResult r = Cli({"--output", "json", "issue", name, "--ca", "pebble", "--challenge",
                         "tls-alpn-01", "--wait", "--timeout", "4m"});
  ASSERT_EQ(r.exit_code, 0) << "certfleet issue " << name << ":\n"
                            << r.out << r.err << "\nserver log:\n"
                            << stack->server->Log();
  json issuance = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(issuance.is_object()) << r.out;
  EXPECT_EQ(issuance.value("state", ""), "STATE_VALID") << r.out;
  std::string serial = issuance["certificate"].value("serial", "");

  // `issue --wait` returns once the owner installed it, and says where.
  std::string dir = absl::StrCat(agent.cert_dir, "/", name);
  ASSERT_FALSE(serial.empty()) << r.out;
  ASSERT_TRUE(issuance.contains("installations")) << r.out;
  ASSERT_EQ(issuance["installations"].size(), 1u) << r.out;
  EXPECT_EQ(issuance["installations"][0].value("agentId", ""), owner) << r.out;
  EXPECT_TRUE(issuance["installations"][0].value("success", false)) << r.out;
  EXPECT_THAT(issuance["installations"][0].value("detail", ""), HasSubstr(dir)) << r.out;
  auto installed_now = crypto::Certificate::FromPem(ReadFileOrEmpty(dir + "/fullchain.pem"));
  ASSERT_TRUE(installed_now.ok()) << dir;
  EXPECT_TRUE(absl::EqualsIgnoreCase(installed_now->SerialHex(), serial));
  // The agent's status file is rewritten just after its acknowledgement.
  ASSERT_TRUE(PollUntil(
      [&] {
        auto installed = crypto::Certificate::FromPem(ReadFileOrEmpty(dir + "/fullchain.pem"));
        return installed.ok() && absl::EqualsIgnoreCase(installed->SerialHex(), serial) &&
               agent.Reloads() > reloads_before &&
               agent.Counter("certificates_installed") > installs_before;
      },
      absl::Seconds(60)))
      << owner << " did not install " << name << ":\n"
      << agent.daemon->Log();

  // Validated through the right agent: only `owner` presented a challenge for `name`.
  for (auto& [id, other] : stack->agents) {
    if (id == owner) {
      EXPECT_GT(other.Presented(name), presented_before[id]) << other.Status().dump();
      // And withdrew it afterwards.
      EXPECT_TRUE(PollUntil([&] { return other.Presented(name, "challenges_withdrawn") > 0; },
                            absl::Seconds(30)))
          << other.Status().dump();
    } else {
      EXPECT_EQ(other.Presented(name), 0) << id << " presented " << name;
    }
  }

  // Installed in owner's directory, the key 0600 and matching the certificate.
  std::string fullchain = ReadFileOrEmpty(dir + "/fullchain.pem");
  std::string privkey = ReadFileOrEmpty(dir + "/privkey.pem");
  ASSERT_FALSE(fullchain.empty()) << dir;
  ASSERT_FALSE(privkey.empty()) << dir;
  struct stat st {};
  ASSERT_EQ(stat((dir + "/privkey.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto cert = crypto::Certificate::FromPem(fullchain);
  ASSERT_TRUE(cert.ok()) << cert.status();
  auto key = crypto::PrivateKey::FromPem(privkey);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_TRUE(cert->MatchesKey(*key));
  EXPECT_THAT(cert->DnsNames(), ElementsAre(name));
  for (auto& [id, other] : stack->agents) {
    if (id != owner) {
      EXPECT_FALSE(std::filesystem::exists(other.cert_dir + "/" + name)) << id;
    }
  }

  // The reload command ran exactly once for this installation.
  EXPECT_EQ(agent.Reloads(), reloads_before + 1);
  EXPECT_EQ(agent.Counter("certificates_installed"), installs_before + 1);
  EXPECT_EQ(agent.Counter("reloads_run"), agent.Counter("certificates_installed"));
  EXPECT_EQ(agent.Counter("reloads_failed"), 0);
}

class AgentE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack = new Stack();
    absl::Status started = StartStack();
    if (!started.ok()) stack_error = std::string(started.message());
    std::cerr << "e2e: processes' logs under " << stack->work_dir << "\n";
  }

  static void TearDownTestSuite() {
    // Stop the agents, then the server: SIGTERM is a clean stop (exit 0) for both.
    for (auto& [id, agent] : stack->agents) ExpectCleanStop(agent.daemon.get(), id + ":\n");
    ExpectCleanStop(stack->server.get());
    std::string work_dir = stack->work_dir;
    delete stack;  // Stops Pebble.
    stack = nullptr;
    RemoveWorkDirIfPassed(work_dir);
  }

  void SetUp() override { ASSERT_TRUE(stack_error.empty()) << stack_error; }
};

TEST_F(AgentE2eTest, EachCertificateIsValidatedAndInstalledThroughTheRightAgent) {
  ASSERT_THAT(ConnectedAgentIds(), ElementsAre("web-a", "web-b"));
  IssueAndCheckInstalled("a1.e2e.test", "web-a");
  IssueAndCheckInstalled("b1.e2e.test", "web-b");
  ExpectServerServing();
}

// A raw Agents.Connect stream, as a misbehaving agent would open it.
class RawStream {
 public:
  explicit RawStream(v1::Agents::Stub* stub, const std::string& token) {
    context_.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    stream_ = stub->Connect(&context_);
  }
  bool Write(const v1::AgentMessage& message) { return stream_->Write(message); }
  bool Read(v1::ServerMessage* message) { return stream_->Read(message); }
  // Reads until the server ends the stream, then returns its status.
  grpc::Status FinishAfterServerEnds() {
    v1::ServerMessage ignored;
    while (stream_->Read(&ignored)) {
    }
    return stream_->Finish();
  }
  grpc::Status WritesDoneAndFinish() {
    stream_->WritesDone();
    return FinishAfterServerEnds();
  }
  void Cancel() { context_.TryCancel(); }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::ServerMessage>> stream_;
};

v1::AgentMessage Hello(const std::string& agent_id) {
  v1::AgentMessage m;
  m.mutable_hello()->set_agent_id(agent_id);
  m.mutable_hello()->add_names("rogue.e2e.test");
  m.mutable_hello()->add_capabilities(v1::CHALLENGE_TYPE_TLS_ALPN_01);
  m.mutable_hello()->set_version("rogue/0");
  m.mutable_hello()->set_installs_certificates(true);
  return m;
}

v1::AgentMessage Heartbeat() {
  v1::AgentMessage m;
  m.mutable_heartbeat()->mutable_send_time()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  return m;
}

// Opens a stream as the "rogue" grant and reads the Welcome.
std::unique_ptr<RawStream> WelcomedRogue(v1::Agents::Stub* stub) {
  auto stream = std::make_unique<RawStream>(stub, stack->rogue_token);
  EXPECT_TRUE(stream->Write(Hello("rogue")));
  v1::ServerMessage welcome;
  EXPECT_TRUE(stream->Read(&welcome));
  EXPECT_TRUE(welcome.has_welcome()) << welcome.DebugString();
  return stream;
}

// Opens a TCP connection to the server, writes `bytes` and closes it.
void WriteRawAndClose(const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(stack->server_address.substr(stack->server_address.rfind(':') + 1),
                               &port));
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  (void)!write(fd, bytes.data(), bytes.size());
  close(fd);
}

TEST_F(AgentE2eTest, MisbehavingAgentsDoNotHurtTheServerOrOtherAgents) {
  // Well-behaved agents' issuances run while the misbehaving clients do their worst.
  const int64_t installs_a = stack->agents["web-a"].Counter("certificates_installed");
  const int64_t installs_b = stack->agents["web-b"].Counter("certificates_installed");
  int exit_a = -1;
  int exit_b = -1;
  std::string out_a;
  std::string out_b;
  std::thread issue_a([&] {
    CommandResult r = Cli({"issue", "a2.e2e.test", "--ca", "pebble", "--wait", "--timeout", "4m"});
    exit_a = r.exit_code;
    out_a = r.out + r.err;
  });
  std::thread issue_b([&] {
    CommandResult r = Cli({"issue", "b2.e2e.test", "--ca", "pebble", "--wait", "--timeout", "4m"});
    exit_b = r.exit_code;
    out_b = r.out + r.err;
  });

  auto stub = AgentsStub();
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    {  // The first message is not Hello.
      RawStream s(stub.get(), stack->rogue_token);
      EXPECT_TRUE(s.Write(Heartbeat()));
      grpc::Status status = s.FinishAfterServerEnds();
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_THAT(status.error_message(), HasSubstr("first message must be Hello"));
    }
    {  // A malformed Hello: an agent id with a space and a NUL.
      RawStream s(stub.get(), stack->rogue_token);
      EXPECT_TRUE(s.Write(Hello(std::string("bad id\0!", 8))));
      grpc::Status status = s.FinishAfterServerEnds();
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_THAT(status.error_message(), HasSubstr("must be 1 to 128 characters"));
    }
    {  // An empty Hello.
      RawStream s(stub.get(), stack->rogue_token);
      v1::AgentMessage empty_hello;
      empty_hello.mutable_hello();
      EXPECT_TRUE(s.Write(empty_hello));
      grpc::Status status = s.FinishAfterServerEnds();
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    }
    {  // The wrong token, claiming another agent's id.
      RawStream s(stub.get(), "not-the-token");
      EXPECT_TRUE(s.Write(Hello("web-a")));
      grpc::Status status = s.FinishAfterServerEnds();
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    }
    {  // A second Hello on one stream.
      auto s = WelcomedRogue(stub.get());
      EXPECT_TRUE(s->Write(Hello("rogue")));
      grpc::Status status = s->FinishAfterServerEnds();
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_THAT(status.error_message(), HasSubstr("second Hello"));
    }
    {  // Acks for ids never sent and a message with no body: ignored, the stream stays up.
      auto s = WelcomedRogue(stub.get());
      for (int i = 0; i < 50; ++i) {
        v1::AgentMessage ack;
        ack.mutable_ack()->set_message_id(absl::StrCat("never-sent-", round, "-", i));
        ack.mutable_ack()->set_success(i % 2 == 0);
        ack.mutable_ack()->set_reason("made up");
        ack.mutable_ack()->set_install_path("/etc/passwd");
        ASSERT_TRUE(s->Write(ack));
      }
      ASSERT_TRUE(s->Write(v1::AgentMessage()));
      ASSERT_TRUE(s->Write(Heartbeat()));
      EXPECT_THAT(ConnectedAgentIds(), ::testing::Contains("rogue"));
      grpc::Status status = s->WritesDoneAndFinish();
      EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
    }
    {  // A heartbeat flood: the server ends that stream only.
      auto s = WelcomedRogue(stub.get());
      for (int i = 0; i < 20000; ++i) {
        if (!s->Write(Heartbeat())) break;
      }
      grpc::Status status = s->FinishAfterServerEnds();
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << status.error_message();
      EXPECT_THAT(status.error_message(), HasSubstr("messages in one second"));
    }
    for (int i = 0; i < 10; ++i) {  // Disconnects mid-stream: cancelled before or after Welcome.
      RawStream s(stub.get(), stack->rogue_token);
      s.Write(Hello("rogue"));
      if (i % 2 == 1) {
        v1::ServerMessage welcome;
        s.Read(&welcome);
      }
      s.Cancel();
      EXPECT_EQ(s.FinishAfterServerEnds().error_code(), grpc::StatusCode::CANCELLED);
    }
    for (int i = 0; i < 10; ++i) {  // Connections cut mid-frame: an HTTP/2 preface, then half
                                    // a frame header; and plain garbage.
      WriteRawAndClose(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04", 28));
      WriteRawAndClose("GET / HTTP/1.1\r\nHost: x\r\n\r\n\xff\xfe");
    }
    ASSERT_TRUE(stack->server->Running()) << stack->server->Log();
  }

  issue_a.join();
  issue_b.join();
  EXPECT_EQ(exit_a, 0) << out_a;
  EXPECT_EQ(exit_b, 0) << out_b;
  // Every rogue stream is gone; the good agents are still connected and the server serves.
  EXPECT_TRUE(PollUntil(
      [] {
        std::vector<std::string> ids = ConnectedAgentIds();
        return std::find(ids.begin(), ids.end(), "rogue") == ids.end();
      },
      absl::Seconds(30)));
  ExpectServerServing();
  EXPECT_TRUE(stack->agents["web-a"].Connected());
  EXPECT_TRUE(stack->agents["web-b"].Connected());
  // Those two certificates get installed...
  EXPECT_TRUE(PollUntil(
      [&] {
        return stack->agents["web-a"].Counter("certificates_installed") > installs_a &&
               stack->agents["web-b"].Counter("certificates_installed") > installs_b;
      },
      absl::Seconds(60)));
  EXPECT_TRUE(std::filesystem::exists(stack->agents["web-a"].cert_dir + "/a2.e2e.test"));
  EXPECT_TRUE(std::filesystem::exists(stack->agents["web-b"].cert_dir + "/b2.e2e.test"));
  // ...and the agents go on getting certificates validated and installed.
  IssueAndCheckInstalled("b3.e2e.test", "web-b");
  IssueAndCheckInstalled("a4.e2e.test", "web-a");
}

TEST_F(AgentE2eTest, AgentKilledDuringAChallengeFailsThatIssuanceOnly) {
  AgentProcess& victim = stack->agents["web-c"];
  ASSERT_TRUE(StartAgent(victim).ok());
  const std::string name = victim.names[0];
  // Frozen after its Welcome: it holds the stream open but will never acknowledge.
  victim.daemon->Signal(SIGSTOP);

  CommandResult r = Cli({"--output", "json", "issue", name, "--ca", "pebble"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json started = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(started.is_object()) << r.out;
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << r.out;

  // Kill it once the server has handed it the challenge (the server logs that line right
  // before sending, and then waits for the ack that never comes).
  ASSERT_TRUE(PollUntil(
      [&] {
        for (absl::string_view line : absl::StrSplit(stack->server->Log(), '\n')) {
          if (absl::StrContains(line, "presenting challenge") &&
              absl::StrContains(line, id)) {
            return true;
          }
        }
        return false;
      },
      kIssueTimeout))
      << stack->server->Log();
  // Every state change of the issuance from now on, as one JSON line each.
  auto watch = Daemon::Spawn(
      {absl::StrCat(BuildDir(), "/client/cli/certfleet"), "--server", stack->server_address,
       "--output", "json", "--timeout", "4m", "watch", id, "--until-done"},
      stack->work_dir + "/watch-" + id + ".log");
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE(PollUntil([&] { return !(*watch)->Log().empty(); }, kStartTimeout));
  victim.daemon->Signal(SIGKILL);
  EXPECT_EQ(victim.daemon->Wait(absl::Seconds(30)), 128 + SIGKILL);

  // The issuance reports that the agent went away (seen by the watch, or by polling), then
  // ends failed.
  json seen;
  std::string went_away;
  ASSERT_TRUE(PollUntil(
      [&] {
        for (absl::string_view line : absl::StrSplit((*watch)->Log(), '\n')) {
          if (absl::StrContains(line, "went away")) went_away = std::string(line);
        }
        seen = GetIssuance(id);
        if (absl::StrContains(seen.value("errorMessage", ""), "went away")) {
          went_away = seen.value("errorMessage", "");
        }
        return !went_away.empty();
      },
      kIssueTimeout))
      << seen.dump(2) << "\n"
      << (*watch)->Log() << "\n"
      << stack->server->Log();
  EXPECT_THAT(went_away, HasSubstr("agent web-c went away"));
  EXPECT_EQ((*watch)->Wait(kIssueTimeout), 1) << (*watch)->Log();  // Exit 1: it failed.
  ASSERT_TRUE(PollUntil(
      [&] {
        seen = GetIssuance(id);
        return seen.value("state", "") == "STATE_FAILED";
      },
      kIssueTimeout))
      << seen.dump(2);
  // The final error names the name and keeps the cause: the agent went away.
  EXPECT_THAT(seen.value("errorMessage", ""), HasSubstr(name));
  EXPECT_THAT(seen.value("errorMessage", ""), HasSubstr("agent web-c went away"));
  std::cerr << "e2e: while retrying: " << went_away << "\ne2e: final: "
            << seen.value("errorMessage", "") << "\n";
  EXPECT_EQ(victim.Counter("certificates_installed"), 0);

  // The server keeps serving the others.
  ExpectServerServing();
  IssueAndCheckInstalled("a3.e2e.test", "web-a");
}

}  // namespace
}  // namespace certfleet::e2e
