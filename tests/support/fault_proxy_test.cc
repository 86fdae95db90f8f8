#include "tests/support/fault_proxy.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <time.h>

#include <map>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/crypto/base64url.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/pebble_fixture.h"

namespace certfleet::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

struct ClientResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

size_t AppendBody(char* data, size_t size, size_t nmemb, void* user) {
  static_cast<std::string*>(user)->append(data, size * nmemb);
  return size * nmemb;
}

size_t AppendHeader(char* data, size_t size, size_t nmemb, void* user) {
  std::string line(data, size * nmemb);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    (*static_cast<std::map<std::string, std::string>*>(user))[absl::AsciiStrToLower(
        line.substr(0, colon))] = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return size * nmemb;
}

// One request through libcurl, trusting `ca`. `method` GET, HEAD or POST (with `body`).
ClientResult Send(const std::string& method, const std::string& url, const std::string& ca,
                  const std::string& body = "", long timeout_ms = 10000) {
  ClientResult result;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, AppendHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.headers);
  struct curl_slist* headers = nullptr;
  if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (method == "POST") {
    headers = curl_slist_append(headers, "Content-Type: application/jose+json");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  result.code = curl_easy_perform(curl);
  if (result.code == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return result;
}

// A flattened JWS whose protected header carries `nonce` and `url` (not validly signed:
// the proxy only decodes it).
std::string FakeJws(const std::string& nonce, const std::string& url) {
  nlohmann::json header = {{"alg", "ES256"}, {"kid", "k"}, {"nonce", nonce}, {"url", url}};
  nlohmann::json jws = {{"protected", crypto::Base64UrlEncode(header.dump())},
                        {"payload", crypto::Base64UrlEncode("{}")},
                        {"signature", crypto::Base64UrlEncode("sig")}};
  return jws.dump();
}

class FaultProxyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto pebble = PebbleFixture::Start(PebbleOptions{});
    ASSERT_TRUE(pebble.ok()) << pebble.status();
    pebble_ = pebble->release();
  }
  static void TearDownTestSuite() {
    delete pebble_;
    pebble_ = nullptr;
  }

  void StartProxy(std::vector<FaultRule> rules) {
    ASSERT_NE(pebble_, nullptr);
    FaultProxyOptions options;
    std::string dir_url = pebble_->directory_url();
    options.upstream_base_url = dir_url.substr(0, dir_url.rfind('/'));
    options.upstream_ca_bundle_path = pebble_->ca_bundle_path();
    options.rules = std::move(rules);
    auto proxy = FaultProxy::Start(std::move(options));
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = std::move(*proxy);
  }

  // The newNonce URL, read through the proxy.
  std::string NewNonceUrl() {
    ClientResult dir = Send("GET", proxy_->directory_url(), proxy_->ca_bundle_path());
    EXPECT_EQ(dir.status, 200) << dir.body;
    return nlohmann::json::parse(dir.body).value("newNonce", "");
  }

  static PebbleFixture* pebble_;
  std::unique_ptr<FaultProxy> proxy_;
};

PebbleFixture* FaultProxyTest::pebble_ = nullptr;

TEST_F(FaultProxyTest, PlainGetReturnsDirectoryNamingTheProxy) {
  StartProxy({});
  absl::Time before = absl::Now();
  ClientResult r = Send("GET", proxy_->directory_url(), proxy_->ca_bundle_path());
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  ASSERT_EQ(r.status, 200) << r.body;
  nlohmann::json dir = nlohmann::json::parse(r.body);
  const std::string proxy_prefix = absl::StrCat("https://127.0.0.1:", proxy_->port(), "/");
  for (const char* key : {"newNonce", "newAccount", "newOrder", "revokeCert", "keyChange"}) {
    EXPECT_THAT(dir.value(key, ""), StartsWith(proxy_prefix)) << key;
  }

  auto log = proxy_->Log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].method, "GET");
  EXPECT_EQ(log[0].path, "/dir");
  EXPECT_EQ(log[0].host, absl::StrCat("127.0.0.1:", proxy_->port()));
  EXPECT_EQ(log[0].status, 200);
  EXPECT_EQ(log[0].upstream_status, 200);
  EXPECT_THAT(log[0].rule, IsEmpty());
  EXPECT_GE(log[0].received, before);
  EXPECT_GE(log[0].responded, log[0].received);

  // HEAD newNonce passes Pebble's nonce through.
  ClientResult nonce = Send("HEAD", dir.value("newNonce", ""), proxy_->ca_bundle_path());
  EXPECT_EQ(nonce.status, 200);
  EXPECT_FALSE(nonce.headers["replay-nonce"].empty());
}

TEST_F(FaultProxyTest, RetryAfterSeconds) {
  StartProxy({FaultRule::RetryAfterSeconds("GET", "/dir", 2).Named("ra")});
  ClientResult r = Send("GET", proxy_->directory_url(), proxy_->ca_bundle_path());
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("newNonce"));
  EXPECT_EQ(r.headers["retry-after"], "2");
  auto log = proxy_->Log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].rule, "ra");
  EXPECT_EQ(log[0].retry_after, "2");
  EXPECT_EQ(log[0].upstream_status, 200);
  EXPECT_EQ(proxy_->FiredCount("ra"), 1);
}

TEST_F(FaultProxyTest, RetryAfterHttpDateIsUtcWhateverTheLocalZone) {
  const char* old_tz = getenv("TZ");
  std::string saved = old_tz ? old_tz : "";
  setenv("TZ", "Asia/Kolkata", 1);
  tzset();
  StartProxy({FaultRule::RetryAfterHttpDate("GET", "/dir", 2)});
  absl::Time before = absl::Now();
  ClientResult r = Send("GET", proxy_->directory_url(), proxy_->ca_bundle_path());
  EXPECT_EQ(r.status, 200);
  std::string value = r.headers["retry-after"];
  EXPECT_THAT(value, HasSubstr(" GMT"));
  absl::Time when;
  std::string err;
  ASSERT_TRUE(absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", value, absl::UTCTimeZone(), &when,
                              &err))
      << value << ": " << err;
  EXPECT_GE(when, absl::FromUnixSeconds(absl::ToUnixSeconds(before)) + absl::Seconds(2));
  EXPECT_LE(when, absl::Now() + absl::Seconds(3));
  if (old_tz) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
}

TEST(FaultProxyFormatTest, FormatHttpDateIsImfFixdate) {
  setenv("TZ", "America/New_York", 1);
  tzset();
  EXPECT_EQ(FormatHttpDate(absl::FromUnixSeconds(784111777)), "Sun, 06 Nov 1994 08:49:37 GMT");
  unsetenv("TZ");
  tzset();
}

TEST_F(FaultProxyTest, ServerErrorOnHeadNewNonceThenRecovers) {
  StartProxy({FaultRule::ServerError("HEAD", "/nonce-plz", 503).First(2).Named("503"),
              FaultRule::ServerError("GET", "/dir", 502).Nth(2).Named("502")});
  std::string nonce_url = NewNonceUrl();
  ASSERT_FALSE(nonce_url.empty());
  for (int i = 0; i < 2; ++i) {
    ClientResult r = Send("HEAD", nonce_url, proxy_->ca_bundle_path());
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.headers.count("replay-nonce"), 0u);
    EXPECT_THAT(r.headers["content-type"], StartsWith("text/html"));
  }
  ClientResult ok = Send("HEAD", nonce_url, proxy_->ca_bundle_path());
  EXPECT_EQ(ok.status, 200);
  EXPECT_FALSE(ok.headers["replay-nonce"].empty());

  ClientResult html = Send("GET", proxy_->directory_url(), proxy_->ca_bundle_path());
  EXPECT_EQ(html.status, 502);
  EXPECT_THAT(html.body, HasSubstr("<html>"));
  EXPECT_EQ(html.headers.count("replay-nonce"), 0u);

  auto log = proxy_->Log();
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log[1].rule, "503");
  EXPECT_EQ(log[1].upstream_status, 0);  // not forwarded
  EXPECT_EQ(log[3].rule, "");
  EXPECT_EQ(log[4].rule, "502");
  EXPECT_EQ(log[4].status, 502);
  EXPECT_EQ(proxy_->FiredCount("503"), 2);
}

TEST_F(FaultProxyTest, NotFoundForTheFirstFetchOfEachPath) {
  StartProxy({FaultRule::NotFound("POST", "/cert/.*").First(1).PerPath().Named("404")});
  const std::string base = proxy_->base_url();
  std::string jws = FakeJws("n1", base + "/cert/abc");
  ClientResult r = Send("POST", base + "/cert/abc", proxy_->ca_bundle_path(), jws);
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.headers["content-type"], "application/problem+json");
  EXPECT_FALSE(r.headers["replay-nonce"].empty());  // a fresh one from Pebble
  nlohmann::json problem = nlohmann::json::parse(r.body);
  EXPECT_EQ(problem.value("type", ""), "urn:ietf:params:acme:error:malformed");
  EXPECT_THAT(problem.value("detail", ""), HasSubstr("not found"));

  // Second fetch of the same path is forwarded (Pebble rejects the fake JWS, whatever);
  // a different path gets its own first 404.
  ClientResult second = Send("POST", base + "/cert/abc", proxy_->ca_bundle_path(), jws);
  EXPECT_NE(second.status, 0);
  ClientResult other = Send("POST", base + "/cert/def", proxy_->ca_bundle_path(),
                            FakeJws("n2", base + "/cert/def"));
  EXPECT_EQ(other.status, 404);

  auto log = proxy_->Log();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].rule, "404");
  EXPECT_EQ(log[0].jws_nonce, "n1");
  EXPECT_EQ(log[0].jws_url, base + "/cert/abc");
  EXPECT_EQ(log[1].rule, "");
  EXPECT_NE(log[1].upstream_status, 0);
  EXPECT_EQ(log[2].rule, "404");
  EXPECT_EQ(log[2].jws_nonce, "n2");
}

TEST_F(FaultProxyTest, OrderNotReadyToFinalizeWithoutForwarding) {
  StartProxy({FaultRule::OrderNotReady("POST", "/finalize/.*").Nth(1).Named("onr")});
  const std::string url = proxy_->base_url() + "/finalize/1/2";
  ClientResult r = Send("POST", url, proxy_->ca_bundle_path(), FakeJws("nonce-x", url));
  EXPECT_EQ(r.status, 403);
  EXPECT_FALSE(r.headers["replay-nonce"].empty());
  nlohmann::json problem = nlohmann::json::parse(r.body);
  EXPECT_EQ(problem.value("type", ""), "urn:ietf:params:acme:error:orderNotReady");
  EXPECT_EQ(problem.value("status", 0), 403);
  auto log = proxy_->Log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].rule, "onr");
  EXPECT_EQ(log[0].upstream_status, 0);
  EXPECT_EQ(log[0].jws_nonce, "nonce-x");
  EXPECT_EQ(log[0].jws_url, url);
}

TEST_F(FaultProxyTest, HoldAndDropForwardsThenTimesTheClientOut) {
  StartProxy({FaultRule::HoldAndDrop("HEAD", "/nonce-plz", absl::Milliseconds(1500))
                  .First(1)
                  .Named("hold")});
  std::string nonce_url = NewNonceUrl();
  ClientResult r = Send("HEAD", nonce_url, proxy_->ca_bundle_path(), "", /*timeout_ms=*/500);
  EXPECT_EQ(r.code, CURLE_OPERATION_TIMEDOUT) << curl_easy_strerror(r.code);
  ASSERT_TRUE(proxy_->WaitUntilIdle(absl::Seconds(20)));
  auto log = proxy_->Log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].rule, "hold");
  EXPECT_EQ(log[1].upstream_status, 200);  // Pebble did see it
  EXPECT_EQ(log[1].status, 0);             // the client never got an answer
  EXPECT_GE(log[1].responded - log[1].received, absl::Milliseconds(1500));

  ClientResult after = Send("HEAD", nonce_url, proxy_->ca_bundle_path());
  EXPECT_EQ(after.status, 200);
}

TEST_F(FaultProxyTest, BadRegexIsRejected) {
  StartProxy({});
  absl::Status s = proxy_->SetRules({FaultRule::NotFound("GET", "([")});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("bad path regex"));
}

}  // namespace
}  // namespace certfleet::testing
