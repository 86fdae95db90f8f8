// ApiAuthenticator: building from clients, the bearer-token check, and the check on real
// gRPC metadata (Agents.ListAgents on 127.0.0.1:0).

#include "server/api/api_auth.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "certfleet/v1/agents.grpc.pb.h"
#include "server/agents/agent_policy.h"
#include "server/agents/agent_registry.h"
#include "server/agents/agents_service.h"

namespace certfleet::api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "fleet-tooling-token";

ApiAuthenticator OneClient() {
  absl::StatusOr<ApiAuthenticator> auth =
      ApiAuthenticator::FromClients({{"fleet-tooling", agents::TokenSha256Hex(kToken)}});
  EXPECT_TRUE(auth.ok()) << auth.status();
  return auth.ok() ? *std::move(auth) : ApiAuthenticator();
}

void ExpectRejected(const absl::Status& status) {
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(status.message(), "missing or invalid API token (pass --token-file)");
}

TEST(ApiAuthenticatorTest, OpenAllowsEverything) {
  ApiAuthenticator open;
  EXPECT_TRUE(open.open());
  EXPECT_TRUE(open.CheckAuthorization({}).ok());
  EXPECT_TRUE(open.CheckAuthorization({"Bearer whatever"}).ok());
  absl::StatusOr<ApiAuthenticator> empty = ApiAuthenticator::FromClients({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->open());
}

TEST(ApiAuthenticatorTest, AcceptsOnlyTheRightBearerToken) {
  ApiAuthenticator auth = OneClient();
  EXPECT_FALSE(auth.open());
  EXPECT_TRUE(auth.CheckAuthorization({"Bearer fleet-tooling-token"}).ok());
  EXPECT_TRUE(auth.CheckAuthorization({"bearer fleet-tooling-token"}).ok());
  ExpectRejected(auth.CheckAuthorization({}));
  ExpectRejected(auth.CheckAuthorization({""}));
  ExpectRejected(auth.CheckAuthorization({"Bearer "}));
  ExpectRejected(auth.CheckAuthorization({"fleet-tooling-token"}));
  ExpectRejected(auth.CheckAuthorization({"Basic fleet-tooling-token"}));
  ExpectRejected(auth.CheckAuthorization({"Bearer fleet-tooling-token2"}));
  ExpectRejected(auth.CheckAuthorization({"Bearer  fleet-tooling-token"}));
  ExpectRejected(auth.CheckAuthorization({"Bearer fleet-tooling-token", "Bearer x"}));
  // The message never carries what was presented.
  EXPECT_THAT(std::string(auth.CheckAuthorization({"Bearer s3cret"}).message()),
              Not(HasSubstr("s3cret")));
}

TEST(ApiAuthenticatorTest, AnyOfSeveralClients) {
  absl::StatusOr<ApiAuthenticator> auth = ApiAuthenticator::FromClients(
      {{"a", agents::TokenSha256Hex("token-a")}, {"b", agents::TokenSha256Hex("token-b")}});
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE(auth->CheckAuthorization({"Bearer token-a"}).ok());
  EXPECT_TRUE(auth->CheckAuthorization({"Bearer token-b"}).ok());
  ExpectRejected(auth->CheckAuthorization({"Bearer token-c"}));
}

TEST(ApiAuthenticatorTest, FromClientsRejectsBadClients) {
  const std::string hex(64, 'A');
  struct Case {
    std::vector<ApiClient> clients;
    std::string message;
  } cases[] = {
      {{{"", hex}}, "api client #1 (\"\"): no name"},
      {{{"a", hex}, {"a", hex}}, "api client #2 (\"a\"): name appears twice"},
      {{{"a", "abc"}}, "api client #1 (\"a\"): token_sha256 must be 64 hex digits"},
      {{{"a", std::string(63, 'a') + "z"}},
       "api client #1 (\"a\"): token_sha256 must be 64 hex digits"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ApiAuthenticator> auth = ApiAuthenticator::FromClients(c.clients);
    EXPECT_EQ(auth.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(auth.status().message(), c.message);
  }
}

// Check() reads the "authorization" metadata of a real call; RejectUnauthorized finishes
// the call UNAUTHENTICATED.
TEST(ApiAuthenticatorTest, ListAgentsNeedsTheToken) {
  ApiAuthenticator auth = OneClient();
  agents::AgentRegistry registry;
  agents::AgentsServiceOptions options;
  options.api_auth = &auth;
  agents::AgentsService service(&registry, std::move(options));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_NE(port, 0);
  auto stub = v1::Agents::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                      grpc::InsecureChannelCredentials()));
  auto call = [&](const std::string& authorization) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    v1::ListAgentsRequest request;
    v1::ListAgentsResponse response;
    return stub->ListAgents(&context, request, &response);
  };
  grpc::Status none = call("");
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(none.error_message(), "missing or invalid API token (pass --token-file)");
  EXPECT_EQ(call("Bearer wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status ok = call("Bearer fleet-tooling-token");
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

}  // namespace
}  // namespace certfleet::api
