// The certfleet CLI against fake Certificates and Accounts services on a real gRPC server
// (127.0.0.1, port 0): the requests it sends, how it prints results, and its exit codes.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "certfleet/v1/accounts.grpc.pb.h"
#include "certfleet/v1/certificates.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/cli/cli_runner.h"

namespace certfleet::cli {
namespace {

using testing::CliResult;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::RunCliWith;
using ::testing::StartsWith;

// Remaining time until the call's deadline, as the server saw it.
absl::Duration TimeLeft(const grpc::ServerContext* context) {
  return absl::FromChrono(context->deadline() - std::chrono::system_clock::now());
}

// A Certificates service that records requests and returns what the test configured.
class FakeCertificates final : public v1::Certificates::Service {
 public:
  grpc::Status IssueCertificate(grpc::ServerContext* context,
                                const v1::IssueCertificateRequest* request,
                                v1::Issuance* response) override {
    absl::MutexLock lock(&mu);
    issue_requests.push_back(*request);
    Record(context);
    *response = issuance;
    return status;
  }
  grpc::Status RenewCertificate(grpc::ServerContext* context,
                                const v1::RenewCertificateRequest* request,
                                v1::Issuance* response) override {
    absl::MutexLock lock(&mu);
    renew_requests.push_back(*request);
    Record(context);
    *response = issuance;
    return status;
  }
  grpc::Status GetCertificate(grpc::ServerContext* context,
                              const v1::GetCertificateRequest* request,
                              v1::ManagedCertificate* response) override {
    absl::MutexLock lock(&mu);
    get_requests.push_back(*request);
    Record(context);
    *response = certificate;
    return status;
  }
  grpc::Status ListCertificates(grpc::ServerContext* context,
                                const v1::ListCertificatesRequest* request,
                                v1::ListCertificatesResponse* response) override {
    absl::MutexLock lock(&mu);
    list_requests.push_back(*request);
    Record(context);
    auto it = pages.find(request->page_token());
    if (it == pages.end()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad token");
    *response = it->second;
    return status;
  }
  grpc::Status RevokeCertificate(grpc::ServerContext* context,
                                 const v1::RevokeCertificateRequest* request,
                                 v1::CertificateVersion* response) override {
    absl::MutexLock lock(&mu);
    revoke_requests.push_back(*request);
    Record(context);
    *response = certificate.current();
    return status;
  }
  grpc::Status GetIssuance(grpc::ServerContext* context, const v1::GetIssuanceRequest* request,
                           v1::Issuance* response) override {
    absl::MutexLock lock(&mu);
    get_issuance_requests.push_back(*request);
    Record(context);
    *response = issuance;
    return status;
  }
  grpc::Status WatchIssuances(grpc::ServerContext* context,
                              const v1::WatchIssuancesRequest* request,
                              grpc::ServerWriter<v1::IssuanceEvent>* writer) override {
    std::vector<v1::IssuanceEvent> to_send;
    {
      absl::MutexLock lock(&mu);
      watch_requests.push_back(*request);
      Record(context);
      to_send = events;
    }
    for (const v1::IssuanceEvent& event : to_send) {
      if (!writer->Write(event)) break;
    }
    return grpc::Status::OK;
  }

  absl::Mutex mu;
  // What every call returns (besides ListCertificates, which uses `pages`).
  grpc::Status status ABSL_GUARDED_BY(mu);
  v1::Issuance issuance ABSL_GUARDED_BY(mu);
  v1::ManagedCertificate certificate ABSL_GUARDED_BY(mu);
  std::map<std::string, v1::ListCertificatesResponse> pages ABSL_GUARDED_BY(mu);
  std::vector<v1::IssuanceEvent> events ABSL_GUARDED_BY(mu);
  // Recorded calls.
  std::vector<v1::IssueCertificateRequest> issue_requests ABSL_GUARDED_BY(mu);
  std::vector<v1::RenewCertificateRequest> renew_requests ABSL_GUARDED_BY(mu);
  std::vector<v1::GetCertificateRequest> get_requests ABSL_GUARDED_BY(mu);
  std::vector<v1::ListCertificatesRequest> list_requests ABSL_GUARDED_BY(mu);
  std::vector<v1::RevokeCertificateRequest> revoke_requests ABSL_GUARDED_BY(mu);
  std::vector<v1::GetIssuanceRequest> get_issuance_requests ABSL_GUARDED_BY(mu);
  std::vector<v1::WatchIssuancesRequest> watch_requests ABSL_GUARDED_BY(mu);
  std::vector<std::string> authorization ABSL_GUARDED_BY(mu);
  std::vector<absl::Duration> time_left ABSL_GUARDED_BY(mu);

 private:
  void Record(grpc::ServerContext* context) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = context->client_metadata().find("authorization");
    authorization.push_back(it == context->client_metadata().end()
                                ? ""
                                : std::string(it->second.data(), it->second.size()));
    time_left.push_back(TimeLeft(context));
  }
};

// An Accounts service that records requests.
class FakeAccounts final : public v1::Accounts::Service {
 public:
  grpc::Status ListAccounts(grpc::ServerContext*, const v1::ListAccountsRequest*,
                            v1::ListAccountsResponse* response) override {
    absl::MutexLock lock(&mu);
    *response->add_accounts() = account;
    return grpc::Status::OK;
  }
  grpc::Status GetAccount(grpc::ServerContext*, const v1::GetAccountRequest* request,
                          v1::Account* response) override {
    absl::MutexLock lock(&mu);
    calls.push_back("get " + request->ca());
    if (request->ca() != account.ca()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("no account for CA \"", request->ca(), "\""));
    }
    *response = account;
    return grpc::Status::OK;
  }
  grpc::Status EnsureAccount(grpc::ServerContext*, const v1::EnsureAccountRequest* request,
                             v1::Account* response) override {
    absl::MutexLock lock(&mu);
    calls.push_back("ensure " + request->ca());
    *response = account;
    return grpc::Status::OK;
  }
  grpc::Status DeactivateAccount(grpc::ServerContext*, const v1::DeactivateAccountRequest* request,
                                 v1::Account* response) override {
    absl::MutexLock lock(&mu);
    calls.push_back("deactivate " + request->ca());
    *response = account;
    response->set_status(v1::Account::STATUS_DEACTIVATED);
    return grpc::Status::OK;
  }
  grpc::Status RollOverAccountKey(grpc::ServerContext*,
                                  const v1::RollOverAccountKeyRequest* request,
                                  v1::Account* response) override {
    absl::MutexLock lock(&mu);
    calls.push_back(absl::StrCat("rollover ", request->ca(), " ", request->key_type()));
    *response = account;
    return grpc::Status::OK;
  }

  absl::Mutex mu;
  v1::Account account ABSL_GUARDED_BY(mu);
  std::vector<std::string> calls ABSL_GUARDED_BY(mu);
};

v1::Issuance MakeIssuance(const std::string& id, v1::Issuance::State state,
                          const std::string& step = "") {
  v1::Issuance issuance;
  issuance.set_id(id);
  issuance.set_certificate_name("a.example");
  issuance.add_identifiers()->set_value("a.example");
  issuance.set_state(state);
  issuance.set_step(step);
  return issuance;
}

v1::ManagedCertificate MakeCertificate(const std::string& name) {
  v1::ManagedCertificate certificate;
  certificate.set_name(name);
  certificate.set_ca("pebble");
  certificate.add_identifiers()->set_value(name);
  return certificate;
}

class CliRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("CERTFLEET_SERVER");
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&certificates_);
    builder.RegisterService(&accounts_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    address_ = absl::StrCat("127.0.0.1:", port);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // Runs the CLI against the fake server.
  CliResult Run(std::vector<std::string> args) {
    args.push_back("--server");
    args.push_back(address_);
    return RunCliWith(args);
  }

  FakeCertificates certificates_;
  FakeAccounts accounts_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST_F(CliRpcTest, IssueSendsEveryRequestField) {
  const std::string token_file = ::testing::TempDir() + "/cli_rpc_test_token";
  std::ofstream(token_file) << "s3cret-token\n";
  {
    absl::MutexLock lock(&certificates_.mu);
    certificates_.issuance =
        MakeIssuance("iss_00000000000000a1", v1::Issuance::STATE_VALID, "done");
  }
  CliResult result = Run({"issue", "a.example", "B.example", "--ca", "pebble", "--challenge",
                          "tls-alpn-01,http-01", "--key-type", "rsa3072", "--request-id", "req-1",
                          "--cert-name", "web", "--wait", "--token-file", token_file});
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_THAT(result.out, HasSubstr("Issuance:     iss_00000000000000a1\n"));
  EXPECT_THAT(result.out, HasSubstr("State:        valid\n"));

  absl::MutexLock lock(&certificates_.mu);
  ASSERT_EQ(certificates_.issue_requests.size(), 1u);
  const v1::IssueCertificateRequest& request = certificates_.issue_requests[0];
  EXPECT_THAT(request.names(), ElementsAre("a.example", "B.example"));
  EXPECT_EQ(request.ca(), "pebble");
  EXPECT_THAT(request.challenge_preference(),
              ElementsAre(v1::CHALLENGE_TYPE_TLS_ALPN_01, v1::CHALLENGE_TYPE_HTTP_01));
  EXPECT_EQ(request.key_type(), v1::KEY_TYPE_RSA_3072);
  EXPECT_EQ(request.request_id(), "req-1");
  EXPECT_EQ(request.certificate_name(), "web");
  EXPECT_TRUE(request.wait());
  EXPECT_THAT(certificates_.authorization, ElementsAre("Bearer s3cret-token"));
  // --wait defaults to a 10 minute deadline.
  EXPECT_GT(certificates_.time_left[0], absl::Minutes(9));
  // (gRPC rounds the timeout it sends up, so allow a little over.)
  EXPECT_LE(certificates_.time_left[0], absl::Minutes(10) + absl::Seconds(2));
}

TEST_F(CliRpcTest, IssueWithoutOptionsSendsDefaultsAndShortDeadline) {
  {
    absl::MutexLock lock(&certificates_.mu);
    certificates_.issuance = MakeIssuance("iss_1", v1::Issuance::STATE_PENDING);
  }
  CliResult result = Run({"issue", "a.example", "--challenge", "http-01", "--challenge",
                          "tls-alpn-01", "--output", "json"});
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("\"id\": \"iss_1\""));
  EXPECT_THAT(result.out, HasSubstr("\"state\": \"STATE_PENDING\""));
  absl::MutexLock lock(&certificates_.mu);
  ASSERT_EQ(certificates_.issue_requests.size(), 1u);
  const v1::IssueCertificateRequest& request = certificates_.issue_requests[0];
  EXPECT_EQ(request.ca(), "");
  EXPECT_EQ(request.key_type(), v1::KEY_TYPE_UNSPECIFIED);
  EXPECT_THAT(request.challenge_preference(),
              ElementsAre(v1::CHALLENGE_TYPE_HTTP_01, v1::CHALLENGE_TYPE_TLS_ALPN_01));
  EXPECT_FALSE(request.wait());
  EXPECT_EQ(request.request_id(), "");
  EXPECT_THAT(certificates_.authorization, ElementsAre(""));
  EXPECT_LE(certificates_.time_left[0], absl::Seconds(32));
  EXPECT_GT(certificates_.time_left[0], absl::Seconds(20));
}

TEST_F(CliRpcTest, FailedIssuanceExitsOne) {
  {
    absl::MutexLock lock(&certificates_.mu);
    certificates_.issuance = MakeIssuance("iss_2", v1::Issuance::STATE_FAILED, "authorizing");
    certificates_.issuance.set_error_code(9);
    certificates_.issuance.set_error_message("urn:ietf:params:acme:error:connection: refused");
  }
  CliResult result = Run({"issue", "a.example", "--wait"});
  EXPECT_EQ(result.code, 1);
  EXPECT_THAT(result.out, HasSubstr("State:        failed\n"));
  EXPECT_EQ(result.err,
            "certfleet: issuance iss_2 failed: urn:ietf:params:acme:error:connection: refused\n");
}

TEST_F(CliRpcTest, InvalidArgumentExitsFiveWithTheServerMessage) {
  {
    absl::MutexLock lock(&certificates_.mu);
    certificates_.status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                        "names[0]: \"bad..example\" is not a valid DNS name");
  }
  CliResult result = Run({"issue", "bad..example"});
  EXPECT_EQ(result.code, 5);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err,
            "certfleet: INVALID_ARGUMENT: names[0]: \"bad..example\" is not a valid DNS name\n");
}

TEST_F(CliRpcTest, FailedPreconditionExitsFive) {
  {
    absl::MutexLock lock(&certificates_.mu);
    certificates_.status =
        grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no agent serves a.example");
  }
  CliResult result = Run({"renew", "a.example", "--wait", "--request-id", "r2"});
  EXPECT_EQ(result.code, 5);
  EXPECT_EQ(result.err, "certfleet: FAILED_PRECONDITION: no agent serves a.example\n");
  absl::MutexLock lock(&certificates_.mu);
  ASSERT_EQ(certificates_.renew_requests.size(), 1u);
  EXPECT_EQ(certificates_.renew_requests[0].certificate_name(), "a.example");
  EXPECT_EQ(certificates_.renew_requests[0].request_id(), "r2");
  EXPECT_TRUE(certificates_.renew_requests[0].wait());
}

TEST_F(CliRpcTest, NotFoundExitsFour) {
  {
    absl::MutexLock lock(&certificates_.mu);
    certificates_.status =
        grpc::Status(grpc::StatusCode::NOT_FOUND, "certificate \"nope.example\" not found");
  }
  CliResult result = Run({"get", "nope.example"});
  EXPECT_EQ(result.code, 4);
  EXPECT_EQ(result.err, "certfleet: NOT_FOUND: certificate \"nope.example\" not found\n");
}

TEST_F(CliRpcTest, OtherServerErrorExitsSix) {
  {
    absl::MutexLock lock(&certificates_.mu);
    certificates_.status = grpc::Status(grpc::StatusCode::INTERNAL, "database is locked");
  }
  CliResult result = Run({"issuance", "iss_1"});
  EXPECT_EQ(result.code, 6);
  EXPECT_EQ(result.err, "certfleet: INTERNAL: database is locked\n");
}

TEST_F(CliRpcTest, UnreachableServerExitsThree) {
  // A bound but not listening socket: connections to it are refused, and no one else can
  // take the port while it is held.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::string dead = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));

  for (const auto& args :
       std::vector<std::vector<std::string>>{{"list", "--server", dead},
                                             {"issue", "a.example", "--wait", "--server", dead},
                                             {"watch", "--server", dead},
                                             {"accounts", "list", "--server", dead}}) {
    CliResult result = RunCliWith(args);
    EXPECT_EQ(result.code, 3) << args[0] << ": " << result.err;
    EXPECT_THAT(result.err, StartsWith("certfleet: UNAVAILABLE: ")) << args[0];
  }
  close(fd);
}

TEST_F(CliRpcTest, ListAllFollowsPageTokens) {
  {
    absl::MutexLock lock(&certificates_.mu);
    v1::ListCertificatesResponse first;
    *first.add_certificates() = MakeCertificate("a.example");
    *first.add_certificates() = MakeCertificate("b.example");
    first.set_next_page_token("t1");
    v1::ListCertificatesResponse second;
    *second.add_certificates() = MakeCertificate("c.example");
    second.set_next_page_token("t2");
    v1::ListCertificatesResponse third;
    *third.add_certificates() = MakeCertificate("d.example");
    certificates_.pages = {{"", first}, {"t1", second}, {"t2", third}};
  }
  CliResult result =
      Run({"list", "--all", "--page-size", "2", "--filter", "example", "--state", "valid"});
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  std::vector<std::string> lines = absl::StrSplit(result.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 5u) << result.out;
  EXPECT_THAT(lines[0], StartsWith("NAME       CA      STATE"));
  EXPECT_THAT(lines[1], StartsWith("a.example  pebble"));
  EXPECT_THAT(lines[4], StartsWith("d.example  pebble"));

  absl::MutexLock lock(&certificates_.mu);
  ASSERT_EQ(certificates_.list_requests.size(), 3u);
  EXPECT_EQ(certificates_.list_requests[0].page_token(), "");
  EXPECT_EQ(certificates_.list_requests[1].page_token(), "t1");
  EXPECT_EQ(certificates_.list_requests[2].page_token(), "t2");
  for (const auto& request : certificates_.list_requests) {
    EXPECT_EQ(request.page_size(), 2);
    EXPECT_EQ(request.name_filter(), "example");
    EXPECT_EQ(request.state_filter(), v1::Issuance::STATE_VALID);
    EXPECT_FALSE(request.has_expiring_before());
  }
}

TEST_F(CliRpcTest, ListOnePageMentionsTheNextToken) {
  {
    absl::MutexLock lock(&certificates_.mu);
    v1::ListCertificatesResponse first;
    *first.add_certificates() = MakeCertificate("a.example");
    first.set_next_page_token("t1");
    certificates_.pages = {{"", first}};
  }
  absl::Time before = absl::Now();
  CliResult result = Run({"list", "--expiring-within", "30d"});
  absl::Time after = absl::Now();
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(result.err, "certfleet: more results: pass --all, or --page-token t1\n");
  absl::MutexLock lock(&certificates_.mu);
  ASSERT_EQ(certificates_.list_requests.size(), 1u);
  int64_t expiring = certificates_.list_requests[0].expiring_before().seconds();
  EXPECT_GE(expiring, absl::ToUnixSeconds(before + absl::Hours(24 * 30)));
  EXPECT_LE(expiring, absl::ToUnixSeconds(after + absl::Hours(24 * 30)));
}

TEST_F(CliRpcTest, ListAllAsOneJsonDocument) {
  {
    absl::MutexLock lock(&certificates_.mu);
    v1::ListCertificatesResponse first;
    *first.add_certificates() = MakeCertificate("a.example");
    first.set_next_page_token("t1");
    v1::ListCertificatesResponse second;
    *second.add_certificates() = MakeCertificate("b.example");
    certificates_.pages = {{"", first}, {"t1", second}};
  }
  CliResult result = Run({"list", "--all", "--output", "json"});
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_THAT(result.out, StartsWith("{"));
  EXPECT_THAT(result.out, HasSubstr("\"name\": \"a.example\""));
  EXPECT_THAT(result.out, HasSubstr("\"name\": \"b.example\""));
  EXPECT_THAT(result.out, HasSubstr("\"nextPageToken\": \"\""));
}

TEST_F(CliRpcTest, GetPemPrintsOnlyTheChain) {
  {
    absl::MutexLock lock(&certificates_.mu);
    certificates_.certificate = MakeCertificate("a.example");
    certificates_.certificate.mutable_current()->set_chain_pem(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  }
  CliResult result = Run({"get", "a.example", "--pem"});
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(result.out, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  absl::MutexLock lock(&certificates_.mu);
  ASSERT_EQ(certificates_.get_requests.size(), 1u);
  EXPECT_EQ(certificates_.get_requests[0].certificate_name(), "a.example");
}

TEST_F(CliRpcTest, RevokeSendsSerialAndReason) {
  {
    absl::MutexLock lock(&certificates_.mu);
    certificates_.certificate = MakeCertificate("a.example");
    certificates_.certificate.mutable_current()->set_serial("0ABC");
    certificates_.certificate.mutable_current()->mutable_revoke_time()->set_seconds(1767225600);
  }
  CliResult result = Run({"revoke", "a.example", "--serial", "0abc", "--reason", "superseded"});
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("Revoked:     2026-01-01T00:00:00Z\n"));
  absl::MutexLock lock(&certificates_.mu);
  ASSERT_EQ(certificates_.revoke_requests.size(), 1u);
  EXPECT_EQ(certificates_.revoke_requests[0].certificate_name(), "a.example");
  EXPECT_EQ(certificates_.revoke_requests[0].serial(), "0ABC");
  EXPECT_EQ(certificates_.revoke_requests[0].reason(), 4);
}

v1::IssuanceEvent Event(v1::Issuance issuance) {
  v1::IssuanceEvent event;
  *event.mutable_issuance() = std::move(issuance);
  return event;
}

TEST_F(CliRpcTest, WatchUntilDoneExitsZeroOnValid) {
  {
    absl::MutexLock lock(&certificates_.mu);
    certificates_.issuance = MakeIssuance("iss_7", v1::Issuance::STATE_PENDING, "new");
    certificates_.events = {
        Event(MakeIssuance("iss_other", v1::Issuance::STATE_FAILED, "authorizing")),
        Event(MakeIssuance("iss_7", v1::Issuance::STATE_RUNNING, "ordered")),
        Event(MakeIssuance("iss_7", v1::Issuance::STATE_RUNNING, "ordered")),
        Event(MakeIssuance("iss_7", v1::Issuance::STATE_VALID, "done")),
        Event(MakeIssuance("iss_7", v1::Issuance::STATE_FAILED, "done")),
    };
  }
  CliResult result = Run({"watch", "iss_7", "--until-done"});
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  std::vector<std::string> lines = absl::StrSplit(result.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << result.out;
  EXPECT_EQ(lines[0], "-  iss_7  pending  a.example  step=new");
  EXPECT_EQ(lines[1], "-  iss_other  failed   a.example  step=authorizing");
  EXPECT_EQ(lines[2], "-  iss_7  running  a.example  step=ordered");
  EXPECT_EQ(lines[3], "-  iss_7  valid    a.example  step=done");
  absl::MutexLock lock(&certificates_.mu);
  ASSERT_EQ(certificates_.watch_requests.size(), 1u);
  EXPECT_EQ(certificates_.watch_requests[0].issuance_id(), "iss_7");
}

TEST_F(CliRpcTest, WatchUntilDoneExitsOneOnFailed) {
  {
    absl::MutexLock lock(&certificates_.mu);
    certificates_.issuance = MakeIssuance("iss_8", v1::Issuance::STATE_RUNNING, "ordered");
    v1::Issuance failed = MakeIssuance("iss_8", v1::Issuance::STATE_FAILED, "authorizing");
    failed.set_error_message("unauthorized: no agent answered");
    certificates_.events = {Event(failed)};
  }
  CliResult result = Run({"watch", "iss_8", "--until-done"});
  EXPECT_EQ(result.code, 1);
  EXPECT_EQ(result.err, "certfleet: issuance iss_8 failed: unauthorized: no agent answered\n");
}

TEST_F(CliRpcTest, WatchUntilDoneOnAFinishedIssuanceReturnsAtOnce) {
  {
    absl::MutexLock lock(&certificates_.mu);
    certificates_.issuance = MakeIssuance("iss_9", v1::Issuance::STATE_VALID, "done");
  }
  CliResult result = Run({"watch", "iss_9", "--until-done", "--output", "json"});
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_THAT(result.out, StartsWith("{\"issuance\":{\"id\":\"iss_9\""));
}

TEST_F(CliRpcTest, WatchUntilDoneWhenTheStreamEndsEarly) {
  {
    absl::MutexLock lock(&certificates_.mu);
    certificates_.issuance = MakeIssuance("iss_10", v1::Issuance::STATE_RUNNING, "ordered");
  }
  CliResult result = Run({"watch", "iss_10", "--until-done"});
  EXPECT_EQ(result.code, 6);
  EXPECT_EQ(result.err, "certfleet: the server ended the watch before issuance iss_10 finished\n");
}

TEST_F(CliRpcTest, WatchAllPrintsOneJsonObjectPerLine) {
  {
    absl::MutexLock lock(&certificates_.mu);
    certificates_.events = {Event(MakeIssuance("iss_1", v1::Issuance::STATE_RUNNING, "ordered")),
                            Event(MakeIssuance("iss_2", v1::Issuance::STATE_FAILED, "new"))};
  }
  CliResult result = Run({"watch", "--output", "json"});
  EXPECT_EQ(result.code, 0) << result.err;
  std::vector<std::string> lines = absl::StrSplit(result.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << result.out;
  EXPECT_THAT(lines[0], StartsWith("{\"issuance\":{\"id\":\"iss_1\""));
  EXPECT_THAT(lines[1], StartsWith("{\"issuance\":{\"id\":\"iss_2\""));
  absl::MutexLock lock(&certificates_.mu);
  EXPECT_TRUE(certificates_.get_issuance_requests.empty());
}

TEST_F(CliRpcTest, AccountCommands) {
  {
    absl::MutexLock lock(&accounts_.mu);
    accounts_.account.set_ca("pebble");
    accounts_.account.set_status(v1::Account::STATUS_VALID);
    accounts_.account.set_account_url("https://pebble/acct/1");
  }
  CliResult list = Run({"accounts", "list"});
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("pebble  valid"));
  EXPECT_EQ(Run({"accounts", "ensure", "pebble"}).code, 0);
  CliResult deactivated = Run({"accounts", "deactivate", "pebble", "--yes"});
  EXPECT_EQ(deactivated.code, 0);
  EXPECT_THAT(deactivated.out, HasSubstr("Status:          deactivated\n"));
  EXPECT_EQ(Run({"accounts", "rollover", "pebble", "--key-type", "ecdsa-p384"}).code, 0);
  CliResult missing = Run({"accounts", "get", "letsencrypt"});
  EXPECT_EQ(missing.code, 4);
  EXPECT_EQ(missing.err, "certfleet: NOT_FOUND: no account for CA \"letsencrypt\"\n");
  absl::MutexLock lock(&accounts_.mu);
  EXPECT_THAT(accounts_.calls, ElementsAre("ensure pebble", "deactivate pebble",
                                           absl::StrCat("rollover pebble ",
                                                        static_cast<int>(v1::KEY_TYPE_ECDSA_P384)),
                                           "get letsencrypt"));
}

TEST_F(CliRpcTest, UnimplementedAgentsServiceIsAServerError) {
  CliResult result = Run({"agents", "list"});
  EXPECT_EQ(result.code, 6);
  EXPECT_THAT(result.err, StartsWith("certfleet: UNIMPLEMENTED: "));
}

}  // namespace
}  // namespace certfleet::cli
