#include "client/agent/challenge_handler.h"

#include <sys/stat.h>

#include <map>
#include <set>

#include "absl/status/status.h"
#include "client/agent/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/temp_dir.h"

namespace certfleet::agent {
namespace {

using ::certfleet::agent::testing::TempDir;
using ::testing::HasSubstr;

// Records what the handler asks of the tls-alpn-01 responder.
class FakeTlsAlpnResponder : public responder::TlsAlpnResponder {
 public:
  int port() const override { return 0; }
  absl::Status AddChallenge(std::string_view identifier, bool is_ip,
                            std::string_view key_authorization) override {
    loaded[std::string(identifier)] = std::string(key_authorization);
    return absl::OkStatus();
  }
  void RemoveChallenge(std::string_view identifier, bool is_ip) override {
    loaded.erase(std::string(identifier));
  }
  uint64_t ServedCount(std::string_view, bool) const override { return 0; }
  uint64_t RefusedCount() const override { return 0; }
  void Stop() override {}

  std::map<std::string, std::string> loaded;
};

class FakeHttp01Responder : public responder::Http01Responder {
 public:
  int port() const override { return 0; }
  absl::Status AddToken(std::string_view token, std::string_view key_authorization) override {
    tokens[std::string(token)] = std::string(key_authorization);
    return absl::OkStatus();
  }
  void RemoveToken(std::string_view token) override { tokens.erase(std::string(token)); }
  uint64_t ServedCount(std::string_view) const override { return 0; }
  void Stop() override {}

  std::map<std::string, std::string> tokens;
};

v1::PresentChallenge Present(v1::ChallengeType type, const std::string& name,
                             const std::string& token = "tok_A-1",
                             const std::string& key_auth = "") {
  v1::PresentChallenge c;
  c.set_type(type);
  bool ip = name.find_first_not_of("0123456789.:") == std::string::npos;
  c.mutable_identifier()->set_type(ip ? v1::Identifier::TYPE_IP : v1::Identifier::TYPE_DNS);
  c.mutable_identifier()->set_value(name);
  c.set_token(token);
  c.set_key_authorization(key_auth.empty() ? token + ".thumb_print-1" : key_auth);
  c.set_issuance_id("iss-1");
  return c;
}

v1::WithdrawChallenge Withdraw(const v1::PresentChallenge& p) {
  v1::WithdrawChallenge w;
  w.set_type(p.type());
  *w.mutable_identifier() = p.identifier();
  w.set_token(p.token());
  return w;
}

void ExpectStatus(const absl::Status& s, absl::StatusCode code, const std::string& substr) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(substr));
}

class ChallengeHandlerTest : public ::testing::Test {
 protected:
  ChallengeHandler::Options Options(std::vector<std::string> names) {
    ChallengeHandler::Options o;
    o.names = std::move(names);
    o.tls_alpn = &tls_;
    return o;
  }

  FakeTlsAlpnResponder tls_;
  FakeHttp01Responder http_;
  AgentStatus status_{"agent-1", ""};
};

TEST_F(ChallengeHandlerTest, PresentsAndWithdrawsTlsAlpn) {
  ChallengeHandler h(Options({"a.example.com"}), &status_);
  v1::PresentChallenge p = Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "a.example.com");
  ASSERT_TRUE(h.Present(p).ok());
  EXPECT_EQ(tls_.loaded["a.example.com"], "tok_A-1.thumb_print-1");
  EXPECT_EQ(h.PresentedCount(), 1u);
  ASSERT_TRUE(h.Withdraw(Withdraw(p)).ok());
  EXPECT_TRUE(tls_.loaded.empty());
  // Withdrawing again is a no-op.
  EXPECT_TRUE(h.Withdraw(Withdraw(p)).ok());
  nlohmann::json j = status_.ToJson();
  EXPECT_EQ(j["challenges_presented"]["a.example.com"], 1);
  EXPECT_EQ(j["challenges_withdrawn"]["a.example.com"], 1);
}

TEST_F(ChallengeHandlerTest, WithdrawOfAnOlderTokenKeepsTheNewerChallenge) {
  ChallengeHandler h(Options({"a.example.com"}), &status_);
  v1::PresentChallenge first = Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "a.example.com", "t1");
  v1::PresentChallenge second = Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "a.example.com", "t2");
  ASSERT_TRUE(h.Present(first).ok());
  ASSERT_TRUE(h.Present(second).ok());
  ASSERT_TRUE(h.Withdraw(Withdraw(first)).ok());
  EXPECT_EQ(tls_.loaded["a.example.com"], "t2.thumb_print-1");
}

TEST_F(ChallengeHandlerTest, RefusesNamesNotServed) {
  ChallengeHandler h(Options({"a.example.com", "b.example.com"}), &status_);
  ExpectStatus(h.Present(Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "c.example.com")),
               absl::StatusCode::kFailedPrecondition,
               "name \"c.example.com\" is not served by this agent");
  h.SetAcceptedNames({"a.example.com"});
  ExpectStatus(h.Present(Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "b.example.com")),
               absl::StatusCode::kFailedPrecondition,
               "name \"b.example.com\" was not accepted by the server");
  EXPECT_TRUE(h.Present(Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "a.example.com")).ok());
  h.ResetAcceptedNames();
  EXPECT_TRUE(h.Present(Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "b.example.com")).ok());
  EXPECT_TRUE(tls_.loaded.count("b.example.com"));
}

TEST_F(ChallengeHandlerTest, WildcardNamesCoverTheBaseAndOneLabel) {
  ChallengeHandler h(Options({"*.example.com"}), &status_);
  EXPECT_TRUE(h.Present(Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "*.example.com")).ok());
  EXPECT_TRUE(tls_.loaded.count("example.com"));  // validated on the base name
  EXPECT_TRUE(h.Present(Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "www.example.com")).ok());
  ExpectStatus(h.Present(Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "a.b.example.com")),
               absl::StatusCode::kFailedPrecondition, "is not served by this agent");
}

TEST_F(ChallengeHandlerTest, IpIdentifiers) {
  ChallengeHandler h(Options({"192.0.2.7"}), &status_);
  EXPECT_TRUE(h.Present(Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "192.0.2.7")).ok());
  v1::PresentChallenge mistyped = Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "192.0.2.7");
  mistyped.mutable_identifier()->set_type(v1::Identifier::TYPE_DNS);
  ExpectStatus(h.Present(mistyped), absl::StatusCode::kInvalidArgument,
               "does not match its type TYPE_DNS");
}

TEST_F(ChallengeHandlerTest, RefusesMalformedChallenges) {
  ChallengeHandler h(Options({"a.example.com"}), &status_);
  ExpectStatus(h.Present(Present(v1::CHALLENGE_TYPE_DNS_01, "a.example.com")),
               absl::StatusCode::kInvalidArgument, "unsupported challenge type: dns-01");
  ExpectStatus(h.Present(Present(v1::CHALLENGE_TYPE_UNSPECIFIED, "a.example.com")),
               absl::StatusCode::kInvalidArgument, "unsupported challenge type");
  ExpectStatus(h.Present(Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "a.example.com", "bad/token")),
               absl::StatusCode::kInvalidArgument, "malformed token");
  ExpectStatus(h.Present(Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "a.example.com", "")),
               absl::StatusCode::kInvalidArgument, "malformed token");
  for (const char* ka : {"other.thumb", "tok", "tok.", "tok.th+umb", "tok.a.b"}) {
    ExpectStatus(h.Present(Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "a.example.com", "tok", ka)),
                 absl::StatusCode::kInvalidArgument,
                 "key authorization is not of the form <token>.<base64url thumbprint>");
  }
  ExpectStatus(h.Present(Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "not a name")),
               absl::StatusCode::kInvalidArgument, "malformed identifier");
  ExpectStatus(h.Present(Present(v1::CHALLENGE_TYPE_HTTP_01, "a.example.com")),
               absl::StatusCode::kFailedPrecondition, "http-01 is not configured on this agent");
  EXPECT_TRUE(tls_.loaded.empty());
  EXPECT_EQ(h.PresentedCount(), 0u);
}

TEST_F(ChallengeHandlerTest, Http01ThroughTheResponder) {
  ChallengeHandler::Options o = Options({"a.example.com"});
  o.http01 = &http_;
  ChallengeHandler h(o, &status_);
  EXPECT_EQ(h.Capabilities(), (std::vector<v1::ChallengeType>{v1::CHALLENGE_TYPE_TLS_ALPN_01,
                                                              v1::CHALLENGE_TYPE_HTTP_01}));
  v1::PresentChallenge p = Present(v1::CHALLENGE_TYPE_HTTP_01, "a.example.com");
  ASSERT_TRUE(h.Present(p).ok());
  EXPECT_EQ(http_.tokens["tok_A-1"], "tok_A-1.thumb_print-1");
  h.WithdrawAll();
  EXPECT_TRUE(http_.tokens.empty());
}

TEST_F(ChallengeHandlerTest, Http01ThroughTheWebroot) {
  TempDir webroot;
  ChallengeHandler::Options o;
  o.names = {"a.example.com"};
  o.http01_webroot = webroot.path();
  ChallengeHandler h(o, &status_);
  EXPECT_EQ(h.Capabilities(), (std::vector<v1::ChallengeType>{v1::CHALLENGE_TYPE_HTTP_01}));
  v1::PresentChallenge p = Present(v1::CHALLENGE_TYPE_HTTP_01, "a.example.com");
  ASSERT_TRUE(h.Present(p).ok());
  const std::string file = webroot.Sub(".well-known/acme-challenge/tok_A-1");
  EXPECT_EQ(ReadFile(file).value(), "tok_A-1.thumb_print-1");
  struct stat st;
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  ExpectStatus(h.Present(Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "a.example.com")),
               absl::StatusCode::kFailedPrecondition, "tls-alpn-01 is not configured");
  ASSERT_TRUE(h.Withdraw(Withdraw(p)).ok());
  EXPECT_EQ(stat(file.c_str(), &st), -1);
}

TEST_F(ChallengeHandlerTest, WithdrawAllDropsEverything) {
  ChallengeHandler h(Options({"a.example.com", "b.example.com"}), &status_);
  ASSERT_TRUE(h.Present(Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "a.example.com")).ok());
  ASSERT_TRUE(h.Present(Present(v1::CHALLENGE_TYPE_TLS_ALPN_01, "b.example.com")).ok());
  h.WithdrawAll();
  EXPECT_TRUE(tls_.loaded.empty());
  EXPECT_EQ(h.PresentedCount(), 0u);
}

}  // namespace
}  // namespace certfleet::agent
