// The ACME engine under a misbehaving CA: every issuance runs through the fault-injecting
// proxy (tests/support/fault_proxy.h) in front of a real Pebble, with real time. Each test
// checks the outcome and the proxy's request log: no JWS nonce used twice, no finalize
// reaching the CA twice, no poll sooner than the Retry-After asked (under non-UTC time
// zones), and only a parsed chain whose leaf matches the key ever returned.

#include <stdlib.h>
#include <time.h>

#include <atomic>
#include <ostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/crypto/key.h"
#include "common/crypto/x509.h"
#include "common/identifiers/identifier.h"
#include "common/responder/tls_alpn_responder.h"
#include "server/acme/account.h"
#include "server/acme/acme_client.h"
#include "server/acme/curl_http_transport.h"
#include "server/acme/order_driver.h"
#include "server/acme/problem.h"
#include "server/acme/retry_after.h"
#include "tests/support/fault_proxy.h"
#include "tests/support/pebble_fixture.h"

namespace certfleet::acme {
namespace {

using ::testing::HasSubstr;
using certfleet::testing::FaultProxy;
using certfleet::testing::FaultProxyOptions;
using certfleet::testing::FaultRule;
using certfleet::testing::PebbleFixture;
using certfleet::testing::PebbleOptions;
using certfleet::testing::ProxyLogEntry;

constexpr char kNewNonce[] = "/nonce-plz";
constexpr char kNewOrder[] = "/order-plz";
constexpr char kAuthz[] = "/authZ/.*";
constexpr char kOrder[] = "/my-order/.*";
constexpr char kFinalize[] = "/finalize-order/.*";
constexpr char kCert[] = "/certZ/.*";
constexpr char kAccount[] = "/my-account/.*";

// Answers tls-alpn-01 with the local responder.
class AlpnSolver : public ChallengeSolver {
 public:
  explicit AlpnSolver(responder::TlsAlpnResponder* alpn) : alpn_(alpn) {}
  absl::Status CanSolve(const identifiers::Identifier& id, const std::string& type) override {
    if (type == kTlsAlpn01) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat("cannot answer ", type, " for ", id.value));
  }
  absl::Status Present(const ChallengeTask& task, absl::Time) override {
    ++presents;
    std::string ka = wrong_key_authorization ? task.token + ".not-the-thumbprint"
                                             : task.key_authorization;
    return alpn_->AddChallenge(task.identifier.value,
                               task.identifier.type == identifiers::IdentifierType::kIp, ka);
  }
  void CleanUp(const ChallengeTask& task) override {
    ++cleanups;
    alpn_->RemoveChallenge(task.identifier.value,
                           task.identifier.type == identifiers::IdentifierType::kIp);
  }
  std::atomic<int> presents{0};
  std::atomic<int> cleanups{0};
  bool wrong_key_authorization = false;

 private:
  responder::TlsAlpnResponder* alpn_;
};

class MemorySink : public ProgressSink {
 public:
  absl::Status Save(const OrderProgress& p) override {
    last = p;
    return absl::OkStatus();
  }
  OrderProgress last;
};

// Sets TZ for the scope of a test and restores it (the engine must not care).
class ScopedTimeZone {
 public:
  explicit ScopedTimeZone(const std::string& tz) {
    const char* old = getenv("TZ");
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv("TZ", tz.c_str(), 1);
    tzset();
  }
  ~ScopedTimeZone() {
    if (had_) {
      setenv("TZ", old_.c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }

 private:
  bool had_ = false;
  std::string old_;
};

class AcmeFaultsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto alpn = responder::TlsAlpnResponder::Start("127.0.0.1:0");
    ASSERT_TRUE(alpn.ok()) << alpn.status();
    alpn_ = alpn->release();
    PebbleOptions options;
    options.tls_port = alpn_->port();
    auto pebble = PebbleFixture::Start(options);
    ASSERT_TRUE(pebble.ok()) << pebble.status();
    pebble_ = pebble->release();
    auto root_pem = pebble_->ManagementGet("/roots/0");
    ASSERT_TRUE(root_pem.ok()) << root_pem.status();
    auto root = crypto::Certificate::FromPem(*root_pem);
    ASSERT_TRUE(root.ok()) << root.status();
    root_ = new crypto::Certificate(*std::move(root));
  }
  static void TearDownTestSuite() {
    delete root_;
    delete pebble_;
    delete alpn_;
    root_ = nullptr;
    pebble_ = nullptr;
    alpn_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(pebble_, nullptr) << "Pebble did not start";
    ASSERT_NE(root_, nullptr);
  }

  // Starts the proxy with `rules` and a client (with a registered account) through it.
  void Start(std::vector<FaultRule> rules) {
    FaultProxyOptions options;
    std::string dir_url = pebble_->directory_url();
    options.upstream_base_url = dir_url.substr(0, dir_url.rfind('/'));
    options.upstream_ca_bundle_path = pebble_->ca_bundle_path();
    options.rules = std::move(rules);
    auto proxy = FaultProxy::Start(std::move(options));
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = *std::move(proxy);

    CurlTransportOptions topts;
    topts.ca_bundle_path = proxy_->ca_bundle_path();
    topts.no_proxy = "*";
    topts.connect_timeout = absl::Seconds(2);
    topts.total_timeout = kClientTimeout;
    AcmeClientOptions copts;
    copts.directory_url = proxy_->directory_url();
    copts.unavailable_backoff = kBackoff;
    copts.max_unavailable_backoff = absl::Seconds(2);
    copts.max_unavailable_attempts = 4;
    copts.not_found_delay = absl::Milliseconds(200);
    client_ = std::make_unique<AcmeClient>(std::make_shared<CurlHttpTransport>(topts), copts);
    auto key = crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
    ASSERT_TRUE(key.ok()) << key.status();
    client_->SetAccountKey(*std::move(key));
    AccountOptions account;
    account.terms_of_service_agreed = true;
    auto registered = RegisterAccount(*client_, account);
    ASSERT_TRUE(registered.ok()) << registered.status();
    EXPECT_THAT(registered->url, ::testing::StartsWith(proxy_->base_url()));
  }

  // One issuance of `name` through the proxy with real time.
  absl::StatusOr<IssuedCertificate> Issue(const std::string& name, AlpnSolver& solver,
                                          absl::Duration deadline = absl::Seconds(60)) {
    auto cert_key = crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
    if (!cert_key.ok()) return cert_key.status();
    cert_key_ = std::make_unique<crypto::PrivateKey>(*std::move(cert_key));
    auto ids = identifiers::NormalizeIdentifiers({name});
    if (!ids.ok()) return ids.status();
    OrderRequest request;
    request.identifiers = *ids;
    request.challenge_preference = {kTlsAlpn01};
    request.issuance_id = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    request.deadline = absl::Now() + deadline;
    OrderDriverOptions options;
    options.initial_poll_interval = absl::Milliseconds(100);
    options.max_poll_interval = absl::Milliseconds(500);
    OrderDriver driver(client_.get(), options);
    OrderProgress progress;
    return driver.Run(request, *cert_key_, &progress, &sink_, &solver);
  }

  // The chain parses, verifies to Pebble's root, and its leaf holds the CSR key and `name`.
  void ExpectGoodCertificate(const IssuedCertificate& issued, const std::string& name) {
    auto chain = crypto::ParsePemChain(issued.chain_pem);
    ASSERT_TRUE(chain.ok()) << chain.status() << "\n" << issued.chain_pem.substr(0, 300);
    ASSERT_FALSE(chain->empty());
    EXPECT_TRUE(chain->front().MatchesKey(*cert_key_));
    EXPECT_TRUE(crypto::VerifyChain(*chain, *root_).ok());
    EXPECT_THAT(chain->front().DnsNames(), ::testing::ElementsAre(name));
    EXPECT_THAT(issued.chain_pem, ::testing::StartsWith("-----BEGIN CERTIFICATE-----"));
  }

  // No JWS nonce appears twice in the log.
  void ExpectNoNonceReused(const std::vector<ProxyLogEntry>& log) {
    std::map<std::string, int> seen;
    for (size_t i = 0; i < log.size(); ++i) {
      if (log[i].jws_nonce.empty()) continue;
      auto [it, inserted] = seen.emplace(log[i].jws_nonce, static_cast<int>(i));
      EXPECT_TRUE(inserted) << "nonce " << log[i].jws_nonce << " used by request " << it->second
                            << " and " << i << " (" << log[i].method << " " << log[i].path
                            << ")";
    }
  }

  // Requests to finalize (all, and those that reached Pebble).
  static int Finalizes(const std::vector<ProxyLogEntry>& log, bool forwarded_only) {
    int n = 0;
    for (const auto& e : log) {
      if (e.method != "POST" || !absl::StartsWith(e.path, "/finalize-order/")) continue;
      if (forwarded_only && e.upstream_status == 0) continue;
      ++n;
    }
    return n;
  }

  // Every request that follows a response with Retry-After to the same resource comes no
  // sooner than asked. Returns how many such pairs were checked.
  static int ExpectRetryAfterHonoured(const std::vector<ProxyLogEntry>& log) {
    int checked = 0;
    for (size_t i = 0; i < log.size(); ++i) {
      const ProxyLogEntry& asked = log[i];
      if (asked.retry_after.empty()) continue;
      absl::Time not_before;
      int64_t seconds = 0;
      if (absl::SimpleAtoi(asked.retry_after, &seconds)) {
        not_before = asked.responded + absl::Seconds(seconds);
      } else {
        std::string err;
        EXPECT_TRUE(absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", asked.retry_after,
                                    absl::UTCTimeZone(), &not_before, &err))
            << asked.retry_after << ": " << err;
      }
      for (size_t j = i + 1; j < log.size(); ++j) {
        if (log[j].path != asked.path) continue;
        EXPECT_GE(log[j].received, not_before)
            << log[j].method << " " << log[j].path << " came "
            << absl::FormatDuration(not_before - log[j].received) << " before the Retry-After ("
            << asked.retry_after << ") of request " << i;
        ++checked;
        break;
      }
    }
    return checked;
  }

  static std::string Describe(const std::vector<ProxyLogEntry>& log) {
    std::string out;
    absl::Time t0 = log.empty() ? absl::Now() : log.front().received;
    for (const auto& e : log) {
      absl::StrAppend(&out, absl::FormatDuration(e.received - t0), " ", e.method, " ", e.path,
                      " -> ", e.status, " (upstream ", e.upstream_status, ")",
                      e.retry_after.empty() ? "" : " Retry-After: " + e.retry_after,
                      e.rule.empty() ? "" : " [" + e.rule + "]", "\n");
    }
    return out;
  }

  static constexpr absl::Duration kClientTimeout = absl::Seconds(3);
  static constexpr absl::Duration kBackoff = absl::Milliseconds(200);

  static responder::TlsAlpnResponder* alpn_;
  static PebbleFixture* pebble_;
  static crypto::Certificate* root_;
  std::unique_ptr<FaultProxy> proxy_;
  std::unique_ptr<AcmeClient> client_;
  std::unique_ptr<crypto::PrivateKey> cert_key_;
  MemorySink sink_;
};

responder::TlsAlpnResponder* AcmeFaultsTest::alpn_ = nullptr;
PebbleFixture* AcmeFaultsTest::pebble_ = nullptr;
crypto::Certificate* AcmeFaultsTest::root_ = nullptr;

// --------------------------------------------------------------------------- Retry-After

struct RetryAfterCase {
  std::string time_zone;
  bool http_date;
};

void PrintTo(const RetryAfterCase& c, std::ostream* os) {
  *os << c.time_zone << (c.http_date ? " HTTP-date" : " seconds");
}

class AcmeRetryAfterTest : public AcmeFaultsTest,
                           public ::testing::WithParamInterface<RetryAfterCase> {};

TEST_P(AcmeRetryAfterTest, PollsNoSoonerThanAsked) {
  ScopedTimeZone tz(GetParam().time_zone);
  auto rule = GetParam().http_date ? &FaultRule::RetryAfterHttpDate
                                   : &FaultRule::RetryAfterSeconds;
  Start({rule("POST", kAuthz, 2), rule("POST", kOrder, 1)});
  AlpnSolver solver(alpn_);
  const std::string name = absl::StrCat("ra-", GetParam().http_date ? "date" : "secs", ".",
                                        proxy_->port(), ".example.com");
  auto issued = Issue(name, solver);
  auto log = proxy_->Log();
  ASSERT_TRUE(issued.ok()) << issued.status() << "\n" << Describe(log);
  ExpectGoodCertificate(*issued, name);
  ExpectNoNonceReused(log);
  EXPECT_EQ(Finalizes(log, /*forwarded_only=*/false), 1) << Describe(log);
  // At least the authorization poll and the order poll followed a Retry-After.
  EXPECT_GE(ExpectRetryAfterHonoured(log), 2) << Describe(log);
}

INSTANTIATE_TEST_SUITE_P(
    TimeZones, AcmeRetryAfterTest,
    ::testing::Values(RetryAfterCase{"America/New_York", false},
                      RetryAfterCase{"America/New_York", true},
                      RetryAfterCase{"Asia/Kolkata", false}, RetryAfterCase{"Asia/Kolkata", true}),
    [](const ::testing::TestParamInfo<RetryAfterCase>& info) {
      std::string zone = info.param.time_zone.substr(info.param.time_zone.find('/') + 1);
      return absl::StrCat(zone, info.param.http_date ? "_HttpDate" : "_Seconds");
    });

// --------------------------------------------------------------------------- 5xx

TEST_F(AcmeFaultsTest, ServerErrorsWithoutNonceAreRetriedWithFreshNonces) {
  Start({FaultRule::ServerError("HEAD", kNewNonce, 503).First(2).Named("nonce-503"),
         FaultRule::ServerError("POST", kNewOrder, 502).First(1).Named("order-502"),
         FaultRule::ServerError("POST", kAuthz, 500).Nth(2).Named("authz-500"),
         FaultRule::ServerError("POST", kFinalize, 503).First(1).Named("finalize-503"),
         FaultRule::ServerError("POST", kCert, 503).First(1).Named("cert-503")});
  AlpnSolver solver(alpn_);
  const std::string name = absl::StrCat("5xx.", proxy_->port(), ".example.com");
  auto issued = Issue(name, solver);
  auto log = proxy_->Log();
  ASSERT_TRUE(issued.ok()) << issued.status() << "\n" << Describe(log);
  ExpectGoodCertificate(*issued, name);
  ExpectNoNonceReused(log);
  EXPECT_EQ(proxy_->FiredCount("nonce-503"), 2);
  EXPECT_EQ(proxy_->FiredCount("order-502"), 1);
  EXPECT_EQ(proxy_->FiredCount("authz-500"), 1);
  EXPECT_EQ(proxy_->FiredCount("finalize-503"), 1);
  EXPECT_EQ(proxy_->FiredCount("cert-503"), 1);
  // The 503 finalize never reached Pebble; the one after it did, once.
  EXPECT_EQ(Finalizes(log, /*forwarded_only=*/true), 1) << Describe(log);
  // The two failed HEADs were followed by backoff: 200 ms, then 400 ms.
  std::vector<absl::Time> heads;
  for (const auto& e : log) {
    if (e.method == "HEAD") heads.push_back(e.received);
  }
  ASSERT_GE(heads.size(), 3u) << Describe(log);
  EXPECT_GE(heads[1] - heads[0], kBackoff);
  EXPECT_GE(heads[2] - heads[1], 2 * kBackoff);
}

TEST_F(AcmeFaultsTest, ServerErrorThatNeverStopsIsCaUnavailableAfterBoundedRetries) {
  Start({FaultRule::ServerError("POST", kNewOrder, 503).Named("forever")});
  AlpnSolver solver(alpn_);
  auto issued = Issue(absl::StrCat("down.", proxy_->port(), ".example.com"), solver);
  auto log = proxy_->Log();
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kUnavailable) << issued.status();
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("CA unavailable: HTTP 503"));
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("gave up after 4 attempts"));
  EXPECT_THAT(std::string(issued.status().message()), ::testing::Not(HasSubstr("<html")));
  std::vector<absl::Time> attempts;
  for (const auto& e : log) {
    if (e.path == kNewOrder) attempts.push_back(e.received);
  }
  ASSERT_EQ(attempts.size(), 4u) << Describe(log);
  // Exponential backoff: 200 ms, 400 ms, 800 ms.
  for (size_t i = 1; i < attempts.size(); ++i) {
    EXPECT_GE(attempts[i] - attempts[i - 1], kBackoff * (1 << (i - 1))) << i;
  }
  ExpectNoNonceReused(log);
  EXPECT_EQ(solver.presents, 0);
}

// --------------------------------------------------------------------------- 404

TEST_F(AcmeFaultsTest, NotFoundForJustAnnouncedResourcesIsLookedUpAgain) {
  Start({FaultRule::NotFound("POST", kAuthz).First(1).PerPath().Named("authz-404"),
         FaultRule::NotFound("POST", kCert).First(1).PerPath().Named("cert-404"),
         FaultRule::NotFound("POST", kAccount).First(1).Named("account-404")});
  auto account = FetchAccount(*client_);
  ASSERT_TRUE(account.ok()) << account.status();
  EXPECT_EQ(account->status, "valid");
  EXPECT_EQ(proxy_->FiredCount("account-404"), 1);

  AlpnSolver solver(alpn_);
  const std::string name = absl::StrCat("404.", proxy_->port(), ".example.com");
  auto issued = Issue(name, solver);
  auto log = proxy_->Log();
  ASSERT_TRUE(issued.ok()) << issued.status() << "\n" << Describe(log);
  ExpectGoodCertificate(*issued, name);
  ExpectNoNonceReused(log);
  EXPECT_EQ(proxy_->FiredCount("authz-404"), 1);
  EXPECT_EQ(proxy_->FiredCount("cert-404"), 1);
  EXPECT_EQ(Finalizes(log, /*forwarded_only=*/false), 1);
}

// --------------------------------------------------------------------------- finalize

TEST_F(AcmeFaultsTest, OrderNotReadyToFinalizeLooksAtTheOrderThenFinalizesOnce) {
  Start({FaultRule::OrderNotReady("POST", kFinalize).First(1).Named("not-ready")});
  AlpnSolver solver(alpn_);
  const std::string name = absl::StrCat("notready.", proxy_->port(), ".example.com");
  auto issued = Issue(name, solver);
  auto log = proxy_->Log();
  ASSERT_TRUE(issued.ok()) << issued.status() << "\n" << Describe(log);
  ExpectGoodCertificate(*issued, name);
  ExpectNoNonceReused(log);
  EXPECT_EQ(proxy_->FiredCount("not-ready"), 1);
  EXPECT_EQ(Finalizes(log, /*forwarded_only=*/false), 2) << Describe(log);
  EXPECT_EQ(Finalizes(log, /*forwarded_only=*/true), 1) << Describe(log);
  // Between the two finalizes, the order was fetched.
  size_t first = 0, second = 0;
  for (size_t i = 0; i < log.size(); ++i) {
    if (!absl::StartsWith(log[i].path, "/finalize-order/")) continue;
    (first == 0 ? first : second) = i;
  }
  bool fetched = false;
  for (size_t i = first + 1; i < second; ++i) {
    fetched |= absl::StartsWith(log[i].path, "/my-order/");
  }
  EXPECT_TRUE(fetched) << Describe(log);
}

TEST_F(AcmeFaultsTest, FinalizeHeldPastTheTimeoutIsNeverSentTwice) {
  Start({FaultRule::HoldAndDrop("POST", kFinalize, kClientTimeout + absl::Seconds(2))
             .First(1)
             .Named("hold-finalize"),
         FaultRule::HoldAndDrop("POST", kAuthz, kClientTimeout + absl::Seconds(2))
             .Nth(1)
             .Named("hold-authz")});
  AlpnSolver solver(alpn_);
  const std::string name = absl::StrCat("slow.", proxy_->port(), ".example.com");
  auto issued = Issue(name, solver);
  auto log = proxy_->Log();
  ASSERT_TRUE(issued.ok()) << issued.status() << "\n" << Describe(log);
  ExpectGoodCertificate(*issued, name);
  ExpectNoNonceReused(log);
  EXPECT_EQ(proxy_->FiredCount("hold-finalize"), 1);
  EXPECT_EQ(proxy_->FiredCount("hold-authz"), 1);
  // Pebble acted on the held finalize; the engine looked at the order instead of repeating.
  EXPECT_EQ(Finalizes(log, /*forwarded_only=*/false), 1) << Describe(log);
  for (const auto& e : log) {
    if (e.rule == "hold-finalize") {
      EXPECT_EQ(e.status, 0);
      EXPECT_EQ(e.upstream_status, 200);
    }
  }
}

// --------------------------------------------------------------------------- failures

TEST_F(AcmeFaultsTest, InvalidAuthorizationEndsWithTheCasDetail) {
  Start({FaultRule::RetryAfterSeconds("POST", kAuthz, 1)});
  AlpnSolver solver(alpn_);
  solver.wrong_key_authorization = true;
  const std::string name = absl::StrCat("invalid.", proxy_->port(), ".example.com");
  auto issued = Issue(name, solver);
  auto log = proxy_->Log();
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kAborted) << issued.status();
  EXPECT_THAT(std::string(issued.status().message()),
              HasSubstr(absl::StrCat("authorization for ", name, " is invalid: tls-alpn-01: ")));
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("unauthorized"));
  EXPECT_EQ(Finalizes(log, /*forwarded_only=*/false), 0);
  EXPECT_EQ(solver.cleanups, solver.presents);
  ExpectNoNonceReused(log);
  ExpectRetryAfterHonoured(log);
}

TEST_F(AcmeFaultsTest, RunningOutOfTheDeadlineIsDeadlineExceeded) {
  // The CA asks for 30 s between polls; the issuance has 5 s: the driver stops with a
  // retryable DeadlineExceeded (the issuance layer tries again later) instead of waiting.
  Start({FaultRule::RetryAfterSeconds("POST", kAuthz, 30)});
  AlpnSolver solver(alpn_);
  absl::Time start = absl::Now();
  auto issued =
      Issue(absl::StrCat("deadline.", proxy_->port(), ".example.com"), solver, absl::Seconds(5));
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kDeadlineExceeded) << issued.status();
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("deadline"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(solver.cleanups, solver.presents);
  auto log = proxy_->Log();
  EXPECT_EQ(Finalizes(log, /*forwarded_only=*/false), 0);
  ExpectRetryAfterHonoured(log);
}

}  // namespace
}  // namespace certfleet::acme
