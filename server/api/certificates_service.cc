#include "server/api/certificates_service.h"

#include <deque>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "server/api/async_unary.h"
#include "server/api/proto_convert.h"
#include "server/api/status_mapping.h"
#include "server/issuance/request_validation.h"

namespace certfleet::api {
namespace {

// Waiting RPCs answer this long before the client's deadline with the issuance as it is.
constexpr absl::Duration kDeadlineMargin = absl::Milliseconds(500);

// Streams issuance changes: one write in flight, a guarded queue, Finish exactly once.
class WatchReactor : public grpc::ServerWriteReactor<v1::IssuanceEvent> {
 public:
  WatchReactor(issuance::IssuanceManager* manager, issuance::Executor* executor,
               std::string issuance_id)
      : manager_(manager), issuance_id_(std::move(issuance_id)) {
    handle_ = manager_->hub().Subscribe(
        [this](const issuance::IssuanceView& view) { OnChange(view); });
    if (!issuance_id_.empty()) {
      // The current state first (unless a change already arrived), off the reactor thread.
      std::shared_ptr<Guard> guard = guard_;
      executor->Post([this, guard, manager = manager_, id = issuance_id_] {
        absl::StatusOr<issuance::IssuanceView> view = manager->GetIssuance(id);
        absl::MutexLock alive_lock(&guard->mu);
        if (!guard->alive) return;  // The reactor is gone.
        absl::MutexLock lock(&mu_);
        if (finishing_) return;
        if (!view.ok()) {
          FinishLocked(ToGrpcStatus(view.status()));
          return;
        }
        if (sent_any_) return;
        EnqueueLocked(*view);
      });
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled"));
      return;
    }
    MaybeWriteLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled"));
  }

  void OnDone() override {
    manager_->hub().Unsubscribe(handle_);  // No callback runs after this.
    {
      absl::MutexLock lock(&guard_->mu);
      guard_->alive = false;
    }
    delete this;
  }

 private:
  void OnChange(const issuance::IssuanceView& view) {
    if (!issuance_id_.empty() && view.issuance.id != issuance_id_) return;
    absl::MutexLock lock(&mu_);
    if (finishing_) return;
    EnqueueLocked(view);
  }

  void EnqueueLocked(const issuance::IssuanceView& view) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    sent_any_ = true;
    v1::IssuanceEvent event;
    ToProto(view, event.mutable_issuance());
    queue_.push_back(std::move(event));
    // Watching one issuance: the stream ends after its final state.
    if (!issuance_id_.empty() && !storage::IsActive(view.issuance.state)) end_after_drain_ = true;
    MaybeWriteLocked();
  }

  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    if (queue_.empty()) {
      if (end_after_drain_ || finishing_) FinishLocked(finish_status_.ok() ? grpc::Status::OK : finish_status_);
      return;
    }
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!finishing_) {
      finishing_ = true;
      finish_status_ = status;
    }
    if (finished_ || writing_) return;  // OnWriteDone finishes.
    finished_ = true;
    Finish(finish_status_);
  }

  issuance::IssuanceManager* const manager_;
  const std::string issuance_id_;
  uint64_t handle_ = 0;
  // Lets the snapshot closure know whether the reactor still exists.
  struct Guard {
    absl::Mutex mu;
    bool alive = true;
  };
  std::shared_ptr<Guard> guard_ = std::make_shared<Guard>();
  absl::Mutex mu_;
  std::deque<v1::IssuanceEvent> queue_ ABSL_GUARDED_BY(mu_);
  v1::IssuanceEvent current_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool sent_any_ ABSL_GUARDED_BY(mu_) = false;
  bool end_after_drain_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
};

// A server stream that ends at once with `status` (a request refused at the edge).
template <typename Message>
class FailedWriteReactor : public grpc::ServerWriteReactor<Message> {
 public:
  explicit FailedWriteReactor(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

CertificatesService::CertificatesService(issuance::IssuanceManager* manager,
                                         issuance::Executor* executor,
                                         const ApiAuthenticator* auth)
    : manager_(manager), executor_(executor), auth_(auth) {}

absl::StatusOr<issuance::IssueParams> CertificatesService::ParamsFromRequest(
    const v1::IssueCertificateRequest& request) {
  issuance::IssueParams params;
  params.names.assign(request.names().begin(), request.names().end());
  params.ca = request.ca();
  ASSIGN_OR_RETURN(params.challenge_preference,
                   ChallengeTypesFromProto(request.challenge_preference()));
  ASSIGN_OR_RETURN(params.key_type, KeyTypeFromProto(request.key_type()));
  params.request_id = request.request_id();
  params.certificate_name = request.certificate_name();
  return params;
}

grpc::ServerUnaryReactor* CertificatesService::StartIssuance(
    grpc::CallbackServerContext* context, v1::Issuance* response, bool wait,
    std::function<absl::StatusOr<issuance::IssuanceView>()> start) {
  auto* reactor = new AsyncUnaryReactor();
  std::shared_ptr<CallState> state = reactor->state();
  absl::Time deadline = absl::InfiniteFuture();
  if (wait) {
    std::chrono::system_clock::time_point d = context->deadline();
    if (d < std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) {
      deadline = absl::FromChrono(d) - kDeadlineMargin;
    }
  }
  auto answer = [state, response](const absl::StatusOr<issuance::IssuanceView>& view) {
    state->Complete(ToGrpcStatus(view.status()), [&] {
      if (view.ok()) ToProto(*view, response);
    });
  };
  issuance::IssuanceManager* manager = manager_;
  executor_->Post([state, manager, wait, deadline, answer, start = std::move(start)] {
    if (state->finished()) return;
    absl::StatusOr<issuance::IssuanceView> view = start();
    if (!view.ok() || !wait || !storage::IsActive(view->issuance.state)) {
      answer(view);
      return;
    }
    uint64_t handle = manager->WaitForFinish(view->issuance.id, deadline, answer);
    state->SetOnCancel([manager, handle] { manager->CancelWait(handle); });
  });
  return reactor;
}

grpc::ServerUnaryReactor* CertificatesService::IssueCertificate(
    grpc::CallbackServerContext* context, const v1::IssueCertificateRequest* request,
    v1::Issuance* response) {
  if (auto* rejected = RejectUnauthorized(auth_, context, "Certificates.IssueCertificate")) {
    return rejected;
  }
  absl::StatusOr<issuance::IssueParams> params = ParamsFromRequest(*request);
  if (!params.ok()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(params.status()));
    return reactor;
  }
  issuance::IssuanceManager* manager = manager_;
  return StartIssuance(context, response, request->wait(),
                       [manager, p = *std::move(params)] { return manager->Issue(p); });
}

grpc::ServerUnaryReactor* CertificatesService::RenewCertificate(
    grpc::CallbackServerContext* context, const v1::RenewCertificateRequest* request,
    v1::Issuance* response) {
  if (auto* rejected = RejectUnauthorized(auth_, context, "Certificates.RenewCertificate")) {
    return rejected;
  }
  if (absl::Status valid = issuance::ValidateCertificateNameLookup(request->certificate_name());
      !valid.ok()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  issuance::IssuanceManager* manager = manager_;
  return StartIssuance(context, response, request->wait(),
                       [manager, name = request->certificate_name(),
                        request_id = request->request_id()] {
                         return manager->Renew(name, request_id);
                       });
}

grpc::ServerUnaryReactor* CertificatesService::GetCertificate(
    grpc::CallbackServerContext* context, const v1::GetCertificateRequest* request,
    v1::ManagedCertificate* response) {
  if (auto* rejected = RejectUnauthorized(auth_, context, "Certificates.GetCertificate")) {
    return rejected;
  }
  issuance::IssuanceManager* manager = manager_;
  return RunOnExecutor<v1::ManagedCertificate>(
      executor_, response,
      [manager, name = request->certificate_name()](v1::ManagedCertificate* out) {
        RETURN_IF_ERROR(issuance::ValidateCertificateNameLookup(name));
        ASSIGN_OR_RETURN(issuance::CertificateView view, manager->GetCertificate(name));
        ToProto(view, out);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* CertificatesService::ListCertificates(
    grpc::CallbackServerContext* context, const v1::ListCertificatesRequest* request,
    v1::ListCertificatesResponse* response) {
  if (auto* rejected = RejectUnauthorized(auth_, context, "Certificates.ListCertificates")) {
    return rejected;
  }
  issuance::IssuanceManager* manager = manager_;
  return RunOnExecutor<v1::ListCertificatesResponse>(
      executor_, response, [manager, req = *request](v1::ListCertificatesResponse* out) {
        if (req.page_size() < 0 || req.page_size() > 1000) {
          return absl::InvalidArgumentError("page_size: must be 0 to 1000");
        }
        RETURN_IF_ERROR(issuance::ValidatePageToken(req.page_token()));
        if (req.name_filter().size() > 253) {
          return absl::InvalidArgumentError("name_filter: longer than 253 characters");
        }
        issuance::CertificateQuery query;
        query.page_size = req.page_size();
        query.page_token = req.page_token();
        query.name_contains = req.name_filter();
        ASSIGN_OR_RETURN(query.latest_issuance_state, StateFromProto(req.state_filter()));
        if (req.has_expiring_before()) query.expiring_before = FromTimestamp(req.expiring_before());
        ASSIGN_OR_RETURN(issuance::CertificateViewPage page, manager->ListCertificates(query));
        for (const auto& view : page.certificates) ToProto(view, out->add_certificates());
        out->set_next_page_token(page.next_page_token);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* CertificatesService::RevokeCertificate(
    grpc::CallbackServerContext* context, const v1::RevokeCertificateRequest* request,
    v1::CertificateVersion* response) {
  if (auto* rejected = RejectUnauthorized(auth_, context, "Certificates.RevokeCertificate")) {
    return rejected;
  }
  issuance::IssuanceManager* manager = manager_;
  return RunOnExecutor<v1::CertificateVersion>(
      executor_, response, [manager, req = *request](v1::CertificateVersion* out) {
        RETURN_IF_ERROR(issuance::ValidateCertificateNameLookup(req.certificate_name()));
        if (req.serial().size() > 64) {
          return absl::InvalidArgumentError("serial: longer than 64 hex digits");
        }
        for (char c : req.serial()) {
          if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
            return absl::InvalidArgumentError(
                absl::StrCat("serial: ", issuance::QuoteForMessage(req.serial()),
                             " is not hexadecimal"));
          }
        }
        ASSIGN_OR_RETURN(storage::CertificateVersionRecord version,
                         manager->Revoke(req.certificate_name(), req.serial(), req.reason()));
        ToProto(version, out);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* CertificatesService::GetIssuance(grpc::CallbackServerContext* context,
                                                           const v1::GetIssuanceRequest* request,
                                                           v1::Issuance* response) {
  if (auto* rejected = RejectUnauthorized(auth_, context, "Certificates.GetIssuance")) {
    return rejected;
  }
  issuance::IssuanceManager* manager = manager_;
  return RunOnExecutor<v1::Issuance>(
      executor_, response, [manager, id = request->issuance_id()](v1::Issuance* out) {
        RETURN_IF_ERROR(issuance::ValidateIssuanceId(id));
        ASSIGN_OR_RETURN(issuance::IssuanceView view, manager->GetIssuance(id));
        ToProto(view, out);
        return absl::OkStatus();
      });
}

grpc::ServerWriteReactor<v1::IssuanceEvent>* CertificatesService::WatchIssuances(
    grpc::CallbackServerContext* context, const v1::WatchIssuancesRequest* request) {
  if (auth_ != nullptr) {
    if (absl::Status authorized = auth_->Check(*context, "Certificates.WatchIssuances");
        !authorized.ok()) {
      return new FailedWriteReactor<v1::IssuanceEvent>(ToGrpcStatus(authorized));
    }
  }
  // An empty id watches every issuance; any other id must be well formed.
  if (!request->issuance_id().empty()) {
    if (absl::Status valid = issuance::ValidateIssuanceId(request->issuance_id()); !valid.ok()) {
      return new FailedWriteReactor<v1::IssuanceEvent>(ToGrpcStatus(valid));
    }
  }
  return new WatchReactor(manager_, executor_, request->issuance_id());
}

}  // namespace certfleet::api
