// The order state machine on scripted CA answers (no sleeping: fake clock).

#include "server/acme/order_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "tests/acme/acme_test_util.h"

namespace certfleet::acme {
namespace {

using ::testing::HasSubstr;
using testing::FakeClock;
using testing::FakeTransport;
using testing::JsonResponse;
using testing::ReadTestdata;

constexpr char kDir[] = "https://127.0.0.1:14000/dir";
constexpr char kOrderUrl[] = "https://127.0.0.1:14000/my-order/O1";

class RecordingSink : public ProgressSink {
 public:
  absl::Status Save(const OrderProgress& p) override {
    saved.push_back(p);
    return absl::OkStatus();
  }
  std::vector<OrderProgress> saved;
};

class ScriptedSolver : public ChallengeSolver {
 public:
  absl::Status CanSolve(const identifiers::Identifier& id, const std::string& type) override {
    ++can_solve_calls;
    return can_solve;
  }
  absl::Status Present(const ChallengeTask&, absl::Time) override {
    ++presents;
    return absl::OkStatus();
  }
  void CleanUp(const ChallengeTask&) override { ++cleanups; }
  absl::Status can_solve = absl::OkStatus();
  int can_solve_calls = 0, presents = 0, cleanups = 0;
};

class OrderDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
    ASSERT_TRUE(key.ok()) << key.status();
    cert_key_ = std::make_unique<crypto::PrivateKey>(*std::move(key));
    request_.identifiers = {{identifiers::IdentifierType::kDns, "bad.example.com"}};
    request_.issuance_id = "iss-1";
    request_.deadline = clock_.Now() + absl::Minutes(5);
  }
  void MakeClient(FakeTransport::Handler post) {
    transport_ = std::make_shared<FakeTransport>([post](const HttpRequest& r) {
      if (r.url == kDir) return JsonResponse(200, ReadTestdata("directory_pebble.json"));
      if (r.method == "HEAD") {
        HttpResponse resp;
        resp.status = 200;
        static int n = 0;
        resp.headers.Add("Replay-Nonce", "head-" + std::to_string(++n));
        return resp;
      }
      return post(r);
    });
    AcmeClientOptions options;
    options.directory_url = kDir;
    options.clock = &clock_;
    client_ = std::make_unique<AcmeClient>(transport_, options);
    auto key = crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
    ASSERT_TRUE(key.ok());
    client_->SetAccountKey(*std::move(key));
    client_->set_account_url("https://127.0.0.1:14000/my-account/1");
  }
  int PostsTo(const std::string& url_part) const {
    int n = 0;
    for (const auto& r : transport_->requests()) {
      n += r.method == "POST" && absl::StrContains(r.url, url_part);
    }
    return n;
  }

  FakeClock clock_;
  std::shared_ptr<FakeTransport> transport_;
  std::unique_ptr<AcmeClient> client_;
  std::unique_ptr<crypto::PrivateKey> cert_key_;
  OrderRequest request_;
  RecordingSink sink_;
  ScriptedSolver solver_;
};

TEST_F(OrderDriverTest, UnsolvableIdentifierFailsBeforeAnyRequest) {
  MakeClient([](const HttpRequest&) { return JsonResponse(500, "{}"); });
  solver_.can_solve = absl::FailedPreconditionError("no agent serves bad.example.com");
  OrderProgress progress;
  OrderDriver driver(client_.get());
  auto result = driver.Run(request_, *cert_key_, &progress, &sink_, &solver_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("no agent serves bad.example.com"));
  EXPECT_TRUE(transport_->requests().empty());
  EXPECT_EQ(solver_.can_solve_calls, 2);  // tls-alpn-01, then http-01
  EXPECT_TRUE(sink_.saved.empty());
}

TEST_F(OrderDriverTest, WildcardWithoutDns01IsInvalidArgumentBeforeAnyRequest) {
  MakeClient([](const HttpRequest&) { return JsonResponse(500, "{}"); });
  request_.identifiers = {{identifiers::IdentifierType::kDns, "*.example.com"}};
  OrderProgress progress;
  OrderDriver driver(client_.get());
  auto result = driver.Run(request_, *cert_key_, &progress, &sink_, &solver_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("wildcard *.example.com can only be validated with dns-01"));
  EXPECT_TRUE(transport_->requests().empty());
}

TEST_F(OrderDriverTest, ResumeAfterFinalizeSentNeverFinalizesAgain) {
  int order_gets = 0;
  MakeClient([&order_gets](const HttpRequest& r) {
    if (r.url == kOrderUrl) {
      int n = ++order_gets;
      return JsonResponse(
          200, ReadTestdata(n < 3 ? "order_processing.json" : "order_invalid.json"),
          "n-order-" + std::to_string(n));
    }
    if (absl::StrContains(r.url, "/authZ/")) {
      return JsonResponse(200, ReadTestdata("authz_invalid.json"), "n-authz");
    }
    return JsonResponse(404, R"({"type":"urn:ietf:params:acme:error:malformed","detail":"?"})");
  });
  OrderProgress progress;
  progress.step = kStepFinalizing;
  progress.order_url = kOrderUrl;
  progress.finalize_url = "https://127.0.0.1:14000/finalize-order/O1";
  progress.finalize_sent = true;
  progress.csr_der_b64 = "MIIB";
  OrderDriverOptions options;
  options.initial_poll_interval = absl::Seconds(2);
  OrderDriver driver(client_.get(), options);
  auto result = driver.Run(request_, *cert_key_, &progress, &sink_, &solver_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("authorization for bad.example.com is invalid: tls-alpn-01: "
                        "unauthorized: Incorrect validation certificate"));
  EXPECT_EQ(PostsTo("finalize-order"), 0);
  EXPECT_EQ(order_gets, 3);
  // Polled with backoff on the fake clock: 2 s then 4 s.
  ASSERT_EQ(clock_.sleeps().size(), 2u);
  EXPECT_EQ(clock_.sleeps()[0], absl::Seconds(2));
  EXPECT_EQ(clock_.sleeps()[1], absl::Seconds(4));
  EXPECT_EQ(solver_.presents, 0);
}

TEST_F(OrderDriverTest, PollingHonoursRetryAfterAndTheDeadline) {
  MakeClient([](const HttpRequest& r) {
    HttpResponse resp = JsonResponse(200, ReadTestdata("order_processing.json"), "n");
    resp.headers.Add("Retry-After", "30");
    return resp;
  });
  OrderProgress progress;
  progress.order_url = kOrderUrl;
  progress.finalize_sent = true;
  request_.deadline = clock_.Now() + absl::Seconds(100);
  OrderDriver driver(client_.get());
  auto result = driver.Run(request_, *cert_key_, &progress, &sink_, &solver_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("bad.example.com"));
  // The Retry-After of the fetch on resume already applies to the first poll: 30 s each
  // (30, 60, 90; the next would pass the deadline).
  ASSERT_EQ(clock_.sleeps().size(), 3u);
  EXPECT_EQ(clock_.sleeps()[0], absl::Seconds(30));
  EXPECT_EQ(clock_.sleeps()[1], absl::Seconds(30));
}

TEST_F(OrderDriverTest, GoneOrderOnResumeStartsANewOrder) {
  MakeClient([](const HttpRequest& r) {
    if (r.url == kOrderUrl) {
      return JsonResponse(404, R"({"type":"urn:ietf:params:acme:error:malformed",)"
                               R"("detail":"No order found for ID O1","status":404})",
                          "n-404", "application/problem+json");
    }
    if (absl::StrContains(r.url, "order-plz")) {
      return JsonResponse(400,
                          R"({"type":"urn:ietf:params:acme:error:rejectedIdentifier",)"
                          R"("detail":"Order included a blocked identifier","status":400})",
                          "n-rej", "application/problem+json");
    }
    return JsonResponse(500, "{}");
  });
  OrderProgress progress;
  progress.step = kStepAuthorizing;
  progress.order_url = kOrderUrl;
  OrderDriver driver(client_.get());
  auto result = driver.Run(request_, *cert_key_, &progress, &sink_, &solver_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("newOrder for bad.example.com: rejectedIdentifier"));
  EXPECT_EQ(PostsTo("order-plz"), 1);
}

TEST_F(OrderDriverTest, OrderNotReadyToFinalizeFetchesTheOrderBeforeFinalizingAgain) {
  int finalizes = 0;
  int order_gets = 0;
  MakeClient([&](const HttpRequest& r) {
    if (absl::StrContains(r.url, "finalize-order")) {
      if (++finalizes == 1) {
        return JsonResponse(403,
                            R"({"type":"urn:ietf:params:acme:error:orderNotReady",)"
                            R"("detail":"Order's status is not acceptable","status":403})",
                            "n-fin", "application/problem+json");
      }
      return JsonResponse(200, ReadTestdata("order_processing.json"), "n-fin2");
    }
    if (r.url == kOrderUrl) {
      ++order_gets;
      // Ready (resume), still ready after the orderNotReady, then invalid ends the run.
      static const char kReady[] =
          R"({"status":"ready","identifiers":[{"type":"dns","value":"bad.example.com"}],)"
          R"("authorizations":["https://127.0.0.1:14000/authZ/A1"],)"
          R"("finalize":"https://127.0.0.1:14000/finalize-order/O1"})";
      return JsonResponse(200, order_gets <= 2 ? kReady : ReadTestdata("order_invalid.json"),
                          absl::StrCat("n-order-", order_gets));
    }
    if (absl::StrContains(r.url, "/authZ/")) {
      return JsonResponse(200, ReadTestdata("authz_invalid.json"), "n-authz");
    }
    return JsonResponse(500, "{}");
  });
  OrderProgress progress;
  progress.order_url = kOrderUrl;
  progress.finalize_url = "https://127.0.0.1:14000/finalize-order/O1";
  OrderDriver driver(client_.get());
  auto result = driver.Run(request_, *cert_key_, &progress, &sink_, &solver_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted) << result.status();
  EXPECT_EQ(finalizes, 2);
  // Resume fetch, the look after orderNotReady, then the poll while processing.
  EXPECT_EQ(order_gets, 3);
}

TEST_F(OrderDriverTest, CancelStopsAPollingWaitPromptlyAndKeepsProgress) {
  MakeClient([](const HttpRequest& r) {
    HttpResponse resp = JsonResponse(200, ReadTestdata("order_processing.json"), "n");
    resp.headers.Add("Retry-After", "30");
    return resp;
  });
  OrderProgress progress;
  progress.order_url = kOrderUrl;
  progress.finalize_sent = true;
  const absl::Time start = clock_.Now();
  // Cancelled 1 s into the 30 s wait the CA asked for.
  request_.cancelled = [this, start] { return clock_.Now() >= start + absl::Seconds(1); };
  OrderDriver driver(client_.get());
  auto result = driver.Run(request_, *cert_key_, &progress, &sink_, &solver_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled) << result.status();
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("issuance cancelled (names bad.example.com)"));
  EXPECT_LE(clock_.Now() - start, absl::Seconds(2));  // Not the whole 30 s.
  EXPECT_EQ(progress.order_url, kOrderUrl);            // Resumable.
  EXPECT_TRUE(progress.finalize_sent);
}

TEST_F(OrderDriverTest, CancelledBeforeRunSendsNothing) {
  MakeClient([](const HttpRequest&) { return JsonResponse(500, "{}"); });
  request_.cancelled = [] { return true; };
  OrderProgress progress;
  OrderDriver driver(client_.get());
  auto result = driver.Run(request_, *cert_key_, &progress, &sink_, &solver_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(transport_->requests().empty());
  EXPECT_TRUE(sink_.saved.empty());
}

}  // namespace
}  // namespace certfleet::acme
