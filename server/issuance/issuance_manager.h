#pragma once

// The issuance state machine's owner: validates and records requests, runs issuances on a
// bounded worker pool (acme::OrderDriver, every step persisted before the next network
// call), retries transient CA errors with backoff, installs new versions through the
// agents, resumes unfinished issuances on start, renews certificates before they expire,
// and tells watchers about every change.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/crypto/key.h"
#include "server/acme/challenge_solver.h"
#include "server/acme/order_driver.h"
#include "server/issuance/acme_accounts.h"
#include "server/issuance/certificate_installer.h"
#include "server/issuance/order_runner.h"
#include "server/issuance/settings.h"
#include "server/issuance/watch_hub.h"
#include "storage/certificate_repository.h"
#include "storage/certificate_version_repository.h"
#include "storage/database.h"
#include "storage/event_repository.h"
#include "storage/issuance_repository.h"

namespace certfleet::issuance {

// An IssueCertificate request before validation. Challenge types are ACME names.
struct IssueParams {
  std::vector<std::string> names;
  std::string ca;  // "" = the default CA.
  std::vector<std::string> challenge_preference;  // "" = defaults.
  std::optional<crypto::KeyType> key_type;        // nullopt = default.
  std::string request_id;                         // "" = none.
  std::string certificate_name;                   // "" = first normalised name.
};

// One managed certificate as the API shows it (private keys cleared).
struct CertificateView {
  storage::ManagedCertificateRecord certificate;
  std::optional<storage::CertificateVersionRecord> current;
  std::optional<storage::IssuanceRecord> latest_issuance;
};

// A page of ListCertificates.
struct CertificateViewPage {
  std::vector<CertificateView> certificates;
  std::string next_page_token;
};

// ListCertificates filters.
struct CertificateQuery {
  std::string name_contains;
  std::optional<storage::IssuanceState> latest_issuance_state;
  std::optional<absl::Time> expiring_before;
  int page_size = 0;
  std::string page_token;
};

struct IssuanceManagerOptions {
  // Worker threads running issuances.
  int workers = 4;
  // Time source for backoff and renewal. Not owned.
  Clock* clock = RealClock();
  // Attempts before an issuance fails on Unavailable / ResourceExhausted (CA unavailable or
  // rate limited). DeadlineExceeded does not count against it (see deadline_retry_budget).
  int max_attempts = 6;
  // Backoff after the n-th transient failure: initial * 2^(n-1), at most max.
  absl::Duration initial_backoff = absl::Seconds(2);
  absl::Duration max_backoff = absl::Minutes(10);
  // Time one attempt of the ACME order may take.
  absl::Duration attempt_timeout = absl::Minutes(10);
  // An attempt that runs out of attempt_timeout (DeadlineExceeded: a slow CA, a validation
  // that never finishes) is retried with the capped backoff, whatever max_attempts says,
  // until this long after the issuance was created; only then does it fail. While it waits
  // it is pending with the reason in error_message.
  absl::Duration deadline_retry_budget = absl::Hours(24 * 7);
  // How often the renewal scheduler looks for certificates to renew (0 = never).
  absl::Duration renewal_interval = absl::Minutes(1);
  // A certificate whose last issuance failed is not renewed again before this.
  absl::Duration renewal_retry_delay = absl::Hours(1);
  acme::OrderDriverOptions driver;
  // Runs the ACME attempts. Not owned; null = an AcmeOrderRunner over the manager's
  // accounts with `driver` (tests inject a fake).
  OrderRunner* runner = nullptr;
};

class IssuanceManager {
 public:
  // Not owned: db, accounts, solver (the composite), installer (may be null); all must
  // outlive the manager.
  IssuanceManager(storage::Database* db, AcmeAccounts* accounts, CaSettingsMap cas,
                  IssuanceDefaults defaults, acme::ChallengeSolver* solver,
                  CertificateInstaller* installer, IssuanceManagerOptions options);
  // Calls Shutdown().
  ~IssuanceManager();
  IssuanceManager(const IssuanceManager&) = delete;
  IssuanceManager& operator=(const IssuanceManager&) = delete;

  // Queues every unfinished issuance (resume) and starts the workers and the scheduler.
  absl::Status Start();
  // Stops taking work, cancels running attempts (they stop at their next step or within
  // ~100 ms of a polling wait) and joins the threads. Interrupted and unfinished issuances
  // stay pending in storage, progress kept, for the next start. Idempotent.
  void Shutdown();

  // Validates (InvalidArgument naming the field), records the managed certificate and the
  // issuance in one transaction (or joins the active one / the request_id's one), queues
  // it, and returns it. Blocking (SQLite): call from an executor.
  absl::StatusOr<IssuanceView> Issue(const IssueParams& params);
  // Starts a renewal of the named certificate now (joins an active issuance). NotFound
  // for an unknown name.
  absl::StatusOr<IssuanceView> Renew(const std::string& certificate_name,
                                     const std::string& request_id);
  // One issuance. NotFound when absent.
  absl::StatusOr<IssuanceView> GetIssuance(const std::string& issuance_id);
  // One managed certificate with its current version and latest issuance.
  absl::StatusOr<CertificateView> GetCertificate(const std::string& name);
  // A page of managed certificates.
  absl::StatusOr<CertificateViewPage> ListCertificates(const CertificateQuery& query);
  // Revokes a version (serial "" = the current one) with the CA and records it.
  // NotFound for an unknown certificate/serial, FailedPrecondition when already revoked.
  absl::StatusOr<storage::CertificateVersionRecord> Revoke(const std::string& name,
                                                           const std::string& serial_hex,
                                                           int reason);

  // Calls `done` once with the issuance when it ends (at once when it already has), or
  // with its current state when `deadline` passes. `done` runs on a worker or scheduler
  // thread and must not block. Returns a handle for CancelWait.
  uint64_t WaitForFinish(const std::string& issuance_id, absl::Time deadline,
                         std::function<void(absl::StatusOr<IssuanceView>)> done);
  // Drops a waiter without calling it (no-op when it already ran).
  void CancelWait(uint64_t handle);
  // Calls every waiter now with the issuance as it is (server shutdown).
  void ReleaseWaiters();

  // Looks for certificates within their renewal window and starts renewals; returns how
  // many were started. Run by the scheduler; public for tests with a fake clock.
  absl::StatusOr<int> CheckRenewals();

  // Watchers of every issuance change.
  WatchHub& hub() { return hub_; }
  // The CA names configured.
  const CaSettingsMap& cas() const { return cas_; }
  const IssuanceDefaults& defaults() const { return defaults_; }

 private:
  struct Waiter {
    std::string issuance_id;
    absl::Time deadline;
    std::function<void(absl::StatusOr<IssuanceView>)> done;
  };

  absl::StatusOr<IssuanceView> Record(const storage::IssueRequest& request);
  absl::StatusOr<IssuanceView> View(storage::IssuanceRecord issuance);
  // The view of a stored certificate: its current version and latest issuance (no keys).
  absl::StatusOr<CertificateView> CertificateViewOf(storage::ManagedCertificateRecord cert);
  void PublishById(const std::string& issuance_id);
  void Publish(const IssuanceView& view);
  void Enqueue(const std::string& issuance_id, std::optional<absl::Time> not_before);
  void WorkerLoop();
  void SchedulerLoop();
  void Process(const std::string& issuance_id);
  absl::StatusOr<acme::IssuedCertificate> Attempt(const storage::IssuanceRecord& issuance,
                                                  const storage::ManagedCertificateRecord& cert);
  // When to try a failed attempt again; nullopt = fail now with `*final_error`.
  std::optional<absl::Time> RetryTime(const absl::Status& error,
                                      const storage::IssuanceRecord& issuance,
                                      absl::Status* final_error) const;
  void Install(const storage::ManagedCertificateRecord& cert,
               const storage::CertificateVersionRecord& version);
  absl::Duration Backoff(int attempts) const;
  absl::Duration RenewWindow(const storage::ManagedCertificateRecord& cert,
                             const storage::CertificateVersionRecord& version) const;

  storage::Database* const db_;
  storage::CertificateRepository certificates_;
  storage::IssuanceRepository issuances_;
  storage::CertificateVersionRepository versions_;
  storage::EventRepository events_;
  AcmeAccounts* const accounts_;
  const CaSettingsMap cas_;
  const IssuanceDefaults defaults_;
  acme::ChallengeSolver* const solver_;
  CertificateInstaller* const installer_;
  const IssuanceManagerOptions options_;
  Clock* const clock_;
  std::unique_ptr<OrderRunner> owned_runner_;  // When options_.runner is null.
  OrderRunner* const runner_;
  // Set by Shutdown: running attempts stop (OrderRequest::cancelled).
  std::atomic<bool> cancelling_{false};
  WatchHub hub_;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::string> ready_ ABSL_GUARDED_BY(mu_);
  std::multimap<absl::Time, std::string> delayed_ ABSL_GUARDED_BY(mu_);
  // Issuances queued, delayed or running: never queued twice.
  std::set<std::string> scheduled_ ABSL_GUARDED_BY(mu_);
  absl::Time next_renewal_check_ ABSL_GUARDED_BY(mu_);
  uint64_t next_waiter_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace certfleet::issuance
