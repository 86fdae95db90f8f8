#include "server/issuance/issuance_manager.h"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/crypto/x509.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "server/acme/certificate.h"
#include "server/acme/problem.h"
#include "server/issuance/identifier_records.h"
#include "server/issuance/request_validation.h"

namespace certfleet::issuance {
namespace {

using storage::IssuanceRecord;
using storage::IssuanceState;
using storage::ManagedCertificateRecord;

constexpr absl::Duration kSchedulerTick = absl::Milliseconds(100);

std::string NamesOf(const ManagedCertificateRecord& cert) {
  std::vector<std::string> names;
  for (const auto& id : cert.identifiers) names.push_back(id.value);
  return absl::StrJoin(names, ",");
}


// Saves each driver step to the issuance row and tells watchers about step changes.
class StorageProgressSink : public acme::ProgressSink {
 public:
  StorageProgressSink(storage::IssuanceRepository* issuances, std::string id,
                      std::string last_step, std::function<void()> on_step)
      : issuances_(issuances),
        id_(std::move(id)),
        last_step_(std::move(last_step)),
        on_step_(std::move(on_step)) {}

  absl::Status Save(const acme::OrderProgress& progress) override {
    RETURN_IF_ERROR(issuances_->SaveProgress(id_, progress.step, progress.ToJson().dump()));
    if (progress.step != last_step_) {
      last_step_ = progress.step;
      on_step_();
    }
    return absl::OkStatus();
  }

 private:
  storage::IssuanceRepository* issuances_;
  std::string id_;
  std::string last_step_;
  std::function<void()> on_step_;
};

}  // namespace

IssuanceManager::IssuanceManager(storage::Database* db, AcmeAccounts* accounts,
                                 CaSettingsMap cas, IssuanceDefaults defaults,
                                 acme::ChallengeSolver* solver, CertificateInstaller* installer,
                                 IssuanceManagerOptions options)
    : db_(db),
      certificates_(db),
      issuances_(db),
      versions_(db),
      events_(db),
      accounts_(accounts),
      cas_(std::move(cas)),
      defaults_(std::move(defaults)),
      solver_(solver),
      installer_(installer),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : RealClock()),
      owned_runner_(options.runner != nullptr
                        ? nullptr
                        : std::make_unique<AcmeOrderRunner>(accounts, options.driver)),
      runner_(options.runner != nullptr ? options.runner : owned_runner_.get()) {}

IssuanceManager::~IssuanceManager() { Shutdown(); }

absl::Status IssuanceManager::Start() {
  ASSIGN_OR_RETURN(std::vector<IssuanceRecord> unfinished, issuances_.ListUnfinished());
  {
    absl::MutexLock lock(&mu_);
    if (started_) return absl::FailedPreconditionError("issuance manager already started");
    started_ = true;
    next_renewal_check_ = clock_->Now();
  }
  for (const IssuanceRecord& issuance : unfinished) {
    CF_LOG(INFO) << "resuming issuance" << Kv("issuance", issuance.id)
                 << Kv("step", issuance.step.empty() ? "new" : issuance.step);
    Enqueue(issuance.id, issuance.next_attempt_at);
  }
  int workers = std::max(1, options_.workers);
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { WorkerLoop(); });
  threads_.emplace_back([this] { SchedulerLoop(); });
  return absl::OkStatus();
}

void IssuanceManager::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  cancelling_.store(true);
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  ReleaseWaiters();  // Waiting RPCs get the issuance as it is.
}

absl::StatusOr<IssuanceView> IssuanceManager::Issue(const IssueParams& params) {
  RETURN_IF_ERROR(ValidateRequestId(params.request_id));
  ASSIGN_OR_RETURN(std::vector<identifiers::Identifier> ids, NormalizeNames(params.names));
  ASSIGN_OR_RETURN(std::string ca, ResolveCa(params.ca, cas_, defaults_));
  ASSIGN_OR_RETURN(std::vector<std::string> challenges,
                   ResolveChallengePreference(params.challenge_preference, defaults_));
  RETURN_IF_ERROR(ValidateCertificateName(params.certificate_name));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i].IsWildcard()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "names[", i, "]: \"", params.names[i],
          "\": a wildcard needs the dns-01 challenge, which this server does not offer"));
    }
  }
  storage::IssueRequest request;
  request.name = params.certificate_name.empty() ? ids[0].value : params.certificate_name;
  request.identifiers = ToRecords(ids);
  request.policy.ca_name = ca;
  request.policy.key_type =
      std::string(crypto::KeyTypeName(params.key_type.value_or(defaults_.key_type)));
  request.policy.challenge_preference = challenges;
  request.policy.renew_before = defaults_.renew_before;
  if (!params.request_id.empty()) request.request_id = params.request_id;
  request.reason = storage::IssuanceReason::kIssue;
  return Record(request);
}

absl::StatusOr<IssuanceView> IssuanceManager::Renew(const std::string& certificate_name,
                                                    const std::string& request_id) {
  RETURN_IF_ERROR(ValidateRequestId(request_id));
  if (certificate_name.empty()) {
    return absl::InvalidArgumentError("certificate_name: no certificate name given");
  }
  absl::StatusOr<ManagedCertificateRecord> cert = certificates_.GetByName(certificate_name);
  if (absl::IsNotFound(cert.status())) {
    return absl::NotFoundError(absl::StrCat("certificate \"", certificate_name, "\" not found"));
  }
  RETURN_IF_ERROR(cert.status());
  storage::IssueRequest request;
  request.name = cert->name;
  request.identifiers = cert->identifiers;
  request.policy = cert->policy;
  if (!request_id.empty()) request.request_id = request_id;
  request.reason = storage::IssuanceReason::kRenew;
  return Record(request);
}

absl::StatusOr<IssuanceView> IssuanceManager::Record(const storage::IssueRequest& request) {
  ASSIGN_OR_RETURN(storage::IssueResult result, issuances_.IssueOrJoin(request));
  ASSIGN_OR_RETURN(IssuanceView view, View(std::move(result.issuance)));
  if (result.created) {
    CF_LOG(INFO) << "issuance created" << Kv("issuance", view.issuance.id)
                 << Kv("names", NamesOf(view.certificate))
                 << Kv("reason", storage::IssuanceReasonName(view.issuance.reason));
    Publish(view);  // Before Enqueue: "pending" reaches watchers before "running".
    Enqueue(view.issuance.id, std::nullopt);
  }
  return view;
}

absl::StatusOr<IssuanceView> IssuanceManager::View(IssuanceRecord issuance) {
  issuance.cert_key_pem.clear();
  IssuanceView view;
  ASSIGN_OR_RETURN(view.certificate, certificates_.GetById(issuance.managed_certificate_id));
  if (issuance.state == IssuanceState::kValid) {
    ASSIGN_OR_RETURN(std::vector<storage::CertificateVersionRecord> versions,
                     versions_.List(issuance.managed_certificate_id));
    for (auto& v : versions) {
      if (v.issuance_id == issuance.id) {
        v.key_pem.clear();
        view.version = std::move(v);
        break;
      }
    }
    ASSIGN_OR_RETURN(std::vector<storage::EventRecord> events,
                     events_.ListForIssuance(issuance.id));
    for (auto& e : events) {
      if (e.kind == "installed" || e.kind == "install_failed") {
        view.installs.push_back(std::move(e));
      }
    }
  }
  view.issuance = std::move(issuance);
  return view;
}

absl::StatusOr<IssuanceView> IssuanceManager::GetIssuance(const std::string& issuance_id) {
  absl::StatusOr<IssuanceRecord> issuance = issuances_.Get(issuance_id);
  if (absl::IsNotFound(issuance.status())) {
    return absl::NotFoundError(absl::StrCat("issuance \"", issuance_id, "\" not found"));
  }
  RETURN_IF_ERROR(issuance.status());
  return View(*std::move(issuance));
}

absl::StatusOr<CertificateView> IssuanceManager::GetCertificate(const std::string& name) {
  absl::StatusOr<ManagedCertificateRecord> cert = certificates_.GetByName(name);
  if (absl::IsNotFound(cert.status())) {
    return absl::NotFoundError(absl::StrCat("certificate \"", name, "\" not found"));
  }
  RETURN_IF_ERROR(cert.status());
  return CertificateViewOf(*std::move(cert));
}

absl::StatusOr<CertificateView> IssuanceManager::CertificateViewOf(
    ManagedCertificateRecord cert) {
  CertificateView view;
  view.certificate = std::move(cert);
  absl::StatusOr<storage::CertificateVersionRecord> latest =
      versions_.Latest(view.certificate.id);
  if (latest.ok()) {
    latest->key_pem.clear();
    view.current = *std::move(latest);
  } else if (!absl::IsNotFound(latest.status())) {
    return latest.status();
  }
  absl::StatusOr<IssuanceRecord> issuance =
      issuances_.LatestForCertificate(view.certificate.id);
  if (issuance.ok()) {
    issuance->cert_key_pem.clear();
    view.latest_issuance = *std::move(issuance);
  } else if (!absl::IsNotFound(issuance.status())) {
    return issuance.status();
  }
  return view;
}

absl::StatusOr<CertificateViewPage> IssuanceManager::ListCertificates(
    const CertificateQuery& query) {
  if (query.page_size < 0) {
    return absl::InvalidArgumentError("page_size: must not be negative");
  }
  int page_size = query.page_size == 0 ? storage::CertificateRepository::kDefaultPageSize
                                       : std::min(query.page_size,
                                                  storage::CertificateRepository::kMaxPageSize);
  storage::CertificateFilter filter;
  filter.name_contains = query.name_contains;
  filter.expiring_before = query.expiring_before;
  CertificateViewPage page;
  std::string token = query.page_token;
  while (true) {
    absl::StatusOr<storage::CertificatePage> stored =
        certificates_.List(filter, page_size, token);
    if (absl::IsInvalidArgument(stored.status())) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_token: ", stored.status().message()));
    }
    RETURN_IF_ERROR(stored.status());
    for (const ManagedCertificateRecord& cert : stored->certificates) {
      ASSIGN_OR_RETURN(CertificateView view, CertificateViewOf(cert));
      if (query.latest_issuance_state.has_value() &&
          (!view.latest_issuance.has_value() ||
           view.latest_issuance->state != *query.latest_issuance_state)) {
        continue;
      }
      page.certificates.push_back(std::move(view));
      if (static_cast<int>(page.certificates.size()) == page_size) {
        // The repository's token is the id of the last row returned.
        bool last_of_all =
            stored->next_page_token.empty() && &cert == &stored->certificates.back();
        page.next_page_token = last_of_all ? "" : absl::StrCat(cert.id);
        return page;
      }
    }
    if (stored->next_page_token.empty()) return page;
    token = stored->next_page_token;
  }
}

absl::StatusOr<storage::CertificateVersionRecord> IssuanceManager::Revoke(
    const std::string& name, const std::string& serial_hex, int reason) {
  static const int kAllowedReasons[] = {0, 1, 3, 4, 5};
  if (std::find(std::begin(kAllowedReasons), std::end(kAllowedReasons), reason) ==
      std::end(kAllowedReasons)) {
    return absl::InvalidArgumentError(
        absl::StrCat("reason: ", reason, " is not one of 0, 1, 3, 4, 5"));
  }
  ASSIGN_OR_RETURN(CertificateView view, GetCertificate(name));
  ASSIGN_OR_RETURN(std::vector<storage::CertificateVersionRecord> versions,
                   versions_.List(view.certificate.id));
  const storage::CertificateVersionRecord* target = nullptr;
  for (const auto& v : versions) {
    if (serial_hex.empty() || absl::AsciiStrToUpper(v.serial_hex) ==
                                  absl::AsciiStrToUpper(serial_hex)) {
      target = &v;
      break;
    }
  }
  if (target == nullptr) {
    return absl::NotFoundError(
        serial_hex.empty()
            ? absl::StrCat("certificate \"", name, "\" has no issued version")
            : absl::StrCat("certificate \"", name, "\" has no version with serial ",
                           serial_hex));
  }
  if (target->revoked_at.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("version ", target->serial_hex, " of \"", name, "\" is already revoked"));
  }
  ASSIGN_OR_RETURN(crypto::Certificate leaf, crypto::Certificate::FromPem(target->chain_pem));
  ASSIGN_OR_RETURN(std::shared_ptr<acme::AcmeClient> client,
                   accounts_->ClientFor(view.certificate.policy.ca_name));
  absl::Status revoked = acme::RevokeCertificate(*client, leaf.ToDer(), reason);
  if (!revoked.ok() && !absl::IsAlreadyExists(revoked)) return revoked;
  RETURN_IF_ERROR(versions_.MarkRevoked(target->id, reason));
  storage::EventRecord event;
  event.managed_certificate_id = view.certificate.id;
  event.kind = "revoked";
  event.message = absl::StrCat("serial ", target->serial_hex, " reason ", reason);
  (void)events_.Append(event);
  CF_LOG(INFO) << "certificate revoked" << Kv("certificate", name)
               << Kv("serial", target->serial_hex) << Kv("reason", reason);
  ASSIGN_OR_RETURN(storage::CertificateVersionRecord result, versions_.Get(target->id));
  result.key_pem.clear();
  return result;
}

uint64_t IssuanceManager::WaitForFinish(const std::string& issuance_id, absl::Time deadline,
                                        std::function<void(absl::StatusOr<IssuanceView>)> done) {
  uint64_t handle;
  {
    absl::MutexLock lock(&mu_);
    handle = next_waiter_++;
    waiters_.emplace(handle, Waiter{issuance_id, deadline, std::move(done)});
  }
  // It may have finished before the waiter was registered.
  absl::StatusOr<IssuanceView> view = GetIssuance(issuance_id);
  if (!view.ok() || !storage::IsActive(view->issuance.state)) {
    std::function<void(absl::StatusOr<IssuanceView>)> fire;
    {
      absl::MutexLock lock(&mu_);
      auto it = waiters_.find(handle);
      if (it != waiters_.end()) {
        fire = std::move(it->second.done);
        waiters_.erase(it);
      }
    }
    if (fire) fire(std::move(view));
  }
  return handle;
}

void IssuanceManager::CancelWait(uint64_t handle) {
  absl::MutexLock lock(&mu_);
  waiters_.erase(handle);
}

void IssuanceManager::ReleaseWaiters() {
  std::map<uint64_t, Waiter> waiters;
  {
    absl::MutexLock lock(&mu_);
    waiters.swap(waiters_);
  }
  for (auto& [handle, waiter] : waiters) waiter.done(GetIssuance(waiter.issuance_id));
}

void IssuanceManager::PublishById(const std::string& issuance_id) {
  absl::StatusOr<IssuanceView> view = GetIssuance(issuance_id);
  if (!view.ok()) {
    CF_LOG(WARNING) << "cannot load issuance to publish" << Kv("issuance", issuance_id)
                    << Kv("error", view.status());
    return;
  }
  Publish(*view);
}

void IssuanceManager::Publish(const IssuanceView& view) {
  hub_.Publish(view);
  if (storage::IsActive(view.issuance.state)) return;
  std::vector<std::function<void(absl::StatusOr<IssuanceView>)>> fire;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.issuance_id == view.issuance.id) {
        fire.push_back(std::move(it->second.done));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& f : fire) f(view);
}

void IssuanceManager::Enqueue(const std::string& issuance_id,
                              std::optional<absl::Time> not_before) {
  absl::MutexLock lock(&mu_);
  if (!scheduled_.insert(issuance_id).second) return;
  if (not_before.has_value() && *not_before > clock_->Now()) {
    delayed_.emplace(*not_before, issuance_id);
  } else {
    ready_.push_back(issuance_id);
  }
}

void IssuanceManager::WorkerLoop() {
  while (true) {
    std::string id;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](IssuanceManager* m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return m->stopping_ || !m->ready_.empty();
          },
          this));
      if (stopping_) return;
      id = std::move(ready_.front());
      ready_.pop_front();
    }
    Process(id);
  }
}

void IssuanceManager::SchedulerLoop() {
  while (true) {
    bool check_renewals = false;
    std::vector<std::pair<uint64_t, Waiter>> expired;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), kSchedulerTick);
      if (stopping_) return;
      absl::Time now = clock_->Now();
      while (!delayed_.empty() && delayed_.begin()->first <= now) {
        ready_.push_back(delayed_.begin()->second);
        delayed_.erase(delayed_.begin());
      }
      absl::Time real_now = absl::Now();
      for (auto it = waiters_.begin(); it != waiters_.end();) {
        if (it->second.deadline <= real_now) {
          expired.emplace_back(it->first, std::move(it->second));
          it = waiters_.erase(it);
        } else {
          ++it;
        }
      }
      if (options_.renewal_interval > absl::ZeroDuration() && now >= next_renewal_check_) {
        check_renewals = true;
        next_renewal_check_ = now + options_.renewal_interval;
      }
    }
    for (auto& [handle, waiter] : expired) waiter.done(GetIssuance(waiter.issuance_id));
    if (check_renewals) {
      absl::StatusOr<int> started = CheckRenewals();
      if (!started.ok()) {
        CF_LOG(WARNING) << "renewal check failed" << Kv("error", started.status());
      }
    }
  }
}

absl::Duration IssuanceManager::Backoff(int attempts) const {
  absl::Duration d = options_.initial_backoff;
  for (int i = 1; i < attempts && d < options_.max_backoff; ++i) d *= 2;
  return std::min(d, options_.max_backoff);
}

void IssuanceManager::Process(const std::string& issuance_id) {
  auto unschedule = [&] {
    absl::MutexLock lock(&mu_);
    scheduled_.erase(issuance_id);
  };
  absl::StatusOr<IssuanceRecord> issuance = issuances_.Get(issuance_id);
  if (!issuance.ok() || !storage::IsActive(issuance->state)) {
    unschedule();
    return;
  }
  absl::StatusOr<ManagedCertificateRecord> cert =
      certificates_.GetById(issuance->managed_certificate_id);
  absl::Status marked = cert.ok() ? issuances_.MarkRunning(issuance_id) : cert.status();
  if (marked.ok()) issuance = issuances_.Get(issuance_id);
  if (!marked.ok() || !issuance.ok()) {
    CF_LOG(ERROR) << "cannot start issuance" << Kv("issuance", issuance_id)
                  << Kv("error", marked.ok() ? issuance.status() : marked);
    unschedule();
    return;
  }
  PublishById(issuance_id);
  CF_LOG(INFO) << "issuance running" << Kv("issuance", issuance_id)
               << Kv("names", NamesOf(*cert)) << Kv("attempt", issuance->attempts)
               << Kv("step", issuance->step.empty() ? "new" : issuance->step);

  absl::StatusOr<acme::IssuedCertificate> issued = Attempt(*issuance, *cert);
  if (issued.ok()) {
    absl::StatusOr<IssuanceRecord> keyed = issuances_.Get(issuance_id);
    storage::CertificateVersionRecord version;
    version.serial_hex = issued->leaf_serial_hex;
    version.not_before = issued->not_before;
    version.not_after = issued->not_after;
    version.issuer = issued->issuer;
    version.chain_pem = issued->chain_pem;
    version.key_pem = keyed.ok() ? keyed->cert_key_pem : "";
    absl::StatusOr<storage::CertificateVersionRecord> stored =
        keyed.ok() ? versions_.CompleteIssuance(issuance_id, version) : keyed.status();
    unschedule();
    if (!stored.ok()) {
      CF_LOG(ERROR) << "cannot store the issued certificate" << Kv("issuance", issuance_id)
                    << Kv("error", stored.status());
      (void)issuances_.Finish(issuance_id, IssuanceState::kFailed,
                              acme::AnnotateStatus(stored.status(), "storing the certificate"));
      PublishById(issuance_id);
      return;
    }
    CF_LOG(INFO) << "issuance valid" << Kv("issuance", issuance_id)
                 << Kv("names", NamesOf(*cert)) << Kv("serial", stored->serial_hex);
    // Install first, so that `issue --wait` and watchers see the valid issuance together with
    // where it was installed (bounded by the installer's deadline).
    Install(*cert, *stored);
    PublishById(issuance_id);
    return;
  }

  absl::Status error = issued.status();
  int attempts = issuance->attempts;
  bool stopping;
  {
    absl::MutexLock lock(&mu_);
    stopping = stopping_;
  }
  if (stopping && (error.code() == absl::StatusCode::kCancelled ||
                   error.code() == absl::StatusCode::kDeadlineExceeded)) {
    // Interrupted by shutdown: stays pending with its progress; the next start resumes it.
    absl::Status kept = issuances_.ScheduleRetry(issuance_id, clock_->Now(), error);
    CF_LOG(INFO) << "issuance interrupted by shutdown; will resume on next start"
                 << Kv("issuance", issuance_id) << Kv("names", NamesOf(*cert))
                 << Kv("step", issuance->step.empty() ? "new" : issuance->step);
    if (!kept.ok()) {
      CF_LOG(ERROR) << "cannot record the interruption" << Kv("issuance", issuance_id)
                    << Kv("error", kept);
    }
    unschedule();
    PublishById(issuance_id);
    return;
  }
  absl::Status final_error = error;
  std::optional<absl::Time> next = RetryTime(error, *issuance, &final_error);
  if (next.has_value()) {
    if (error.code() == absl::StatusCode::kAborted) {
      (void)issuances_.SaveProgress(issuance_id, acme::kStepNew, "");  // A fresh order.
    }
    absl::Status scheduled = issuances_.ScheduleRetry(issuance_id, *next, error);
    CF_LOG(WARNING) << "issuance attempt failed; will retry" << Kv("issuance", issuance_id)
                    << Kv("names", NamesOf(*cert)) << Kv("attempt", attempts)
                    << Kv("retry_at", absl::FormatTime(*next)) << Kv("error", error);
    unschedule();
    PublishById(issuance_id);
    if (scheduled.ok()) Enqueue(issuance_id, *next);
    return;
  }
  if (!issuance->error_message.empty() &&
      issuance->error_code != static_cast<int>(final_error.code())) {
    // e.g. an agent went away mid-challenge, and the retry found no agent at all: both matter.
    final_error = absl::Status(final_error.code(),
                               absl::StrCat(final_error.message(), "; earlier attempt: ",
                                            issuance->error_message));
  }
  CF_LOG(WARNING) << "issuance failed" << Kv("issuance", issuance_id)
                  << Kv("names", NamesOf(*cert)) << Kv("attempt", attempts)
                  << Kv("error", final_error);
  absl::Status finished = issuances_.Finish(issuance_id, IssuanceState::kFailed, final_error);
  if (!finished.ok()) {
    CF_LOG(ERROR) << "cannot record the failure" << Kv("issuance", issuance_id)
                  << Kv("error", finished);
  }
  unschedule();
  PublishById(issuance_id);
}

std::optional<absl::Time> IssuanceManager::RetryTime(const absl::Status& error,
                                                     const IssuanceRecord& issuance,
                                                     absl::Status* final_error) const {
  absl::Time now = clock_->Now();
  absl::Time next = now + Backoff(issuance.attempts);
  switch (error.code()) {
    case absl::StatusCode::kDeadlineExceeded: {
      // Out of time is not the CA saying no: retried later, bounded by the overall budget.
      absl::Time give_up = issuance.created_at + options_.deadline_retry_budget;
      if (now >= give_up) {
        *final_error = acme::AnnotateStatus(
            error, absl::StrCat("still not issued ",
                                absl::FormatDuration(options_.deadline_retry_budget),
                                " after the request (", issuance.attempts, " attempts)"));
        return std::nullopt;
      }
      return std::min(next, give_up);
    }
    case absl::StatusCode::kAborted:
      // The order or an authorization went invalid: one fresh order, then give up with the
      // CA's reason (two invalid orders in a row).
      if (issuance.error_code == static_cast<int>(absl::StatusCode::kAborted) ||
          issuance.attempts >= options_.max_attempts) {
        return std::nullopt;
      }
      return next;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kCancelled: {
      if (issuance.attempts >= options_.max_attempts) {
        *final_error = acme::AnnotateStatus(
            error, absl::StrCat("giving up after ", issuance.attempts, " attempts"));
        return std::nullopt;
      }
      std::optional<absl::Time> retry_after = acme::RetryAfterOf(error);
      if (retry_after.has_value() && *retry_after > next) next = *retry_after;
      return next;
    }
    default:
      return std::nullopt;  // Permanent: the CA's (or our) answer will not change.
  }
}

absl::StatusOr<acme::IssuedCertificate> IssuanceManager::Attempt(
    const IssuanceRecord& issuance, const ManagedCertificateRecord& cert) {
  auto ca = cas_.find(cert.policy.ca_name);
  if (ca == cas_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("CA \"", cert.policy.ca_name, "\" is no longer configured"));
  }
  // The certificate key is stored before the order is placed.
  std::optional<crypto::PrivateKey> key;
  if (issuance.cert_key_pem.empty()) {
    ASSIGN_OR_RETURN(crypto::KeyType type, crypto::ParseKeyType(cert.policy.key_type));
    ASSIGN_OR_RETURN(crypto::PrivateKey generated, crypto::PrivateKey::Generate(type));
    RETURN_IF_ERROR(issuances_.SaveCertKey(issuance.id, generated.ToPem()));
    key.emplace(std::move(generated));
  } else {
    ASSIGN_OR_RETURN(crypto::PrivateKey stored, crypto::PrivateKey::FromPem(issuance.cert_key_pem));
    key.emplace(std::move(stored));
  }

  acme::OrderProgress progress;
  if (!issuance.progress_json.empty()) {
    nlohmann::json json = nlohmann::json::parse(issuance.progress_json, nullptr, false);
    if (json.is_discarded()) {
      return absl::InternalError(
          absl::StrCat("issuance ", issuance.id, ": stored progress is not JSON"));
    }
    ASSIGN_OR_RETURN(progress, acme::OrderProgress::FromJson(json));
  }
  StorageProgressSink sink(&issuances_, issuance.id, progress.step,
                           [this, id = issuance.id] { PublishById(id); });

  acme::OrderRequest request;
  request.identifiers = FromRecords(cert.identifiers);
  request.challenge_preference = cert.policy.challenge_preference;
  request.profile = ca->second.profile;
  request.profile_mandatory = ca->second.profile_mandatory;
  request.preferred_chain = ca->second.preferred_chain;
  request.issuance_id = issuance.id;
  request.deadline = clock_->Now() + options_.attempt_timeout;
  request.cancelled = [this] { return cancelling_.load(); };
  return runner_->Run(ca->first, request, *key, &progress, &sink, solver_);
}

void IssuanceManager::Install(const ManagedCertificateRecord& cert,
                              const storage::CertificateVersionRecord& version) {
  if (installer_ == nullptr) return;
  std::vector<InstallResult> results = installer_->Install(cert, version);
  for (const InstallResult& r : results) {
    storage::EventRecord event;
    event.issuance_id = version.issuance_id;
    event.managed_certificate_id = cert.id;
    event.kind = r.status.ok() ? "installed" : "install_failed";
    event.message = r.status.ok()
                        ? absl::StrCat(r.target, ": installed serial ", version.serial_hex,
                                       r.location.empty() ? "" : " in ", r.location)
                        : absl::StrCat(r.target, ": ", r.status.ToString());
    absl::StatusOr<storage::EventRecord> appended = events_.Append(event);
    if (!appended.ok()) {
      CF_LOG(WARNING) << "cannot record install result" << Kv("error", appended.status());
    }
    if (r.status.ok()) {
      CF_LOG(INFO) << "certificate installed" << Kv("certificate", cert.name)
                   << Kv("agent", r.target) << Kv("serial", version.serial_hex);
    } else {
      CF_LOG(WARNING) << "certificate install failed" << Kv("certificate", cert.name)
                      << Kv("agent", r.target) << Kv("error", r.status);
    }
  }
}

absl::Duration IssuanceManager::RenewWindow(
    const ManagedCertificateRecord& cert,
    const storage::CertificateVersionRecord& version) const {
  absl::Duration window = cert.policy.renew_before > absl::ZeroDuration()
                              ? cert.policy.renew_before
                              : defaults_.renew_before;
  // A window as long as the whole lifetime would renew at once, forever: like certbot and
  // lego, such short certificates renew once 2/3 of their lifetime has passed.
  absl::Duration lifetime = version.not_after - version.not_before;
  if (window >= lifetime) return lifetime / 3;
  return window;
}

absl::StatusOr<int> IssuanceManager::CheckRenewals() {
  absl::Time now = clock_->Now();
  int started = 0;
  std::string token;
  do {
    ASSIGN_OR_RETURN(storage::CertificatePage page,
                     certificates_.List(storage::CertificateFilter{}, 200, token));
    for (const ManagedCertificateRecord& cert : page.certificates) {
      if (cert.state != storage::kCertificateStateActive) continue;
      absl::StatusOr<storage::CertificateVersionRecord> latest = versions_.Latest(cert.id);
      if (!latest.ok()) continue;  // Never issued: nothing to renew.
      if (now < latest->not_after - RenewWindow(cert, *latest)) continue;
      absl::StatusOr<IssuanceRecord> last = issuances_.LatestForCertificate(cert.id);
      if (last.ok()) {
        if (storage::IsActive(last->state)) continue;
        if (last->state == IssuanceState::kFailed && last->finished_at.has_value() &&
            now < *last->finished_at + options_.renewal_retry_delay) {
          continue;
        }
      } else if (!absl::IsNotFound(last.status())) {
        return last.status();
      }
      storage::IssueRequest request;
      request.name = cert.name;
      request.identifiers = cert.identifiers;
      request.policy = cert.policy;
      request.reason = storage::IssuanceReason::kRenew;
      absl::StatusOr<IssuanceView> view = Record(request);
      if (!view.ok()) {
        CF_LOG(WARNING) << "cannot start renewal" << Kv("certificate", cert.name)
                        << Kv("error", view.status());
        continue;
      }
      CF_LOG(INFO) << "renewal started" << Kv("certificate", cert.name)
                   << Kv("issuance", view->issuance.id)
                   << Kv("not_after", absl::FormatTime(latest->not_after));
      ++started;
    }
    token = page.next_page_token;
  } while (!token.empty());
  return started;
}

}  // namespace certfleet::issuance
