// End-to-end tests of certfleet-server as a real process, against Pebble, through the real
// certfleet CLI (and a gRPC stub for inputs the CLI refuses to send).

#include <signal.h>
#include <sqlite3.h>

#include <sys/stat.h>

#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "certfleet/v1/certificates.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/server/server_process.h"
#include "tests/support/integration_helpers.h"
#include "tests/support/pebble_fixture.h"

namespace certfleet::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;

class ServerIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tls_port_ = PickFreePort();
    http_port_ = PickFreePort();
    PebbleOptions options;
    options.tls_port = tls_port_;
    options.http_port = http_port_;
    absl::StatusOr<std::unique_ptr<PebbleFixture>> pebble = PebbleFixture::Start(options);
    ASSERT_TRUE(pebble.ok()) << pebble.status();
    pebble_ = pebble->release();
  }
  static void TearDownTestSuite() {
    delete pebble_;
    pebble_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(pebble_, nullptr);
    ASSERT_FALSE(BuildDir().empty()) << "CERTFLEET_BUILD_DIR is not set";
    server_bin_ = BuildDir() + "/server/certfleet-server";
    cli_bin_ = BuildDir() + "/client/cli/certfleet";
    work_dir_ = MakeTempDir("certfleet-server-it");
    db_path_ = work_dir_ + "/certfleet.db";
    config_path_ = work_dir_ + "/config.json";
    json config = {
        {"listen", "127.0.0.1:0"},
        {"database", db_path_},
        {"cas",
         {{"pebble",
           {{"directory_url", pebble_->directory_url()},
            {"ca_bundle", pebble_->ca_bundle_path()},
            {"contact", {"mailto:ops@example.com"}},
            {"terms_of_service_agreed", true}}}}},
        {"default_ca", "pebble"},
        {"defaults", {{"workers", 4}}},
        {"builtin_solver",
         {{"tls_alpn_listen", absl::StrCat("127.0.0.1:", tls_port_)},
          {"http01_listen", absl::StrCat("127.0.0.1:", http_port_)}}},
    };
    std::ofstream(config_path_) << config.dump(2);
  }

  void TearDown() override {
    if (server_ != nullptr && HasFailure()) {
      std::cerr << "--- certfleet-server stderr ---\n" << server_->Stderr() << "\n";
    }
    server_.reset();
  }

  // Lets a test change the config SetUp wrote before it calls StartServer().
  void EditConfig(const std::function<void(json*)>& edit) {
    json config = json::parse(ReadFileOrEmpty(config_path_));
    edit(&config);
    std::ofstream(config_path_) << config.dump(2);
  }

  // Starts certfleet-server and waits until it writes its port file (it is serving then).
  void StartServer() {
    std::string port_file = work_dir_ + "/port";
    std::remove(port_file.c_str());
    ++starts_;
    absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Spawn(
        {server_bin_, "--config", config_path_, "--port-file", port_file},
        absl::StrCat(work_dir_, "/server", starts_, ".out"),
        absl::StrCat(work_dir_, "/server", starts_, ".err"));
    ASSERT_TRUE(child.ok()) << child.status();
    server_ = *std::move(child);
    int port = 0;
    ASSERT_TRUE(PollUntil(
        [&] {
          std::string text(absl::StripAsciiWhitespace(ReadFileOrEmpty(port_file)));
          return absl::SimpleAtoi(text, &port) && port > 0 && !text.empty();
        },
        absl::Seconds(30)))
        << "server did not start: " << server_->Stderr();
    address_ = absl::StrCat("127.0.0.1:", port);
    ASSERT_TRUE(PollUntil([&] { return absl::StrContains(server_->Stdout(), "listening on"); },
                          absl::Seconds(10)));
    EXPECT_THAT(server_->Stdout(), HasSubstr("certfleet-server listening on " + address_));
  }

  ProcessResult Cli(std::vector<std::string> args, absl::Duration timeout = absl::Seconds(120)) {
    std::vector<std::string> argv = {cli_bin_, "--server", address_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, work_dir_, timeout);
  }

  // Runs a CLI command with --output json and parses its stdout.
  json CliJson(std::vector<std::string> args, int want_exit = 0) {
    args.insert(args.begin(), {"--output", "json"});
    ProcessResult r = Cli(args);
    EXPECT_EQ(r.exit_code, want_exit) << r.err << r.out;
    json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j;
  }

  std::unique_ptr<v1::Certificates::Stub> Stub() {
    return v1::Certificates::NewStub(
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  }

  static PebbleFixture* pebble_;
  static int tls_port_;
  static int http_port_;
  std::string server_bin_;
  std::string cli_bin_;
  std::string work_dir_;
  std::string db_path_;
  std::string config_path_;
  std::string address_;
  std::unique_ptr<ChildProcess> server_;
  int starts_ = 0;
};

PebbleFixture* ServerIntegrationTest::pebble_ = nullptr;
int ServerIntegrationTest::tls_port_ = 0;
int ServerIntegrationTest::http_port_ = 0;

// The issuance events in a `watch --output json` transcript, by issuance id: states in order.
std::map<std::string, std::vector<std::string>> WatchedStates(const std::string& transcript) {
  std::map<std::string, std::vector<std::string>> out;
  for (absl::string_view line : absl::StrSplit(transcript, '\n', absl::SkipEmpty())) {
    json event = json::parse(std::string(line), nullptr, false);
    if (event.is_discarded() || !event.contains("issuance")) continue;
    const json& issuance = event["issuance"];
    std::vector<std::string>& states = out[issuance.value("id", "")];
    std::string state = issuance.value("state", "");
    if (states.empty() || states.back() != state) states.push_back(state);
  }
  return out;
}

TEST_F(ServerIntegrationTest, IssueListGetRenewRevokeAndWatch) {
  ASSERT_NO_FATAL_FAILURE(StartServer());

  // A watcher on every issuance. It is connected once it reports a canary issuance (each
  // `issue` of the finished canary starts a new issuance of it).
  absl::StatusOr<std::unique_ptr<ChildProcess>> watcher = ChildProcess::Spawn(
      {cli_bin_, "--server", address_, "--output", "json", "watch"}, work_dir_ + "/watch.out",
      work_dir_ + "/watch.err");
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  bool watching = false;
  for (int i = 0; i < 10 && !watching; ++i) {
    ProcessResult canary = Cli({"--output", "json", "issue", "canary.example.com", "--wait"});
    ASSERT_EQ(canary.exit_code, 0) << canary.err;
    watching = PollUntil(
        [&] { return absl::StrContains((*watcher)->Stdout(), "canary.example.com"); },
        absl::Seconds(2));
  }
  ASSERT_TRUE(watching) << (*watcher)->Stderr();

  // issue --wait
  json issued = CliJson({"issue", "www.example.com", "Api.Example.com", "--wait"});
  ASSERT_EQ(issued.value("state", ""), "STATE_VALID") << issued.dump(2);
  std::string issuance_id = issued.value("id", "");
  std::string serial1 = issued["certificate"].value("serial", "");
  ASSERT_FALSE(serial1.empty()) << issued.dump(2);
  EXPECT_THAT(issued["certificate"].value("chainPem", ""), HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_THAT(issued.dump(), ::testing::Not(HasSubstr("PRIVATE KEY")));

  // The watcher saw it go pending -> running -> valid.
  ASSERT_TRUE(PollUntil(
      [&] {
        auto states = WatchedStates((*watcher)->Stdout())[issuance_id];
        return !states.empty() && states.back() == "STATE_VALID";
      },
      absl::Seconds(30)));
  EXPECT_THAT(WatchedStates((*watcher)->Stdout())[issuance_id],
              ::testing::ElementsAre("STATE_PENDING", "STATE_RUNNING", "STATE_VALID"));

  // list
  json list = CliJson({"list"});
  std::set<std::string> names;
  for (const json& c : list.value("certificates", json::array())) names.insert(c.value("name", ""));
  EXPECT_THAT(names, ::testing::Contains("www.example.com"));
  EXPECT_THAT(names, ::testing::Contains("canary.example.com"));

  // get
  json got = CliJson({"get", "www.example.com"});
  EXPECT_EQ(got["current"].value("serial", ""), serial1);
  EXPECT_EQ(got.value("ca", ""), "pebble");
  ASSERT_EQ(got["identifiers"].size(), 2u);
  EXPECT_EQ(got["identifiers"][1].value("value", ""), "api.example.com");

  // renew --wait: a new version with a new serial.
  json renewed = CliJson({"renew", "www.example.com", "--wait"});
  ASSERT_EQ(renewed.value("state", ""), "STATE_VALID") << renewed.dump(2);
  EXPECT_EQ(renewed.value("reason", ""), "REASON_RENEW");
  std::string serial2 = renewed["certificate"].value("serial", "");
  EXPECT_FALSE(serial2.empty());
  EXPECT_NE(serial2, serial1);
  EXPECT_EQ(CliJson({"get", "www.example.com"})["current"].value("serial", ""), serial2);

  // revoke: Pebble then reports the serial revoked.
  ProcessResult revoked = Cli({"revoke", "www.example.com", "--reason", "superseded"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err << revoked.out;
  absl::StatusOr<std::string> status =
      pebble_->ManagementGet("/cert-status-by-serial/" + serial2);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_THAT(*status, HasSubstr("Revoked"));
  json after = CliJson({"get", "www.example.com"});
  EXPECT_TRUE(after["current"].contains("revokeTime")) << after.dump(2);

  (*watcher)->Signal(SIGTERM);
  (*watcher)->Wait(absl::Seconds(10));

  // SIGTERM drains and exits 0.
  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(absl::Seconds(30)), 0);
}

// Calls a unary method by name with raw protobuf bytes (so the test needs no .proto of gRPC's
// own services). Returns the status and fills `response`.
grpc::Status RawUnaryCall(const std::string& address, const std::string& method,
                          const std::string& request, std::string* response) {
  grpc::GenericStub stub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  grpc::Status status;
  auto call = stub.PrepareUnaryCall(&context, method, request_buffer, &cq);
  call->StartCall();
  call->Finish(&response_buffer, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  if (!cq.Next(&tag, &ok) || !ok) return grpc::Status(grpc::StatusCode::INTERNAL, "cq failed");
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  std::vector<grpc::Slice> slices;
  if (status.ok() && response_buffer.Dump(&slices).ok()) {
    response->clear();
    for (const grpc::Slice& part : slices) {
      response->append(reinterpret_cast<const char*>(part.begin()), part.size());
    }
  }
  return status;
}

TEST_F(ServerIntegrationTest, HealthCheckingIsServing) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  // grpc.health.v1.HealthCheckRequest{service: ""} is empty; the answer
  // HealthCheckResponse{status: SERVING (1)} is field 1, varint 1: 0x08 0x01.
  std::string response;
  grpc::Status status = RawUnaryCall(address_, "/grpc.health.v1.Health/Check", "", &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(response, std::string("\x08\x01", 2));
}

TEST_F(ServerIntegrationTest, AccountsEnsureGetRollOverAndDeactivate) {
  ASSERT_NO_FATAL_FAILURE(StartServer());

  // ensure registers the account once; a second ensure returns the same one.
  json ensured = CliJson({"accounts", "ensure", "pebble"});
  std::string url = ensured.value("accountUrl", "");
  ASSERT_FALSE(url.empty()) << ensured.dump(2);
  EXPECT_EQ(ensured.value("status", ""), "STATUS_VALID");
  EXPECT_EQ(ensured.value("keyType", ""), "KEY_TYPE_ECDSA_P256");
  std::string thumbprint = ensured.value("keyThumbprint", "");
  EXPECT_FALSE(thumbprint.empty());
  EXPECT_THAT(ensured.dump(), ::testing::Not(HasSubstr("PRIVATE KEY")));
  EXPECT_EQ(CliJson({"accounts", "ensure", "pebble"}).value("accountUrl", ""), url);
  EXPECT_EQ(CliJson({"accounts", "get", "pebble"}).value("accountUrl", ""), url);
  json listed = CliJson({"accounts", "list"});
  ASSERT_EQ(listed.value("accounts", json::array()).size(), 1u) << listed.dump(2);
  EXPECT_EQ(listed["accounts"][0].value("ca", ""), "pebble");

  // rollover: same account, new key of the asked type; issuing still works with it.
  json rolled = CliJson({"accounts", "rollover", "pebble", "--key-type", "ecdsa-p384"});
  EXPECT_EQ(rolled.value("accountUrl", ""), url) << rolled.dump(2);
  EXPECT_EQ(rolled.value("keyType", ""), "KEY_TYPE_ECDSA_P384");
  EXPECT_NE(rolled.value("keyThumbprint", ""), thumbprint);
  json issued = CliJson({"issue", "rolled.example.com", "--wait"});
  EXPECT_EQ(issued.value("state", ""), "STATE_VALID") << issued.dump(2);

  // deactivate needs --yes; then the CA refuses the account, and the next issuance registers
  // a new one.
  ProcessResult unconfirmed = Cli({"accounts", "deactivate", "pebble"});
  EXPECT_EQ(unconfirmed.exit_code, 2) << unconfirmed.err;
  json deactivated = CliJson({"accounts", "deactivate", "pebble", "--yes"});
  EXPECT_EQ(deactivated.value("status", ""), "STATUS_DEACTIVATED") << deactivated.dump(2);
  json again = CliJson({"issue", "after-deactivation.example.com", "--wait"});
  EXPECT_EQ(again.value("state", ""), "STATE_VALID") << again.dump(2);
  json fresh = CliJson({"accounts", "get", "pebble"});
  EXPECT_EQ(fresh.value("status", ""), "STATUS_VALID") << fresh.dump(2);
  EXPECT_NE(fresh.value("accountUrl", ""), url);

  // An unknown CA is the caller's mistake.
  ProcessResult unknown = Cli({"accounts", "get", "nosuchca"});
  EXPECT_EQ(unknown.exit_code, 5) << unknown.err;
  EXPECT_THAT(unknown.err, HasSubstr("nosuchca"));
}

TEST_F(ServerIntegrationTest, BadInputIsInvalidArgumentAndLeavesNoRows) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ReadOnlyDb db(db_path_);
  int64_t certs_before = db.Count("managed_certificates");
  int64_t issuances_before = db.Count("issuances");
  ASSERT_EQ(certs_before, 0);
  ASSERT_EQ(issuances_before, 0);

  struct CliCase {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<std::string> many = {"issue"};
  for (int i = 0; i < 101; ++i) many.push_back(absl::StrCat("n", i, ".example.com"));
  std::vector<CliCase> cli_cases = {
      {{"issue", "ok.example.com", "a..b.example.com"},
       "names[1]: \"a..b.example.com\": empty label"},
      {{"issue", "ok.example.com", "--ca", "foo"}, "ca: unknown CA \"foo\" (configured: pebble)"},
      {many, "names: 101 names given, at most 100 allowed"},
      {{"issue", "ok.example.com", "--request-id", "not valid!"},
       "request_id: must be 1-64 characters of [A-Za-z0-9._-]"},
  };
  for (const CliCase& c : cli_cases) {
    ProcessResult r = Cli(c.args);
    EXPECT_EQ(r.exit_code, 5) << r.err;  // The CLI's INVALID_ARGUMENT exit code.
    EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT")) << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << r.err;
  }

  // What the CLI cannot send: no names, an unknown enum value.
  auto stub = Stub();
  struct StubCase {
    v1::IssueCertificateRequest request;
    std::string message;
  };
  std::vector<StubCase> stub_cases(3);
  stub_cases[0].message = "names: no names given";
  stub_cases[1].request.add_names("ok.example.com");
  stub_cases[1].request.set_key_type(static_cast<v1::KeyType>(42));
  stub_cases[1].message = "key_type: unknown value 42";
  stub_cases[2].request.add_names("ok.example.com");
  stub_cases[2].request.set_request_id(std::string(65, 'x'));
  stub_cases[2].message = "request_id: must be 1-64 characters of [A-Za-z0-9._-]";
  for (const StubCase& c : stub_cases) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::Issuance response;
    grpc::Status status = stub->IssueCertificate(&context, c.request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
  }

  EXPECT_EQ(db.Count("managed_certificates"), certs_before);
  EXPECT_EQ(db.Count("issuances"), issuances_before);

  // Unknown things are NOT_FOUND (exit 4).
  ProcessResult missing = Cli({"get", "nope.example.com"});
  EXPECT_EQ(missing.exit_code, 4) << missing.err;
  EXPECT_THAT(missing.err, HasSubstr("certificate \"nope.example.com\" not found"));
}

TEST_F(ServerIntegrationTest, ApiTokenIsRequiredWhenConfigured) {
  const std::string token = "it-api-token-0123456789";
  std::string token_file = work_dir_ + "/api.token";
  std::string wrong_file = work_dir_ + "/wrong.token";
  std::ofstream(token_file) << token << "\n";
  std::ofstream(wrong_file) << "not-the-api-token\n";
  ASSERT_EQ(chmod(token_file.c_str(), 0600), 0);
  ASSERT_EQ(chmod(wrong_file.c_str(), 0600), 0);
  EditConfig([&](json* config) {
    (*config)["api_clients"] = {{{"name", "it-tooling"}, {"token_file", token_file}}};
  });
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ReadOnlyDb db(db_path_);

  ProcessResult anonymous = Cli({"list"});
  EXPECT_EQ(anonymous.exit_code, 7) << anonymous.err;  // The CLI's "not authorized".
  EXPECT_THAT(anonymous.err, HasSubstr("UNAUTHENTICATED"));
  EXPECT_THAT(anonymous.err, HasSubstr("missing or invalid API token (pass --token-file)"));

  ProcessResult wrong = Cli({"--token-file", wrong_file, "list"});
  EXPECT_EQ(wrong.exit_code, 7) << wrong.err;
  EXPECT_THAT(wrong.err, HasSubstr("API token"));
  EXPECT_THAT(wrong.err, Not(HasSubstr("not-the-api-token")));

  ProcessResult allowed = Cli({"--token-file", token_file, "list"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;

  ProcessResult issue = Cli({"issue", "noauth.example.com"});
  EXPECT_EQ(issue.exit_code, 7) << issue.err;
  EXPECT_EQ(db.Count("managed_certificates"), 0);
  EXPECT_EQ(db.Count("issuances"), 0);

  // Rejections are logged with the method, never with the token; no "open API" warning.
  std::string log = server_->Stderr();
  EXPECT_THAT(log, HasSubstr("Certificates.IssueCertificate"));
  EXPECT_THAT(log, Not(HasSubstr("not-the-api-token")));
  EXPECT_THAT(log, Not(HasSubstr(token)));
  EXPECT_THAT(log, Not(HasSubstr("the API is open")));
}

TEST_F(ServerIntegrationTest, SigkillWithTwentyInFlightLosesAndDuplicatesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  constexpr int kCount = 20;
  std::vector<std::string> ids;
  {
    auto stub = Stub();
    for (int i = 0; i < kCount; ++i) {
      v1::IssueCertificateRequest request;
      request.add_names(absl::StrCat("kill", i, ".example.com"));
      request.set_request_id(absl::StrCat("kill-", i));
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      v1::Issuance response;
      grpc::Status status = stub->IssueCertificate(&context, request, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      ids.push_back(response.id());
    }
  }
  server_->Signal(SIGKILL);
  EXPECT_EQ(server_->Wait(absl::Seconds(10)), 128 + SIGKILL);
  int64_t finished_before_kill = 0;
  {
    ReadOnlyDb db(db_path_);
    EXPECT_EQ(db.Count("issuances"), kCount);
    auto rows = db.Query("SELECT COUNT(*) FROM issuances WHERE state = 'valid'");
    (void)absl::SimpleAtoi(rows[0][0], &finished_before_kill);
    for (const auto& row :
         db.Query("SELECT state, step, COUNT(*) FROM issuances GROUP BY state, step")) {
      std::cerr << "at SIGKILL: state=" << row[0] << " step=" << row[1] << " count=" << row[2]
                << "\n";
    }
  }

  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto stub = Stub();
  std::map<std::string, v1::Issuance> final_state;
  ASSERT_TRUE(PollUntil(
      [&] {
        for (const std::string& id : ids) {
          if (final_state.count(id)) continue;
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
          v1::GetIssuanceRequest request;
          request.set_issuance_id(id);
          v1::Issuance issuance;
          if (!stub->GetIssuance(&context, request, &issuance).ok()) return false;
          if (issuance.state() == v1::Issuance::STATE_VALID ||
              issuance.state() == v1::Issuance::STATE_FAILED) {
            final_state[id] = issuance;
          }
        }
        return final_state.size() == ids.size();
      },
      absl::Seconds(240)));
  for (const auto& [id, issuance] : final_state) {
    EXPECT_EQ(issuance.state(), v1::Issuance::STATE_VALID)
        << id << ": " << issuance.error_message();
    EXPECT_FALSE(issuance.certificate().serial().empty()) << id;
  }

  ReadOnlyDb db(db_path_);
  EXPECT_EQ(db.Count("issuances"), kCount);
  EXPECT_EQ(db.Count("managed_certificates"), kCount);
  EXPECT_EQ(db.Count("certificate_versions"), kCount);
  auto orders = db.Query(
      "SELECT COUNT(DISTINCT json_extract(progress_json, '$.order_url')), "
      "COUNT(json_extract(progress_json, '$.order_url')) FROM issuances");
  ASSERT_EQ(orders.size(), 1u);
  EXPECT_EQ(orders[0][0], absl::StrCat(kCount));
  EXPECT_EQ(orders[0][1], absl::StrCat(kCount));
  auto serials = db.Query("SELECT COUNT(DISTINCT serial_hex) FROM certificate_versions");
  EXPECT_EQ(serials[0][0], absl::StrCat(kCount));
}

}  // namespace
}  // namespace certfleet::testing
