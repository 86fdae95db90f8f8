// The client core: nonce pool, badNonce retries, signed requests.

#include "server/acme/acme_client.h"

#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/crypto/base64url.h"
#include "server/acme/nonce_pool.h"
#include "tests/acme/acme_test_util.h"

namespace certfleet::acme {
namespace {

using ::testing::HasSubstr;
using testing::FakeClock;
using testing::FakeTransport;
using testing::JsonResponse;
using testing::ReadTestdata;

constexpr char kDir[] = "https://ca.test/dir";

// The nonce in the protected header of a JWS request body.
std::string NonceOf(const HttpRequest& request) {
  nlohmann::json jws = nlohmann::json::parse(request.body);
  auto header = crypto::Base64UrlDecode(jws["protected"].get<std::string>());
  if (!header.ok()) return "<undecodable>";
  return nlohmann::json::parse(*header)["nonce"].get<std::string>();
}

std::string DirectoryJson() {
  return nlohmann::json{{"newNonce", "https://ca.test/nonce"},
                        {"newAccount", "https://ca.test/acct"},
                        {"newOrder", "https://ca.test/order"}}
      .dump();
}

// Serves the directory and HEAD newNonce ("head-1", "head-2", ...); everything else by
// `post`.
FakeTransport::Handler CaHandler(std::function<HttpResponse(const HttpRequest&)> post) {
  auto heads = std::make_shared<int>(0);
  return [post, heads](const HttpRequest& r) {
    if (r.url == kDir) return JsonResponse(200, DirectoryJson());
    if (r.method == "HEAD") {
      HttpResponse resp;
      resp.status = 200;
      resp.headers.Add("Replay-Nonce", absl::StrCat("head-", ++*heads));
      return resp;
    }
    return post(r);
  };
}

class AcmeClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<AcmeClient> MakeClient(FakeTransport::Handler handler, int attempts = 5) {
    transport_ = std::make_shared<FakeTransport>(std::move(handler));
    AcmeClientOptions options;
    options.directory_url = kDir;
    options.max_nonce_attempts = attempts;
    options.clock = &clock_;
    auto client = std::make_unique<AcmeClient>(transport_, options);
    auto key = crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
    EXPECT_TRUE(key.ok()) << key.status();
    if (key.ok()) client->SetAccountKey(*std::move(key));
    client->set_account_url("https://ca.test/acct/1");
    return client;
  }
  std::vector<HttpRequest> Posts() const {
    std::vector<HttpRequest> out;
    for (const auto& r : transport_->requests()) {
      if (r.method == "POST") out.push_back(r);
    }
    return out;
  }
  int Heads() const {
    int n = 0;
    for (const auto& r : transport_->requests()) n += r.method == "HEAD";
    return n;
  }

  FakeClock clock_;
  std::shared_ptr<FakeTransport> transport_;
};

TEST(NoncePoolTest, TakesNewestFirstAndNeverTwice) {
  NoncePool pool(2);
  EXPECT_FALSE(pool.Take().has_value());
  pool.Add("a");
  pool.Add("b");
  pool.Add("c");  // drops "a"
  pool.Add("b");  // already seen: ignored
  pool.Add("");
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_EQ(pool.Take(), "c");
  EXPECT_EQ(pool.Take(), "b");
  EXPECT_FALSE(pool.Take().has_value());
  pool.Add("c");  // used already: never handed out again
  EXPECT_FALSE(pool.Take().has_value());
}

TEST(NoncePoolTest, ConcurrentTakersGetDistinctNonces) {
  NoncePool pool(1000);
  for (int i = 0; i < 1000; ++i) pool.Add(absl::StrCat("n", i));
  absl::Mutex mu;
  std::set<std::string> taken;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (auto n = pool.Take()) {
        absl::MutexLock lock(&mu);
        EXPECT_TRUE(taken.insert(*n).second) << *n;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(taken.size(), 1000u);
}

TEST_F(AcmeClientTest, HeadNewNonceOnlyWhenPoolEmpty) {
  int n = 0;
  auto client = MakeClient(CaHandler([&n](const HttpRequest&) {
    return JsonResponse(200, "{}", absl::StrCat("reply-", ++n));
  }));
  ASSERT_TRUE(client->PostAsGet("https://ca.test/x").ok());
  ASSERT_TRUE(client->SignedPost("https://ca.test/y", {{"a", 1}}).ok());
  ASSERT_TRUE(client->PostAsGet("https://ca.test/z").ok());
  auto posts = Posts();
  ASSERT_EQ(posts.size(), 3u);
  EXPECT_EQ(NonceOf(posts[0]), "head-1");
  EXPECT_EQ(NonceOf(posts[1]), "reply-1");
  EXPECT_EQ(NonceOf(posts[2]), "reply-2");
  EXPECT_EQ(Heads(), 1);
  for (const auto& p : posts) {
    ASSERT_FALSE(p.headers.empty());
    EXPECT_EQ(p.headers[0].first, "Content-Type");
    EXPECT_EQ(p.headers[0].second, "application/jose+json");
  }
}

TEST_F(AcmeClientTest, BadNonceIsRetriedWithTheNonceFromTheError) {
  int n = 0;
  auto client = MakeClient(CaHandler([&n](const HttpRequest&) {
    if (++n == 1) {
      return JsonResponse(400, ReadTestdata("problem_bad_nonce.json"), "from-error",
                          "application/problem+json");
    }
    return JsonResponse(200, R"({"status":"valid"})", "after");
  }));
  auto r = client->SignedPost("https://ca.test/order/1", {{"x", 1}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->json["status"], "valid");
  auto posts = Posts();
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(NonceOf(posts[0]), "head-1");
  EXPECT_EQ(NonceOf(posts[1]), "from-error");
  EXPECT_EQ(Heads(), 1);
}

TEST_F(AcmeClientTest, BadNonceRetriesAreBounded) {
  int n = 0;
  auto client = MakeClient(CaHandler([&n](const HttpRequest&) {
                             return JsonResponse(400, ReadTestdata("problem_bad_nonce.json"),
                                                 absl::StrCat("err-", ++n),
                                                 "application/problem+json");
                           }),
                           /*attempts=*/3);
  auto r = client->PostAsGet("https://ca.test/order/1");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("gave up after 3 attempts"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("badNonce"));
  EXPECT_EQ(Posts().size(), 3u);
}

TEST_F(AcmeClientTest, CaUnavailableIsRetriedWithBackoffAndFreshNonces) {
  int n = 0;
  auto client = MakeClient(CaHandler([&n](const HttpRequest&) {
    if (++n <= 2) return JsonResponse(503, "<html>down</html>", "", "text/html");
    return JsonResponse(200, R"({"status":"valid"})", "after");
  }));
  auto r = client->PostAsGet("https://ca.test/order/1");
  ASSERT_TRUE(r.ok()) << r.status();
  auto posts = Posts();
  ASSERT_EQ(posts.size(), 3u);
  std::set<std::string> nonces;
  for (const auto& p : posts) nonces.insert(NonceOf(p));
  EXPECT_EQ(nonces.size(), 3u);  // every retry re-signed with a fresh nonce
  // Backoff 1 s, then 2 s (the defaults).
  ASSERT_EQ(clock_.sleeps().size(), 2u);
  EXPECT_EQ(clock_.sleeps()[0], absl::Seconds(1));
  EXPECT_EQ(clock_.sleeps()[1], absl::Seconds(2));
}

TEST_F(AcmeClientTest, CaUnavailableRetriesAreBoundedAndHonourRetryAfter) {
  auto client = MakeClient(CaHandler([](const HttpRequest&) {
    HttpResponse resp = JsonResponse(503, "<html>down</html>", "", "text/html");
    resp.headers.Add("Retry-After", "5");
    return resp;
  }));
  auto r = client->SignedPost("https://ca.test/order", {{"x", 1}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("gave up after 4 attempts"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("CA unavailable: HTTP 503"));
  EXPECT_THAT(std::string(r.status().message()), ::testing::Not(HasSubstr("<html>")));
  EXPECT_EQ(Posts().size(), 4u);
  ASSERT_EQ(clock_.sleeps().size(), 3u);
  for (absl::Duration d : clock_.sleeps()) EXPECT_EQ(d, absl::Seconds(5));
}

TEST_F(AcmeClientTest, SignedPostOnceDoesNotRepeatAfterA5xx) {
  auto client = MakeClient(CaHandler([](const HttpRequest&) {
    return JsonResponse(502, "<html>bad gateway</html>", "", "text/html");
  }));
  auto r = client->SignedPostOnce("https://ca.test/finalize/1", {{"csr", "x"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("CA unavailable: HTTP 502"));
  EXPECT_EQ(Posts().size(), 1u);
  EXPECT_TRUE(clock_.sleeps().empty());
}

TEST_F(AcmeClientTest, NotFoundOnPostAsGetIsLookedUpAgainThenReported) {
  int n = 0;
  auto client = MakeClient(CaHandler([&n](const HttpRequest&) {
    ++n;
    return JsonResponse(404, R"({"type":"urn:ietf:params:acme:error:malformed",)"
                             R"("detail":"Certificate not found","status":404})",
                        absl::StrCat("n404-", n), "application/problem+json");
  }));
  auto r = client->PostAsGet("https://ca.test/cert/1");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("Certificate not found"));
  EXPECT_EQ(Posts().size(), 3u);
  // A POST with a payload (not a fetch) is not repeated on 404.
  n = 0;
  EXPECT_FALSE(client->SignedPost("https://ca.test/cert/1", {{"x", 1}}).ok());
  EXPECT_EQ(n, 1);
}

TEST_F(AcmeClientTest, ANonceIsNeverUsedTwice) {
  // The CA repeats the same Replay-Nonce; the client must not reuse it.
  auto client = MakeClient(CaHandler([](const HttpRequest&) {
    return JsonResponse(200, "{}", "same-nonce");
  }));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(client->PostAsGet("https://ca.test/x").ok());
  std::set<std::string> used;
  for (const auto& p : Posts()) EXPECT_TRUE(used.insert(NonceOf(p)).second) << NonceOf(p);
  EXPECT_EQ(used.size(), 4u);
}

TEST_F(AcmeClientTest, OtherProblemsAreNotRetried) {
  auto client = MakeClient(CaHandler([](const HttpRequest&) {
    return JsonResponse(
        403, R"({"type":"urn:ietf:params:acme:error:unauthorized","detail":"nope"})", "n1",
        "application/problem+json");
  }));
  auto r = client->PostAsGet("https://ca.test/x");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("unauthorized: nope"));
  EXPECT_EQ(Posts().size(), 1u);
}

TEST_F(AcmeClientTest, DirectoryIsFetchedOnce) {
  auto client = MakeClient(CaHandler([](const HttpRequest&) { return JsonResponse(200, "{}"); }));
  ASSERT_TRUE(client->GetDirectory().ok());
  ASSERT_TRUE(client->GetDirectory().ok());
  int gets = 0;
  for (const auto& r : transport_->requests()) gets += r.url == kDir;
  EXPECT_EQ(gets, 1);
}

TEST_F(AcmeClientTest, NoAccountUrlIsFailedPrecondition) {
  auto client = MakeClient(CaHandler([](const HttpRequest&) { return JsonResponse(200, "{}"); }));
  client->set_account_url("");
  auto r = client->PostAsGet("https://ca.test/x");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no ACME account URL"));
}

}  // namespace
}  // namespace certfleet::acme
