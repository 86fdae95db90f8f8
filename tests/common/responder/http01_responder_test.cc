#include "common/responder/http01_responder.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certfleet::responder {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kToken[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
constexpr char kKeyAuthorization[] =
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";

// Sends `request` raw and returns everything the server wrote before closing.
std::string RawExchange(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  timeval tv{20, 0};  // A bound on a broken server, never a synchronization point.
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    size_t sent = 0;
    while (sent < request.size()) {
      ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    char buf[1024];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

std::string Get(int port, const std::string& path) {
  return RawExchange(port, "GET " + path + " HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
}

size_t Append(char* data, size_t size, size_t nmemb, void* user) {
  static_cast<std::string*>(user)->append(data, size * nmemb);
  return size * nmemb;
}

class Http01ResponderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = Http01Responder::Start("127.0.0.1:0");
    ASSERT_TRUE(r.ok()) << r.status();
    responder_ = std::move(*r);
  }
  std::unique_ptr<Http01Responder> responder_;
};

TEST_F(Http01ResponderTest, ServesKeyAuthorizationOverRawSocket) {
  ASSERT_TRUE(responder_->AddToken(kToken, kKeyAuthorization).ok());
  std::string response =
      Get(responder_->port(), std::string("/.well-known/acme-challenge/") + kToken);
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("Content-Type: text/plain\r\n"));
  EXPECT_THAT(response, HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(response, EndsWith(std::string("\r\n\r\n") + kKeyAuthorization));
  EXPECT_EQ(responder_->ServedCount(kToken), 1u);
}

TEST_F(Http01ResponderTest, ServesKeyAuthorizationToLibcurl) {
  ASSERT_TRUE(responder_->AddToken(kToken, kKeyAuthorization).ok());
  std::string url = "http://127.0.0.1:" + std::to_string(responder_->port()) +
                    "/.well-known/acme-challenge/" + kToken;
  CURL* curl = curl_easy_init();
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  char* type = nullptr;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
  EXPECT_EQ(status, 200);
  ASSERT_NE(type, nullptr);
  EXPECT_STREQ(type, "text/plain");
  EXPECT_EQ(body, kKeyAuthorization);
  curl_easy_cleanup(curl);
}

TEST_F(Http01ResponderTest, UnknownTokenAndOtherPathsAre404) {
  ASSERT_TRUE(responder_->AddToken(kToken, kKeyAuthorization).ok());
  EXPECT_THAT(Get(responder_->port(), "/.well-known/acme-challenge/other"),
              StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(Get(responder_->port(), "/"), StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(Get(responder_->port(), std::string("/.well-known/acme-challenge/") + kToken + "x"),
              StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_EQ(responder_->ServedCount(kToken), 0u);
}

TEST_F(Http01ResponderTest, RemovedTokenIs404) {
  ASSERT_TRUE(responder_->AddToken(kToken, kKeyAuthorization).ok());
  responder_->RemoveToken(kToken);
  responder_->RemoveToken("never-added");
  EXPECT_THAT(Get(responder_->port(), std::string("/.well-known/acme-challenge/") + kToken),
              StartsWith("HTTP/1.1 404 Not Found\r\n"));
}

TEST_F(Http01ResponderTest, RejectsNonBase64UrlTokens) {
  for (const char* bad : {"", "a/b", "a.b", "tok en", "../etc"}) {
    absl::Status s = responder_->AddToken(bad, kKeyAuthorization);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("not base64url"));
  }
}

TEST_F(Http01ResponderTest, BadMethodsMalformedAndOversizedRequests) {
  ASSERT_TRUE(responder_->AddToken(kToken, kKeyAuthorization).ok());
  std::string path = std::string("/.well-known/acme-challenge/") + kToken;
  EXPECT_THAT(RawExchange(responder_->port(), "POST " + path + " HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 405 "));
  EXPECT_THAT(RawExchange(responder_->port(), "nonsense\r\n\r\n"), StartsWith("HTTP/1.1 400 "));
  std::string head = RawExchange(responder_->port(), "HEAD " + path + " HTTP/1.1\r\n\r\n");
  EXPECT_THAT(head, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(head, EndsWith("\r\n\r\n"));
  std::string huge = "GET " + path + " HTTP/1.1\r\nX-Fill: " + std::string(20000, 'a') + "\r\n\r\n";
  EXPECT_THAT(RawExchange(responder_->port(), huge), StartsWith("HTTP/1.1 431 "));
}

TEST_F(Http01ResponderTest, SilentClientDoesNotBlockOthers) {
  ASSERT_TRUE(responder_->AddToken(kToken, kKeyAuthorization).ok());
  int silent = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(responder_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(silent, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_THAT(Get(responder_->port(), std::string("/.well-known/acme-challenge/") + kToken),
              StartsWith("HTTP/1.1 200 OK\r\n"));
  close(silent);
}

TEST_F(Http01ResponderTest, StopClosesTheListener) {
  int port = responder_->port();
  responder_->Stop();
  responder_->Stop();
  EXPECT_EQ(Get(port, "/"), "");
}

TEST(Http01ResponderStartTest, ReportsBusyAddress) {
  auto first = Http01Responder::Start("127.0.0.1:0");
  ASSERT_TRUE(first.ok());
  std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = Http01Responder::Start(taken);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(taken));
}

}  // namespace
}  // namespace certfleet::responder
