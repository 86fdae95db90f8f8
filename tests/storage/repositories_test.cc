#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/account_repository.h"
#include "storage/certificate_repository.h"
#include "storage/certificate_version_repository.h"
#include "storage/database.h"
#include "storage/event_repository.h"
#include "storage/issuance_repository.h"
#include "tests/storage/storage_test_util.h"

namespace certfleet::storage {
namespace {

using ::certfleet::storage::testing::FakeClock;
using ::certfleet::storage::testing::StatusIs;
using ::certfleet::storage::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const absl::Time kStart = absl::FromUnixSeconds(1750000000);

class RepositoriesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options;
    options.clock = &clock_;
    auto db = Database::Open(dir_.File("certfleet.db"), options);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
  }

  // Runs raw SQL (test-only triggers) under the lock.
  void Exec(std::string_view sql) {
    absl::MutexLock lock(db_->mu());
    ASSERT_TRUE(db_->Execute(sql).ok());
  }
  int64_t Rows(std::string_view table) { return *db_->CountRows(table); }

  static IssueRequest Request(const std::string& name,
                              std::optional<std::string> request_id = std::nullopt) {
    IssueRequest request;
    request.name = name;
    request.identifiers = {{"dns", name}};
    request.policy.ca_name = "pebble";
    request.policy.key_type = "ecdsa-p256";
    request.policy.challenge_preference = {"tls-alpn-01"};
    request.policy.renew_before = absl::Hours(24 * 30);
    request.request_id = std::move(request_id);
    request.cert_key_pem = "CERT-KEY";
    return request;
  }

  static CertificateVersionRecord Version(const std::string& serial, absl::Time not_after) {
    CertificateVersionRecord version;
    version.serial_hex = serial;
    version.not_before = not_after - absl::Hours(24 * 90);
    version.not_after = not_after;
    version.issuer = "CN=Pebble Intermediate CA";
    version.chain_pem = "CHAIN-" + serial;
    version.key_pem = "KEY-" + serial;
    return version;
  }

  TempDir dir_;
  FakeClock clock_{kStart};
  std::unique_ptr<Database> db_;
};

TEST_F(RepositoriesTest, AccountsUpsertGetListUpdate) {
  AccountRepository accounts(db_.get());
  AccountRecord account;
  account.ca_name = "pebble";
  account.directory_url = "https://localhost:14000/dir";
  account.key_pem = "ACCOUNT-KEY-1";
  account.contact = {"mailto:a@example.com"};
  auto created = accounts.Upsert(account);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_GT(created->id, 0);
  EXPECT_EQ(created->created_at, kStart);

  clock_.Advance(absl::Seconds(10));
  account.account_url = "https://localhost:14000/my-account/1";
  account.status = "valid";
  auto updated = accounts.Upsert(account);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->id, created->id);
  EXPECT_EQ(updated->account_url, "https://localhost:14000/my-account/1");
  EXPECT_EQ(updated->created_at, kStart);
  EXPECT_EQ(updated->updated_at, kStart + absl::Seconds(10));

  ASSERT_TRUE(accounts.UpdateStatus(created->id, "deactivated").ok());
  ASSERT_TRUE(accounts.UpdateKey(created->id, "ACCOUNT-KEY-2").ok());
  auto got = accounts.Get("pebble", "https://localhost:14000/dir");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status, "deactivated");
  EXPECT_EQ(got->key_pem, "ACCOUNT-KEY-2");
  EXPECT_THAT(got->contact, ElementsAre("mailto:a@example.com"));
  auto list = accounts.List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);

  EXPECT_THAT(accounts.Get("pebble", "https://other/dir"),
              StatusIs(absl::StatusCode::kNotFound, "no account for CA 'pebble'"));
  EXPECT_THAT(accounts.UpdateStatus(999, "valid"),
              StatusIs(absl::StatusCode::kNotFound, "account 999 not found"));
  account.key_pem.clear();
  EXPECT_THAT(accounts.Upsert(account),
              StatusIs(absl::StatusCode::kInvalidArgument, "key_pem is empty"));
}

TEST_F(RepositoriesTest, CertificatesCreateGetUpdate) {
  CertificateRepository certificates(db_.get());
  ManagedCertificateRecord record;
  record.name = "www.example.com";
  record.identifiers = {{"dns", "www.example.com"}, {"ip", "192.0.2.1"}};
  record.policy.ca_name = "pebble";
  record.policy.key_type = "rsa-2048";
  record.policy.challenge_preference = {"http-01"};
  auto created = certificates.Create(record);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->identifiers, record.identifiers);
  EXPECT_THAT(certificates.Create(record),
              StatusIs(absl::StatusCode::kAlreadyExists, "'www.example.com' already exists"));

  CertificatePolicy policy = record.policy;
  policy.ca_name = "letsencrypt";
  policy.renew_before = absl::Hours(48);
  ASSERT_TRUE(certificates.UpdatePolicy(created->id, policy).ok());
  ASSERT_TRUE(certificates.UpdateState(created->id, kCertificateStateRevoked).ok());
  auto got = certificates.GetByName("www.example.com");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->policy, policy);
  EXPECT_EQ(got->state, kCertificateStateRevoked);
  EXPECT_THAT(certificates.GetById(12345),
              StatusIs(absl::StatusCode::kNotFound, "managed certificate 12345 not found"));
  EXPECT_THAT(certificates.UpdatePolicy(12345, policy),
              StatusIs(absl::StatusCode::kNotFound, "12345"));
}

TEST_F(RepositoriesTest, ListPagesAndFilters) {
  CertificateRepository certificates(db_.get());
  CertificateVersionRepository versions(db_.get());
  for (int i = 1; i <= 7; ++i) {
    ManagedCertificateRecord record;
    record.name = absl::StrCat("host", i, i % 2 == 0 ? ".even.example" : ".odd.example");
    record.identifiers = {{"dns", record.name}};
    auto created = certificates.Create(record);
    ASSERT_TRUE(created.ok()) << created.status();
    CertificateVersionRecord version = Version(absl::StrCat("0", i), kStart + absl::Hours(24 * i));
    version.managed_certificate_id = created->id;
    ASSERT_TRUE(versions.Add(version).ok());
  }

  std::vector<std::string> names;
  std::string token;
  int pages = 0;
  do {
    auto page = certificates.List({}, 3, token);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    EXPECT_LE(page->certificates.size(), 3u);
    for (const auto& cert : page->certificates) names.push_back(cert.name);
    token = page->next_page_token;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(names.size(), 7u);
  EXPECT_EQ(names.front(), "host1.odd.example");
  EXPECT_EQ(names.back(), "host7.odd.example");

  CertificateFilter even;
  even.name_contains = ".even.";
  auto page = certificates.List(even, 0, "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->certificates.size(), 3u);
  EXPECT_THAT(page->next_page_token, IsEmpty());

  CertificateFilter expiring;
  expiring.expiring_before = kStart + absl::Hours(24 * 3) + absl::Minutes(1);
  page = certificates.List(expiring, 10, "");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->certificates.size(), 3u);  // host1..host3
  EXPECT_EQ(page->certificates[2].name, "host3.odd.example");

  CertificateFilter revoked;
  revoked.state = kCertificateStateRevoked;
  page = certificates.List(revoked, 10, "");
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(page->certificates, IsEmpty());

  EXPECT_THAT(certificates.List({}, 3, "not-a-token"),
              StatusIs(absl::StatusCode::kInvalidArgument, "invalid page_token 'not-a-token'"));
}

TEST_F(RepositoriesTest, IssueOrJoinCreatesJoinsAndHonoursRequestId) {
  IssuanceRepository issuances(db_.get());
  auto first = issuances.IssueOrJoin(Request("a.example.com", "req-1"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created);
  EXPECT_THAT(first->issuance.id, ::testing::MatchesRegex("iss_[0-9a-f]{16}"));
  EXPECT_EQ(first->issuance.state, IssuanceState::kPending);
  EXPECT_EQ(first->issuance.request_id, "req-1");
  EXPECT_EQ(first->issuance.cert_key_pem, "CERT-KEY");
  EXPECT_EQ(first->certificate.name, "a.example.com");

  // Same request_id: the same issuance.
  auto again = issuances.IssueOrJoin(Request("a.example.com", "req-1"));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->issuance.id, first->issuance.id);

  // A second issue for the same certificate joins the active one.
  auto joined = issuances.IssueOrJoin(Request("a.example.com", "req-2"));
  ASSERT_TRUE(joined.ok());
  EXPECT_FALSE(joined->created);
  EXPECT_EQ(joined->issuance.id, first->issuance.id);
  ASSERT_TRUE(issuances.MarkRunning(first->issuance.id).ok());
  joined = issuances.IssueOrJoin(Request("a.example.com"));
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(joined->issuance.id, first->issuance.id);
  EXPECT_EQ(*issuances.Count(), 1);
  EXPECT_EQ(Rows("managed_certificates"), 1);

  // Once finished, a new issuance is created (with the new policy).
  ASSERT_TRUE(
      issuances
          .Finish(first->issuance.id, IssuanceState::kFailed,
                  absl::PermissionDeniedError("urn:ietf:params:acme:error:rejectedIdentifier"))
          .ok());
  IssueRequest renew = Request("a.example.com", "req-3");
  renew.reason = IssuanceReason::kRenew;
  renew.identifiers.push_back({"dns", "b.example.com"});
  auto next = issuances.IssueOrJoin(renew);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(next->created);
  EXPECT_NE(next->issuance.id, first->issuance.id);
  EXPECT_EQ(next->issuance.reason, IssuanceReason::kRenew);
  EXPECT_EQ(next->certificate.id, first->certificate.id);
  EXPECT_EQ(next->certificate.identifiers.size(), 2u);

  // The finished issuance is still what its request_id names.
  auto by_request = issuances.IssueOrJoin(Request("a.example.com", "req-1"));
  ASSERT_TRUE(by_request.ok());
  EXPECT_EQ(by_request->issuance.id, first->issuance.id);
  EXPECT_EQ(by_request->issuance.state, IssuanceState::kFailed);
  EXPECT_EQ(by_request->issuance.error().code(), absl::StatusCode::kPermissionDenied);

  EXPECT_EQ(*issuances.Count(), 2);
  EXPECT_EQ(*issuances.Count(IssuanceState::kPending), 1);
  auto active = issuances.GetActiveForCertificate(first->certificate.id);
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(active->id, next->issuance.id);
  EXPECT_THAT(issuances.IssueOrJoin(Request("")),
              StatusIs(absl::StatusCode::kInvalidArgument, "certificate name is empty"));
}

TEST_F(RepositoriesTest, LatestForCertificateIsFirstOfList) {
  IssuanceRepository issuances(db_.get());
  EXPECT_THAT(issuances.LatestForCertificate(42),
              StatusIs(absl::StatusCode::kNotFound, "managed certificate 42 has no issuances"));

  auto first = issuances.IssueOrJoin(Request("l.example.com"));
  ASSERT_TRUE(first.ok()) << first.status();
  auto latest = issuances.LatestForCertificate(first->certificate.id);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->id, first->issuance.id);
  EXPECT_EQ(latest->cert_key_pem, "CERT-KEY");

  // Same created_at: the later row wins, as in ListForCertificate.
  ASSERT_TRUE(issuances.Finish(first->issuance.id, IssuanceState::kFailed,
                               absl::UnavailableError("down"))
                  .ok());
  auto second = issuances.IssueOrJoin(Request("l.example.com"));
  ASSERT_TRUE(second.ok()) << second.status();
  latest = issuances.LatestForCertificate(first->certificate.id);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->id, second->issuance.id);
  absl::Status cancelled =
      issuances.Finish(second->issuance.id, IssuanceState::kCancelled,
                       absl::CancelledError("cancelled"));
  ASSERT_TRUE(cancelled.ok()) << cancelled;
  clock_.Advance(absl::Minutes(1));
  auto third = issuances.IssueOrJoin(Request("l.example.com"));
  ASSERT_TRUE(third.ok()) << third.status();

  auto all = issuances.ListForCertificate(first->certificate.id);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ(all->front().id, third->issuance.id);
  EXPECT_EQ((*all)[1].id, second->issuance.id);
  latest = issuances.LatestForCertificate(first->certificate.id);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->id, third->issuance.id);
  EXPECT_EQ(latest->state, IssuanceState::kPending);

  // Another certificate's issuances are not its.
  auto other = issuances.IssueOrJoin(Request("m.example.com"));
  ASSERT_TRUE(other.ok()) << other.status();
  latest = issuances.LatestForCertificate(first->certificate.id);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->id, third->issuance.id);
}

TEST_F(RepositoriesTest, IssueOrJoinFailureLeavesNoRows) {
  Exec(
      "CREATE TRIGGER fail_issuance BEFORE INSERT ON issuances "
      "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  IssuanceRepository issuances(db_.get());
  EXPECT_THAT(issuances.IssueOrJoin(Request("c.example.com", "req-x")),
              StatusIs(absl::StatusCode::kFailedPrecondition, "injected failure"));
  EXPECT_EQ(Rows("managed_certificates"), 0);
  EXPECT_EQ(Rows("issuances"), 0);
  EXPECT_EQ(Rows("events"), 0);
}

TEST_F(RepositoriesTest, ProgressStateChangesAndEvents) {
  IssuanceRepository issuances(db_.get());
  EventRepository events(db_.get());
  auto issued = issuances.IssueOrJoin(Request("d.example.com"));
  ASSERT_TRUE(issued.ok());
  const std::string id = issued->issuance.id;
  ASSERT_TRUE(issuances.MarkRunning(id).ok());
  ASSERT_TRUE(issuances.SaveProgress(id, "order_created", "{\"order\":\"o\"}").ok());
  ASSERT_TRUE(issuances.SaveProgress(id, "order_created", "{\"order\":\"o2\"}").ok());
  ASSERT_TRUE(issuances.SaveCertKey(id, "NEW-KEY").ok());
  clock_.Advance(absl::Seconds(30));
  ASSERT_TRUE(
      issuances.ScheduleRetry(id, kStart + absl::Minutes(5), absl::UnavailableError("badNonce"))
          .ok());
  ASSERT_TRUE(issuances.MarkRunning(id).ok());

  auto got = issuances.Get(id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, IssuanceState::kRunning);
  EXPECT_EQ(got->attempts, 2);
  EXPECT_EQ(got->step, "order_created");
  EXPECT_EQ(got->progress_json, "{\"order\":\"o2\"}");
  EXPECT_EQ(got->cert_key_pem, "NEW-KEY");
  EXPECT_EQ(got->error_message, "badNonce");
  EXPECT_FALSE(got->next_attempt_at.has_value());
  EXPECT_EQ(got->updated_at, kStart + absl::Seconds(30));

  auto unfinished = issuances.ListUnfinished();
  ASSERT_TRUE(unfinished.ok());
  ASSERT_EQ(unfinished->size(), 1u);

  ASSERT_TRUE(
      issuances.Finish(id, IssuanceState::kCancelled, absl::CancelledError("by user")).ok());
  EXPECT_THAT(issuances.SaveProgress(id, "x", "{}"),
              StatusIs(absl::StatusCode::kFailedPrecondition, "is already cancelled"));
  EXPECT_THAT(issuances.Finish(id, IssuanceState::kFailed, absl::OkStatus()),
              StatusIs(absl::StatusCode::kFailedPrecondition, "is already cancelled"));
  EXPECT_THAT(issuances.Finish(id, IssuanceState::kRunning, absl::OkStatus()),
              StatusIs(absl::StatusCode::kInvalidArgument, "active state running"));
  EXPECT_THAT(issuances.MarkRunning("iss_nope"),
              StatusIs(absl::StatusCode::kNotFound, "issuance 'iss_nope' not found"));
  EXPECT_TRUE(issuances.ListUnfinished()->empty());
  EXPECT_EQ(issuances.ListByState(IssuanceState::kCancelled)->size(), 1u);

  auto log = events.ListForIssuance(id);
  ASSERT_TRUE(log.ok());
  std::vector<std::string> lines;
  for (const EventRecord& e : *log) lines.push_back(e.kind + ":" + e.message);
  EXPECT_THAT(lines, ElementsAre("state:pending", "state:running", "step:order_created",
                                 "state:pending", "state:running", "state:cancelled"));
  auto tail = events.ListSince((*log)[3].id, 10);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->size(), 2u);
}

TEST_F(RepositoriesTest, CompleteIssuanceStoresVersionAtomically) {
  IssuanceRepository issuances(db_.get());
  CertificateVersionRepository versions(db_.get());
  auto issued = issuances.IssueOrJoin(Request("e.example.com"));
  ASSERT_TRUE(issued.ok());
  const std::string id = issued->issuance.id;

  // A failure while finishing the issuance must not leave the version behind.
  Exec(
      "CREATE TRIGGER fail_valid BEFORE UPDATE OF state ON issuances WHEN NEW.state = 'valid' "
      "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  EXPECT_THAT(versions.CompleteIssuance(id, Version("aa", kStart + absl::Hours(2000))),
              StatusIs(absl::StatusCode::kFailedPrecondition, "injected failure"));
  EXPECT_EQ(Rows("certificate_versions"), 0);
  EXPECT_EQ(issuances.Get(id)->state, IssuanceState::kPending);
  Exec("DROP TRIGGER fail_valid");

  auto stored = versions.CompleteIssuance(id, Version("aa", kStart + absl::Hours(2000)));
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->managed_certificate_id, issued->certificate.id);
  EXPECT_EQ(stored->issuance_id, id);
  EXPECT_EQ(stored->key_pem, "KEY-aa");
  auto done = issuances.Get(id);
  EXPECT_EQ(done->state, IssuanceState::kValid);
  EXPECT_EQ(done->finished_at, kStart);
  EXPECT_THAT(versions.CompleteIssuance(id, Version("bb", kStart)),
              StatusIs(absl::StatusCode::kFailedPrecondition, "is already valid"));

  // Renewal: a second version becomes the latest.
  auto renewal = issuances.IssueOrJoin(Request("e.example.com"));
  ASSERT_TRUE(renewal.ok());
  ASSERT_TRUE(renewal->created);
  ASSERT_TRUE(
      versions.CompleteIssuance(renewal->issuance.id, Version("bb", kStart + absl::Hours(4000)))
          .ok());
  auto latest = versions.Latest(issued->certificate.id);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->serial_hex, "bb");
  auto all = versions.List(issued->certificate.id);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1].serial_hex, "aa");

  ASSERT_TRUE(versions.MarkRevoked(latest->id, 4).ok());
  auto revoked = versions.Get(latest->id);
  EXPECT_EQ(revoked->revocation_reason, 4);
  EXPECT_EQ(revoked->revoked_at, kStart);
  EXPECT_THAT(versions.MarkRevoked(latest->id, 4),
              StatusIs(absl::StatusCode::kFailedPrecondition, "already revoked"));
  EXPECT_THAT(versions.Latest(999),
              StatusIs(absl::StatusCode::kNotFound, "has no certificate yet"));
}

TEST_F(RepositoriesTest, ConcurrentProgressWhileListingHasNoBusyErrors) {
  constexpr int kWriters = 8;
  constexpr int kSavesEach = 60;
  IssuanceRepository issuances(db_.get());
  std::vector<std::string> ids;
  for (int i = 0; i < kWriters; ++i) {
    auto issued = issuances.IssueOrJoin(Request(absl::StrCat("w", i, ".example.com")));
    ASSERT_TRUE(issued.ok());
    ids.push_back(issued->issuance.id);
  }
  // A second connection to the same file, as another process would have.
  auto other = Database::Open(dir_.File("certfleet.db"));
  ASSERT_TRUE(other.ok()) << other.status();

  std::atomic<int> writers_left{kWriters};
  std::atomic<int> failures{0};
  std::vector<std::string> errors(kWriters + 1);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int k = 0; k < kSavesEach; ++k) {
        absl::Status status = issuances.SaveProgress(ids[w], absl::StrCat("step-", k),
                                                     absl::StrCat("{\"k\":", k, "}"));
        if (!status.ok()) {
          ++failures;
          errors[w] = status.ToString();
          break;
        }
      }
      --writers_left;
    });
  }
  threads.emplace_back([&] {
    IssuanceRepository shared_reader(db_.get());
    CertificateRepository other_reader(other->get());
    EventRepository other_writer(other->get());
    int rounds = 0;
    do {
      absl::Status status = shared_reader.ListUnfinished().status();
      if (status.ok()) status = other_reader.List({}, 5, "").status();
      if (status.ok()) {
        EventRecord event;
        event.kind = "lister";
        event.message = absl::StrCat(rounds);
        status = other_writer.Append(event).status();
      }
      if (!status.ok()) {
        ++failures;
        errors[kWriters] = status.ToString();
        break;
      }
      ++rounds;
    } while (writers_left.load() > 0);
  });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0) << ::testing::PrintToString(errors);
  for (int w = 0; w < kWriters; ++w) {
    auto got = issuances.Get(ids[w]);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->step, absl::StrCat("step-", kSavesEach - 1));
  }
}

}  // namespace
}  // namespace certfleet::storage
