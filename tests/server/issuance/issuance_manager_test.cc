// IssuanceManager with a real SQLite file, a fake OrderRunner and a fake clock: retry and
// backoff, permanent failures, the deadline retry budget, shutdown cancellation and the
// renewal scheduler.

#include "server/issuance/issuance_manager.h"

#include <stdlib.h>

#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/acme/problem.h"
#include "storage/certificate_version_repository.h"
#include "storage/database.h"
#include "storage/issuance_repository.h"
#include "tests/server/issuance/fake_clock.h"

namespace certfleet::issuance {
namespace {

using ::testing::HasSubstr;
using storage::IssuanceReason;
using storage::IssuanceRecord;
using storage::IssuanceState;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);
// Real-time bound on waiting for the manager's threads (never reached when it works).
constexpr absl::Duration kWaitLimit = absl::Seconds(30);

// One scripted attempt.
using Step = std::function<absl::StatusOr<acme::IssuedCertificate>(
    const acme::OrderRequest&, acme::OrderProgress*, acme::ProgressSink*)>;

// What the runner saw at the start of an attempt.
struct Call {
  absl::Time at;
  std::string issuance_id;
  std::string order_url;  // progress->order_url on entry ("" = a fresh order).
};

// Plays scripted steps in order; once the script is empty, every attempt succeeds with a
// certificate valid for 90 days from now.
class FakeRunner : public OrderRunner {
 public:
  explicit FakeRunner(Clock* clock) : clock_(clock) {}

  absl::StatusOr<acme::IssuedCertificate> Run(const std::string& ca_name,
                                              const acme::OrderRequest& request,
                                              const crypto::PrivateKey& cert_key,
                                              acme::OrderProgress* progress,
                                              acme::ProgressSink* sink,
                                              acme::ChallengeSolver* solver) override {
    (void)cert_key;
    (void)solver;
    EXPECT_EQ(ca_name, "pebble");
    Step step;
    {
      absl::MutexLock lock(&mu_);
      calls_.push_back({clock_->Now(), request.issuance_id, progress->order_url});
      if (!script_.empty()) {
        step = std::move(script_.front());
        script_.pop_front();
      }
    }
    if (step) return step(request, progress, sink);
    return Issued(absl::Hours(24 * 90));
  }

  void Push(Step step) {
    absl::MutexLock lock(&mu_);
    script_.push_back(std::move(step));
  }
  void PushError(absl::Status error) {
    Push([error](const acme::OrderRequest&, acme::OrderProgress*, acme::ProgressSink*)
             -> absl::StatusOr<acme::IssuedCertificate> { return error; });
  }
  std::vector<Call> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  // A certificate valid from now for `lifetime`, with a fresh serial.
  acme::IssuedCertificate Issued(absl::Duration lifetime) {
    acme::IssuedCertificate issued;
    absl::MutexLock lock(&mu_);
    issued.leaf_serial_hex = absl::StrCat("0A", ++serial_);
    issued.not_before = clock_->Now();
    issued.not_after = issued.not_before + lifetime;
    issued.issuer = "CN=Fake CA";
    issued.chain_pem = "-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n";
    return issued;
  }

 private:
  Clock* clock_;
  mutable absl::Mutex mu_;
  std::deque<Step> script_ ABSL_GUARDED_BY(mu_);
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  int serial_ ABSL_GUARDED_BY(mu_) = 0;
};

// Every view the manager publishes, for waiting on a state without sleeping.
class Recorder {
 public:
  explicit Recorder(WatchHub* hub) : hub_(hub) {
    handle_ = hub_->Subscribe([this](const IssuanceView& view) {
      absl::MutexLock lock(&mu_);
      views_.push_back(view);
      changed_.SignalAll();
    });
  }
  ~Recorder() { hub_->Unsubscribe(handle_); }

  // The first published view (since subscribing) matching `pred`; fails the test when
  // none comes within kWaitLimit.
  std::optional<IssuanceView> WaitFor(const std::function<bool(const IssuanceView&)>& pred) {
    absl::Time deadline = absl::Now() + kWaitLimit;
    absl::MutexLock lock(&mu_);
    while (true) {
      for (const IssuanceView& v : views_) {
        if (pred(v)) return v;
      }
      if (changed_.WaitWithDeadline(&mu_, deadline)) {
        ADD_FAILURE() << "no matching issuance view within " << kWaitLimit;
        return std::nullopt;
      }
    }
  }

 private:
  WatchHub* hub_;
  uint64_t handle_;
  absl::Mutex mu_;
  absl::CondVar changed_;
  std::vector<IssuanceView> views_ ABSL_GUARDED_BY(mu_);
};

// Matches a view of issuance `id` in `state` after `attempts` attempts.
std::function<bool(const IssuanceView&)> Is(const std::string& id, IssuanceState state,
                                            int attempts) {
  return [=](const IssuanceView& v) {
    return v.issuance.id == id && v.issuance.state == state && v.issuance.attempts == attempts;
  };
}

class IssuanceManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/cf-issuance-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    storage::DatabaseOptions db_options;
    db_options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<storage::Database>> db =
        storage::Database::Open(dir_ + "/certfleet.db", db_options);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    CaSettings ca;
    ca.name = "pebble";
    ca.directory_url = "https://ca.invalid/dir";
    cas_["pebble"] = ca;
    defaults_.default_ca = "pebble";
    accounts_ = std::make_unique<AcmeAccounts>(db_.get(), cas_, &clock_);
    options_.clock = &clock_;
    options_.runner = &runner_;
    options_.workers = 2;
    options_.renewal_interval = absl::ZeroDuration();  // Tests call CheckRenewals.
    options_.initial_backoff = absl::Seconds(2);
    options_.max_backoff = absl::Minutes(10);
  }

  void TearDown() override {
    recorder_.reset();
    manager_.reset();
    accounts_.reset();
    db_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // (Re)creates the manager with the current options; `start` runs its threads.
  void MakeManager(bool start = true) {
    recorder_.reset();
    manager_.reset();
    manager_ = std::make_unique<IssuanceManager>(db_.get(), accounts_.get(), cas_, defaults_,
                                                 /*solver=*/nullptr, /*installer=*/nullptr,
                                                 options_);
    recorder_ = std::make_unique<Recorder>(&manager_->hub());
    if (start) {
      ASSERT_TRUE(manager_->Start().ok());
    }
  }

  std::string Issue(const std::string& name) {
    IssueParams params;
    params.names = {name};
    absl::StatusOr<IssuanceView> view = manager_->Issue(params);
    EXPECT_TRUE(view.ok()) << view.status();
    return view.ok() ? view->issuance.id : "";
  }

  // Stores a managed certificate with one issued version, as if issued earlier.
  int64_t AddIssued(const std::string& name, absl::Time not_before, absl::Time not_after,
                    absl::Duration renew_before) {
    storage::IssuanceRepository issuances(db_.get());
    storage::CertificateVersionRepository versions(db_.get());
    storage::IssueRequest request;
    request.name = name;
    request.identifiers = {{"dns", name}};
    request.policy.ca_name = "pebble";
    request.policy.key_type = "ecdsa-p256";
    request.policy.challenge_preference = {"tls-alpn-01"};
    request.policy.renew_before = renew_before;
    absl::StatusOr<storage::IssueResult> result = issuances.IssueOrJoin(request);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return 0;
    storage::CertificateVersionRecord version;
    version.serial_hex = absl::StrCat("AB", ++serials_);
    version.not_before = not_before;
    version.not_after = not_after;
    version.issuer = "CN=Fake CA";
    version.chain_pem = "-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n";
    absl::StatusOr<storage::CertificateVersionRecord> stored =
        versions.CompleteIssuance(result->issuance.id, version);
    EXPECT_TRUE(stored.ok()) << stored.status();
    return result->certificate.id;
  }

  std::vector<IssuanceRecord> IssuancesOf(int64_t certificate_id) {
    storage::IssuanceRepository issuances(db_.get());
    absl::StatusOr<std::vector<IssuanceRecord>> list =
        issuances.ListForCertificate(certificate_id);
    EXPECT_TRUE(list.ok()) << list.status();
    return list.ok() ? *list : std::vector<IssuanceRecord>{};
  }

  testing::FakeClock clock_{kStart};
  FakeRunner runner_{&clock_};
  std::string dir_;
  std::unique_ptr<storage::Database> db_;
  CaSettingsMap cas_;
  IssuanceDefaults defaults_;
  std::unique_ptr<AcmeAccounts> accounts_;
  IssuanceManagerOptions options_;
  std::unique_ptr<IssuanceManager> manager_;
  std::unique_ptr<Recorder> recorder_;
  int serials_ = 0;
};

// ------------------------------------------------------------------ transient errors

struct TransientCase {
  std::string name;
  absl::Status error;
  std::string message;   // Expected in error_message while pending.
  absl::Duration delay;  // Expected next_attempt_at - failure time.
};

acme::Problem RateLimited() {
  acme::Problem p;
  p.type = "urn:ietf:params:acme:error:rateLimited";
  p.detail = "too many new orders recently";
  p.status = 429;
  return p;
}

std::vector<TransientCase> TransientCases() {
  return {
      {"Unavailable", absl::UnavailableError("CA unavailable: HTTP 503 from https://ca/new-order"),
       "CA unavailable: HTTP 503", absl::Seconds(2)},
      // Retry-After 30 s is later than the 2 s backoff: it wins.
      {"ResourceExhaustedWithRetryAfter",
       acme::ProblemToStatus(RateLimited(), 429, kStart + absl::Seconds(30)),
       "too many new orders recently", absl::Seconds(30)},
      {"DeadlineExceeded",
       absl::DeadlineExceededError(
           "issuance deadline passed while waiting for the CA (names a.example.com)"),
       "issuance deadline passed", absl::Seconds(2)},
  };
}

class TransientErrorTest : public IssuanceManagerTest,
                           public ::testing::WithParamInterface<TransientCase> {};

TEST_P(TransientErrorTest, RetriedAfterBackoffThenSucceeds) {
  const TransientCase& c = GetParam();
  runner_.PushError(c.error);
  ASSERT_NO_FATAL_FAILURE(MakeManager());
  std::string id = Issue("a.example.com");

  std::optional<IssuanceView> pending = recorder_->WaitFor([&](const IssuanceView& v) {
    return v.issuance.id == id && v.issuance.state == IssuanceState::kPending &&
           v.issuance.attempts == 1;
  });
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->issuance.error_code, static_cast<int>(c.error.code()));
  EXPECT_THAT(pending->issuance.error_message, HasSubstr(c.message));
  ASSERT_TRUE(pending->issuance.next_attempt_at.has_value());
  EXPECT_EQ(*pending->issuance.next_attempt_at, kStart + c.delay);

  // Time reaches next_attempt_at: the retry runs then (not before) and succeeds.
  clock_.Advance(c.delay);
  std::optional<IssuanceView> valid = recorder_->WaitFor(Is(id, IssuanceState::kValid, 2));
  ASSERT_TRUE(valid.has_value());
  ASSERT_TRUE(valid->version.has_value());
  EXPECT_EQ(valid->issuance.error_message, "");
  std::vector<Call> calls = runner_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].at, kStart);
  EXPECT_EQ(calls[1].at, kStart + c.delay);
}

INSTANTIATE_TEST_SUITE_P(Codes, TransientErrorTest, ::testing::ValuesIn(TransientCases()),
                         [](const ::testing::TestParamInfo<TransientCase>& info) {
                           return info.param.name;
                         });

TEST_F(IssuanceManagerTest, UnavailableGivesUpAfterMaxAttemptsWithDoublingBackoff) {
  options_.max_attempts = 3;
  for (int i = 0; i < 3; ++i) {
    runner_.PushError(absl::UnavailableError("CA unavailable: HTTP 502 from https://ca/dir"));
  }
  ASSERT_NO_FATAL_FAILURE(MakeManager());
  std::string id = Issue("a.example.com");
  absl::Duration want[] = {absl::Seconds(2), absl::Seconds(4)};
  for (int attempt = 1; attempt <= 2; ++attempt) {
    std::optional<IssuanceView> pending =
        recorder_->WaitFor(Is(id, IssuanceState::kPending, attempt));
    ASSERT_TRUE(pending.has_value());
    ASSERT_TRUE(pending->issuance.next_attempt_at.has_value());
    EXPECT_EQ(*pending->issuance.next_attempt_at - clock_.Now(), want[attempt - 1]);
    clock_.AdvanceTo(*pending->issuance.next_attempt_at);
  }
  std::optional<IssuanceView> failed = recorder_->WaitFor(Is(id, IssuanceState::kFailed, 3));
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->issuance.error_code, static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_THAT(failed->issuance.error_message,
              HasSubstr("giving up after 3 attempts: CA unavailable: HTTP 502"));
}

// ------------------------------------------------------------------ permanent errors

struct PermanentCase {
  std::string name;
  absl::Status error;
};

class PermanentErrorTest : public IssuanceManagerTest,
                           public ::testing::WithParamInterface<PermanentCase> {};

TEST_P(PermanentErrorTest, FailsAtOnceWithTheCaMessage) {
  const PermanentCase& c = GetParam();
  runner_.PushError(c.error);
  ASSERT_NO_FATAL_FAILURE(MakeManager());
  std::string id = Issue("a.example.com");
  std::optional<IssuanceView> failed = recorder_->WaitFor(Is(id, IssuanceState::kFailed, 1));
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->issuance.error_code, static_cast<int>(c.error.code()));
  EXPECT_THAT(failed->issuance.error_message, HasSubstr(std::string(c.error.message())));
  EXPECT_TRUE(failed->issuance.finished_at.has_value());
  EXPECT_EQ(runner_.calls().size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Codes, PermanentErrorTest,
    ::testing::Values(
        PermanentCase{"InvalidArgument",
                      absl::InvalidArgumentError(
                          "new order: rejectedIdentifier: Error creating new order :: "
                          "Cannot issue for \"a.example.com\": Domain name is blocked")},
        PermanentCase{"PermissionDenied",
                      absl::PermissionDeniedError(
                          "new order: unauthorized: account is not allowed to order")}),
    [](const ::testing::TestParamInfo<PermanentCase>& info) { return info.param.name; });

TEST_F(IssuanceManagerTest, FinalErrorKeepsTheCauseOfTheEarlierAttempt) {
  // An agent vanishes mid-challenge (retried), then the retry finds no agent at all: the
  // final error must still say the agent went away, not only that none is connected.
  runner_.PushError(absl::UnavailableError(
      "agent web-c went away (stream closed) before acknowledging challenge for c.example.com"));
  runner_.PushError(absl::FailedPreconditionError(
      "no connected agent serves c.example.com (connected agents: web-a)"));
  ASSERT_NO_FATAL_FAILURE(MakeManager());
  std::string id = Issue("c.example.com");
  std::optional<IssuanceView> pending = recorder_->WaitFor([&](const IssuanceView& v) {
    return v.issuance.id == id && v.issuance.state == IssuanceState::kPending &&
           v.issuance.attempts == 1;
  });
  ASSERT_TRUE(pending.has_value());
  ASSERT_TRUE(pending->issuance.next_attempt_at.has_value());
  clock_.Advance(*pending->issuance.next_attempt_at - kStart);

  std::optional<IssuanceView> failed = recorder_->WaitFor(Is(id, IssuanceState::kFailed, 2));
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->issuance.error_code, static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(failed->issuance.error_message,
              HasSubstr("no connected agent serves c.example.com"));
  EXPECT_THAT(failed->issuance.error_message,
              HasSubstr("earlier attempt: agent web-c went away"));
}

TEST_F(IssuanceManagerTest, AbortedGetsOneFreshOrderThenFails) {
  runner_.Push([](const acme::OrderRequest&, acme::OrderProgress* progress,
                  acme::ProgressSink* sink) -> absl::StatusOr<acme::IssuedCertificate> {
    progress->order_url = "https://ca/order/1";
    progress->step = acme::kStepOrdered;
    EXPECT_TRUE(sink->Save(*progress).ok());
    return absl::AbortedError(
        "order https://ca/order/1 is invalid: authorization for a.example.com is invalid: "
        "tls-alpn-01: unauthorized: first refusal");
  });
  runner_.PushError(absl::AbortedError(
      "order https://ca/order/2 is invalid: authorization for a.example.com is invalid: "
      "tls-alpn-01: unauthorized: second refusal"));
  ASSERT_NO_FATAL_FAILURE(MakeManager());
  std::string id = Issue("a.example.com");

  std::optional<IssuanceView> pending = recorder_->WaitFor(Is(id, IssuanceState::kPending, 1));
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->issuance.step, acme::kStepNew);  // The invalid order is forgotten.
  EXPECT_THAT(pending->issuance.error_message, HasSubstr("first refusal"));
  clock_.AdvanceTo(*pending->issuance.next_attempt_at);

  std::optional<IssuanceView> failed = recorder_->WaitFor(Is(id, IssuanceState::kFailed, 2));
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->issuance.error_code, static_cast<int>(absl::StatusCode::kAborted));
  EXPECT_THAT(failed->issuance.error_message, HasSubstr("unauthorized: second refusal"));
  std::vector<Call> calls = runner_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].order_url, "");  // The second attempt placed a fresh order.
}

// ------------------------------------------------------------------ deadlines

TEST_F(IssuanceManagerTest, DeadlineExceededIsRetriedPastMaxAttemptsWithCappedBackoff) {
  options_.max_attempts = 2;
  options_.max_backoff = absl::Seconds(4);
  for (int i = 0; i < 4; ++i) {
    runner_.PushError(absl::DeadlineExceededError(
        "issuance deadline passed while waiting for the CA (names a.example.com)"));
  }
  ASSERT_NO_FATAL_FAILURE(MakeManager());
  std::string id = Issue("a.example.com");
  absl::Duration want[] = {absl::Seconds(2), absl::Seconds(4), absl::Seconds(4),
                           absl::Seconds(4)};
  for (int attempt = 1; attempt <= 4; ++attempt) {
    std::optional<IssuanceView> pending =
        recorder_->WaitFor(Is(id, IssuanceState::kPending, attempt));
    ASSERT_TRUE(pending.has_value());
    // The reason is visible while it waits.
    EXPECT_EQ(pending->issuance.error_code,
              static_cast<int>(absl::StatusCode::kDeadlineExceeded));
    EXPECT_THAT(pending->issuance.error_message, HasSubstr("issuance deadline passed"));
    ASSERT_TRUE(pending->issuance.next_attempt_at.has_value());
    EXPECT_EQ(*pending->issuance.next_attempt_at - clock_.Now(), want[attempt - 1]);
    clock_.AdvanceTo(*pending->issuance.next_attempt_at);
  }
  std::optional<IssuanceView> valid = recorder_->WaitFor(Is(id, IssuanceState::kValid, 5));
  ASSERT_TRUE(valid.has_value());
}

TEST_F(IssuanceManagerTest, DeadlineExceededFailsOnceTheBudgetIsSpent) {
  options_.deadline_retry_budget = absl::Seconds(5);
  for (int i = 0; i < 3; ++i) {
    runner_.PushError(absl::DeadlineExceededError(
        "issuance deadline passed while waiting for the CA (names a.example.com)"));
  }
  ASSERT_NO_FATAL_FAILURE(MakeManager());
  std::string id = Issue("a.example.com");
  std::optional<IssuanceView> first = recorder_->WaitFor(Is(id, IssuanceState::kPending, 1));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first->issuance.next_attempt_at, kStart + absl::Seconds(2));
  clock_.AdvanceTo(*first->issuance.next_attempt_at);
  std::optional<IssuanceView> second = recorder_->WaitFor(Is(id, IssuanceState::kPending, 2));
  ASSERT_TRUE(second.has_value());
  // Backoff would say +4 s; the budget ends at +5 s: the last try is then.
  EXPECT_EQ(*second->issuance.next_attempt_at, kStart + absl::Seconds(5));
  clock_.AdvanceTo(*second->issuance.next_attempt_at);
  std::optional<IssuanceView> failed = recorder_->WaitFor(Is(id, IssuanceState::kFailed, 3));
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->issuance.error_code, static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(failed->issuance.error_message,
              HasSubstr("still not issued 5s after the request (3 attempts): issuance deadline "
                        "passed while waiting for the CA"));
}

// ------------------------------------------------------------------ shutdown

TEST_F(IssuanceManagerTest, ShutdownCancelsTheRunningAttemptAndItResumesLater) {
  runner_.Push([](const acme::OrderRequest& request, acme::OrderProgress* progress,
                  acme::ProgressSink* sink) -> absl::StatusOr<acme::IssuedCertificate> {
    progress->order_url = "https://ca/order/7";
    progress->step = acme::kStepAuthorizing;
    EXPECT_TRUE(sink->Save(*progress).ok());
    // A long poll of the CA, as the driver would do it: awake until cancelled.
    absl::Time limit = absl::Now() + kWaitLimit;
    while (!(request.cancelled && request.cancelled())) {
      if (absl::Now() > limit) return absl::InternalError("never cancelled");
      absl::SleepFor(absl::Milliseconds(5));  // Polling the cancel hook, as the driver does.
    }
    return absl::CancelledError("issuance cancelled (names a.example.com)");
  });
  ASSERT_NO_FATAL_FAILURE(MakeManager());
  std::string id = Issue("a.example.com");
  ASSERT_TRUE(recorder_
                  ->WaitFor([&](const IssuanceView& v) {
                    return v.issuance.id == id && v.issuance.step == acme::kStepAuthorizing;
                  })
                  .has_value());

  absl::Time before = absl::Now();
  manager_->Shutdown();
  EXPECT_LT(absl::Now() - before, absl::Seconds(5));

  storage::IssuanceRepository issuances(db_.get());
  absl::StatusOr<IssuanceRecord> stored = issuances.Get(id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state, IssuanceState::kPending);  // Not failed: resumable.
  EXPECT_EQ(stored->step, acme::kStepAuthorizing);
  EXPECT_THAT(stored->progress_json, HasSubstr("https://ca/order/7"));
  EXPECT_EQ(stored->error_code, static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_FALSE(stored->finished_at.has_value());

  // The next start resumes the same order and finishes it.
  ASSERT_NO_FATAL_FAILURE(MakeManager());
  ASSERT_TRUE(recorder_->WaitFor(Is(id, IssuanceState::kValid, 2)).has_value());
  std::vector<Call> calls = runner_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].order_url, "https://ca/order/7");
}

// ------------------------------------------------------------------ renewals

TEST_F(IssuanceManagerTest, RenewsOnlyCertificatesInsideTheirWindow) {
  ASSERT_NO_FATAL_FAILURE(MakeManager(/*start=*/false));
  absl::Duration day = absl::Hours(24);
  int64_t due = AddIssued("due.example.com", kStart - 70 * day, kStart + 20 * day, 30 * day);
  int64_t fresh =
      AddIssued("fresh.example.com", kStart - 30 * day, kStart + 60 * day, 30 * day);

  absl::StatusOr<int> started = manager_->CheckRenewals();
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(*started, 1);
  std::vector<IssuanceRecord> due_issuances = IssuancesOf(due);
  ASSERT_EQ(due_issuances.size(), 2u);
  EXPECT_EQ(due_issuances.front().reason, IssuanceReason::kRenew);
  EXPECT_EQ(due_issuances.front().state, IssuanceState::kPending);
  EXPECT_EQ(IssuancesOf(fresh).size(), 1u);

  // The renewal is still active: no second one.
  started = manager_->CheckRenewals();
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(*started, 0);
  EXPECT_EQ(IssuancesOf(due).size(), 2u);

  // 30 days before its notAfter the fresh one is due too.
  clock_.AdvanceTo(kStart + 30 * day - absl::Seconds(1));
  EXPECT_EQ(*manager_->CheckRenewals(), 0);
  clock_.AdvanceTo(kStart + 30 * day);
  EXPECT_EQ(*manager_->CheckRenewals(), 1);
  EXPECT_EQ(IssuancesOf(fresh).front().reason, IssuanceReason::kRenew);
}

TEST_F(IssuanceManagerTest, ActiveIssuanceBlocksRenewal) {
  ASSERT_NO_FATAL_FAILURE(MakeManager(/*start=*/false));
  absl::Duration day = absl::Hours(24);
  int64_t id = AddIssued("due.example.com", kStart - 80 * day, kStart + 10 * day, 30 * day);
  ASSERT_TRUE(manager_->Renew("due.example.com", "").ok());  // An issuance in flight.
  EXPECT_EQ(*manager_->CheckRenewals(), 0);
  EXPECT_EQ(IssuancesOf(id).size(), 2u);
}

TEST_F(IssuanceManagerTest, WindowAsLongAsTheLifetimeRenewsAtTwoThirds) {
  ASSERT_NO_FATAL_FAILURE(MakeManager(/*start=*/false));
  absl::Duration day = absl::Hours(24);
  // renew_before 30 days >= a 6-day lifetime: renew 4 days in.
  int64_t id = AddIssued("short.example.com", kStart, kStart + 6 * day, 30 * day);
  clock_.AdvanceTo(kStart + 4 * day - absl::Seconds(1));
  EXPECT_EQ(*manager_->CheckRenewals(), 0);
  clock_.AdvanceTo(kStart + 4 * day);
  EXPECT_EQ(*manager_->CheckRenewals(), 1);
  EXPECT_EQ(IssuancesOf(id).front().reason, IssuanceReason::kRenew);
}

TEST_F(IssuanceManagerTest, WindowShorterThanTheLifetimeIsHonoured) {
  ASSERT_NO_FATAL_FAILURE(MakeManager(/*start=*/false));
  // renew_before 60 s of a 90 s lifetime: renew 30 s in (not at 2/3).
  int64_t id = AddIssued("quick.example.com", kStart, kStart + absl::Seconds(90),
                         absl::Seconds(60));
  clock_.AdvanceTo(kStart + absl::Seconds(29));
  EXPECT_EQ(*manager_->CheckRenewals(), 0);
  clock_.AdvanceTo(kStart + absl::Seconds(30));
  EXPECT_EQ(*manager_->CheckRenewals(), 1);
  EXPECT_EQ(IssuancesOf(id).size(), 2u);
}

TEST_F(IssuanceManagerTest, SchedulerRenewsByItselfAndTheRenewalCompletes) {
  options_.renewal_interval = absl::Hours(1);
  absl::Duration day = absl::Hours(24);
  int64_t id = AddIssued("due.example.com", kStart - 70 * day, kStart + 20 * day, 30 * day);
  ASSERT_NO_FATAL_FAILURE(MakeManager());  // The first check runs at start.
  std::optional<IssuanceView> renewed = recorder_->WaitFor([](const IssuanceView& v) {
    return v.issuance.reason == IssuanceReason::kRenew &&
           v.issuance.state == IssuanceState::kValid;
  });
  ASSERT_TRUE(renewed.has_value());
  ASSERT_TRUE(renewed->version.has_value());
  EXPECT_EQ(renewed->version->not_after, kStart + 90 * day);
  EXPECT_EQ(IssuancesOf(id).size(), 2u);
}

}  // namespace
}  // namespace certfleet::issuance
