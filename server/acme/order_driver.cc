#include "server/acme/order_driver.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/crypto/base64url.h"
#include "common/crypto/csr.h"
#include "common/crypto/x509.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "server/acme/certificate.h"
#include "server/acme/challenge.h"
#include "server/acme/problem.h"

namespace certfleet::acme {

struct OrderDriver::RunState {
  const OrderRequest& request;
  const crypto::PrivateKey& cert_key;
  OrderProgress* progress;
  ProgressSink* sink;
  ChallengeSolver* solver;
  std::vector<std::string> preference;
  std::string names;  // for logs
  // Per order/authorization URL: the earliest time the CA allows it to be fetched again
  // (its latest Retry-After). Absolute times: no local time zone is involved.
  std::map<std::string, absl::Time> not_before;
};

namespace {

std::string JoinNames(const std::vector<identifiers::Identifier>& ids) {
  return absl::StrJoin(ids, ",", [](std::string* out, const identifiers::Identifier& id) {
    out->append(id.value);
  });
}

std::string ProblemText(const Problem& p) {
  std::string text = absl::StrCat(p.ShortType(), ": ", p.detail);
  for (const Subproblem& sp : p.subproblems) {
    absl::StrAppend(&text, " [", sp.identifier_value, ": ", sp.detail, "]");
  }
  return text;
}

// Finalize attempts per Run (the CA said orderNotReady, or a finalize failed in a way that
// may not have reached it); the order is fetched before each repeat.
constexpr int kMaxFinalizeAttempts = 3;

// A failed finalize worth repeating once the order shows it is still "ready".
bool FinalizeRetryable(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         ProblemTypeOf(status) == absl::StrCat(kProblemPrefix, "orderNotReady");
}

void NoteRetryAfter(std::map<std::string, absl::Time>& not_before, const std::string& url,
                    std::optional<absl::Time> retry_after) {
  if (!retry_after) return;
  auto [it, inserted] = not_before.emplace(url, *retry_after);
  if (!inserted && *retry_after > it->second) it->second = *retry_after;
}

// Longest sleep between two looks at OrderRequest::cancelled while waiting.
constexpr absl::Duration kCancelCheckInterval = absl::Milliseconds(100);

// Cancelled when the request's cancel hook says so.
absl::Status CheckCancelled(const OrderRequest& request, const std::string& names) {
  if (request.cancelled && request.cancelled()) {
    return absl::CancelledError(absl::StrCat("issuance cancelled (names ", names, ")"));
  }
  return absl::OkStatus();
}

// Runs every CleanUp when it goes out of scope.
class CleanupGuard {
 public:
  explicit CleanupGuard(ChallengeSolver* solver) : solver_(solver) {}
  ~CleanupGuard() {
    for (const ChallengeTask& task : tasks_) solver_->CleanUp(task);
  }
  void Add(const ChallengeTask& task) { tasks_.push_back(task); }

 private:
  ChallengeSolver* solver_;
  std::vector<ChallengeTask> tasks_;
};

}  // namespace

nlohmann::json OrderProgress::ToJson() const {
  return {{"step", step},
          {"order_url", order_url},
          {"finalize_url", finalize_url},
          {"certificate_url", certificate_url},
          {"authz_urls", authz_urls},
          {"csr_der_b64", csr_der_b64},
          {"finalize_sent", finalize_sent},
          {"profile", profile}};
}

absl::StatusOr<OrderProgress> OrderProgress::FromJson(const nlohmann::json& json) {
  if (!json.is_object()) return absl::InvalidArgumentError("order progress is not an object");
  OrderProgress p;
  auto str = [&json](const char* key, std::string* out) -> absl::Status {
    auto it = json.find(key);
    if (it == json.end() || it->is_null()) return absl::OkStatus();
    if (!it->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("order progress: \"", key,
                                                     "\" is not a string"));
    }
    *out = it->get<std::string>();
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(str("step", &p.step));
  RETURN_IF_ERROR(str("order_url", &p.order_url));
  RETURN_IF_ERROR(str("finalize_url", &p.finalize_url));
  RETURN_IF_ERROR(str("certificate_url", &p.certificate_url));
  RETURN_IF_ERROR(str("csr_der_b64", &p.csr_der_b64));
  RETURN_IF_ERROR(str("profile", &p.profile));
  if (p.step.empty()) p.step = kStepNew;
  auto authz = json.find("authz_urls");
  if (authz != json.end() && !authz->is_null()) {
    if (!authz->is_array()) {
      return absl::InvalidArgumentError("order progress: \"authz_urls\" is not an array");
    }
    for (const auto& u : *authz) {
      if (!u.is_string()) {
        return absl::InvalidArgumentError("order progress: \"authz_urls\" holds a non-string");
      }
      p.authz_urls.push_back(u.get<std::string>());
    }
  }
  auto sent = json.find("finalize_sent");
  if (sent != json.end() && !sent->is_null()) {
    if (!sent->is_boolean()) {
      return absl::InvalidArgumentError("order progress: \"finalize_sent\" is not a boolean");
    }
    p.finalize_sent = sent->get<bool>();
  }
  return p;
}

OrderDriver::OrderDriver(AcmeClient* client, OrderDriverOptions options)
    : client_(client), options_(options) {}

absl::Status OrderDriver::Save(RunState& state, const char* step) {
  state.progress->step = step;
  absl::Status s = state.sink->Save(*state.progress);
  if (!s.ok()) return AnnotateStatus(s, absl::StrCat("saving order progress (", step, ")"));
  // Between steps: the progress is saved, so a cancelled run resumes from here.
  if (std::string_view(step) != kStepDone) {
    RETURN_IF_ERROR(CheckCancelled(state.request, state.names));
  }
  return absl::OkStatus();
}

absl::Status OrderDriver::CheckSolvable(const RunState& state) {
  for (const identifiers::Identifier& id : state.request.identifiers) {
    std::vector<std::string> types = AcceptableChallengeTypes(id, state.preference);
    if (types.empty()) {
      if (id.IsWildcard()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "wildcard ", id.value, " can only be validated with dns-01, which the challenge "
            "preference (", absl::StrJoin(state.preference, ", "), ") does not allow"));
      }
      return absl::FailedPreconditionError(
          absl::StrCat("no allowed challenge type for ", id.value, " in [",
                       absl::StrJoin(state.preference, ", "), "]"));
    }
    absl::Status first_error;
    bool ok = false;
    for (const std::string& type : types) {
      absl::Status s = state.solver->CanSolve(id, type);
      if (s.ok()) {
        ok = true;
        break;
      }
      if (first_error.ok()) first_error = s;
    }
    if (!ok) {
      absl::Status s = first_error;
      if (s.code() != absl::StatusCode::kFailedPrecondition &&
          s.code() != absl::StatusCode::kInvalidArgument) {
        s = absl::FailedPreconditionError(s.message());
      }
      return AnnotateStatus(s, absl::StrCat("cannot answer a challenge for ", id.value));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Order> OrderDriver::PlaceOrder(RunState& state) {
  RETURN_IF_ERROR(CheckSolvable(state));
  ASSIGN_OR_RETURN(Directory dir, client_->GetDirectory());
  ASSIGN_OR_RETURN(std::string profile, SelectProfile(dir.meta, state.request.profile,
                                                      state.request.profile_mandatory));
  ASSIGN_OR_RETURN(Order order, NewOrder(*client_, state.request.identifiers, profile));
  NoteRetryAfter(state.not_before, order.url, order.retry_after);
  *state.progress = OrderProgress();
  state.progress->order_url = order.url;
  state.progress->finalize_url = order.finalize;
  state.progress->authz_urls = order.authorizations;
  state.progress->profile = profile;
  CF_LOG(INFO) << "ACME order created" << Kv("issuance", state.request.issuance_id)
               << Kv("names", state.names) << Kv("order", order.url)
               << Kv("status", order.status);
  RETURN_IF_ERROR(Save(state, kStepOrdered));
  return order;
}

absl::StatusOr<Order> OrderDriver::Resume(RunState& state, bool* restart) {
  *restart = false;
  auto order = Get(state, state.progress->order_url, FetchOrder);
  const char* reason = nullptr;
  if (!order.ok()) {
    if (order.status().code() != absl::StatusCode::kNotFound &&
        HttpStatusOf(order.status()) != 404) {
      return order.status();
    }
    reason = "order no longer exists";
  } else if (order->status == "invalid") {
    reason = "stored order is invalid";
  } else if (order->status != "valid" && order->expires &&
             *order->expires <= client_->clock()->Now()) {
    reason = "stored order expired";
  }
  if (reason != nullptr) {
    CF_LOG(INFO) << "starting a new order" << Kv("issuance", state.request.issuance_id)
                 << Kv("reason", reason) << Kv("old_order", state.progress->order_url);
    *restart = true;
    return Order();
  }
  CF_LOG(INFO) << "resuming ACME order" << Kv("issuance", state.request.issuance_id)
               << Kv("order", order->url) << Kv("status", order->status)
               << Kv("step", state.progress->step);
  if (state.progress->finalize_url.empty()) state.progress->finalize_url = order->finalize;
  if (state.progress->authz_urls.empty()) state.progress->authz_urls = order->authorizations;
  return order;
}

absl::Status OrderDriver::SleepUntil(RunState& state, absl::Time until) {
  if (until > state.request.deadline) {
    return absl::DeadlineExceededError(
        absl::StrCat("issuance deadline passed while waiting for the CA (names ", state.names,
                     ")"));
  }
  Clock* clock = client_->clock();
  if (!state.request.cancelled) {
    if (until > clock->Now()) clock->SleepUntil(until);
    return absl::OkStatus();
  }
  // Cancellable: sleep in short slices so a cancel is noticed promptly.
  while (true) {
    RETURN_IF_ERROR(CheckCancelled(state.request, state.names));
    absl::Time now = clock->Now();
    if (until <= now) return absl::OkStatus();
    clock->SleepUntil(std::min(until, now + kCancelCheckInterval));
  }
}

absl::Status OrderDriver::WaitBeforePoll(RunState& state, const std::string& url,
                                         absl::Duration* interval) {
  absl::Time now = client_->clock()->Now();
  absl::Time until = now + *interval;
  auto it = state.not_before.find(url);
  if (it != state.not_before.end() && it->second > now) until = it->second;
  *interval = std::min(*interval * 2, options_.max_poll_interval);
  return SleepUntil(state, until);
}

template <typename T>
absl::StatusOr<T> OrderDriver::Get(RunState& state, const std::string& url, Fetch<T> fetch) {
  auto it = state.not_before.find(url);
  if (it != state.not_before.end()) RETURN_IF_ERROR(SleepUntil(state, it->second));
  absl::StatusOr<T> resource = fetch(*client_, url);
  if (resource.ok()) NoteRetryAfter(state.not_before, url, resource->retry_after);
  return resource;
}

template <typename T, typename StillWaiting>
absl::StatusOr<T> OrderDriver::Poll(RunState& state, const std::string& url, Fetch<T> fetch,
                                    StillWaiting still_waiting) {
  absl::Duration interval = options_.initial_poll_interval;
  int transient = 0;
  while (true) {
    RETURN_IF_ERROR(WaitBeforePoll(state, url, &interval));
    absl::StatusOr<T> resource = fetch(*client_, url);
    if (!resource.ok()) {
      if (resource.status().code() == absl::StatusCode::kUnavailable &&
          ++transient <= options_.max_transient_poll_errors) {
        NoteRetryAfter(state.not_before, url, RetryAfterOf(resource.status()));
        continue;
      }
      return resource.status();
    }
    transient = 0;
    NoteRetryAfter(state.not_before, url, resource->retry_after);
    if (!still_waiting(*resource)) return resource;
  }
}

absl::StatusOr<Authorization> OrderDriver::PollAuthorization(RunState& state,
                                                             const std::string& url) {
  return Poll(state, url, FetchAuthorization, [](const Authorization& authz) {
    return authz.status == "pending" || authz.status == "processing";
  });
}

absl::StatusOr<Order> OrderDriver::PollOrder(RunState& state, const std::string& url,
                                             const std::string& while_status) {
  return Poll(state, url, FetchOrder,
              [&while_status](const Order& order) { return order.status == while_status; });
}

absl::Status OrderDriver::Authorize(RunState& state, const Order& order) {
  CleanupGuard cleanup(state.solver);
  std::vector<std::string> to_poll;
  for (const std::string& url : order.authorizations) {
    ASSIGN_OR_RETURN(Authorization authz, Get(state, url, FetchAuthorization));
    if (authz.status == "valid") {
      CF_LOG(INFO) << "authorization already valid (reused)"
                   << Kv("issuance", state.request.issuance_id)
                   << Kv("identifier", authz.identifier.value);
      continue;
    }
    if (authz.status != "pending") {
      const Challenge* failed = authz.FailedChallenge();
      return absl::AbortedError(absl::StrCat(
          "authorization for ", authz.identifier.value, " is ", authz.status,
          failed != nullptr ? absl::StrCat(": ", ProblemText(*failed->error)) : ""));
    }
    ASSIGN_OR_RETURN(std::vector<Challenge> candidates,
                     CandidateChallenges(authz, state.preference));
    const Challenge* chosen = nullptr;
    absl::Status first_error;
    for (const Challenge& c : candidates) {
      absl::Status s = state.solver->CanSolve(authz.identifier, c.type);
      if (s.ok()) {
        chosen = &c;
        break;
      }
      if (first_error.ok()) first_error = s;
    }
    if (chosen == nullptr) return first_error;
    ChallengeTask task;
    task.identifier = authz.identifier;
    task.type = chosen->type;
    task.token = chosen->token;
    ASSIGN_OR_RETURN(task.key_authorization, client_->KeyAuthorization(chosen->token));
    task.challenge_url = chosen->url;
    task.issuance_id = state.request.issuance_id;
    CF_LOG(INFO) << "presenting challenge" << Kv("issuance", state.request.issuance_id)
                 << Kv("identifier", authz.identifier.value) << Kv("type", task.type);
    cleanup.Add(task);
    absl::Status presented = state.solver->Present(task, state.request.deadline);
    if (!presented.ok()) {
      return AnnotateStatus(presented, absl::StrCat("presenting ", task.type, " for ",
                                                    authz.identifier.value));
    }
    if (chosen->status == "pending") {
      ASSIGN_OR_RETURN(Challenge answered, RespondToChallenge(*client_, chosen->url));
      (void)answered;
    }
    to_poll.push_back(url);
  }
  for (const std::string& url : to_poll) {
    ASSIGN_OR_RETURN(Authorization authz, PollAuthorization(state, url));
    if (authz.status != "valid") {
      const Challenge* failed = authz.FailedChallenge();
      return absl::AbortedError(absl::StrCat(
          "authorization for ", authz.identifier.value, " is ", authz.status,
          failed != nullptr
              ? absl::StrCat(": ", failed->type, ": ", ProblemText(*failed->error))
              : ""));
    }
    CF_LOG(INFO) << "authorization valid" << Kv("issuance", state.request.issuance_id)
                 << Kv("identifier", authz.identifier.value);
  }
  return absl::OkStatus();
}

absl::Status OrderDriver::InvalidOrderError(RunState& state, const Order& order) {
  // Prefer the failed challenge's detail: it says what the CA saw.
  for (const std::string& url : order.authorizations) {
    auto authz = Get(state, url, FetchAuthorization);
    if (!authz.ok()) continue;
    const Challenge* failed = authz->FailedChallenge();
    if (authz->status == "invalid" || failed != nullptr) {
      return absl::AbortedError(absl::StrCat(
          "order ", order.url, " is invalid: authorization for ", authz->identifier.value,
          " is ", authz->status,
          failed != nullptr
              ? absl::StrCat(": ", failed->type, ": ", ProblemText(*failed->error))
              : ""));
    }
  }
  return absl::AbortedError(absl::StrCat("order ", order.url, " is invalid",
                                         order.error ? ": " + ProblemText(*order.error) : ""));
}

absl::StatusOr<IssuedCertificate> OrderDriver::VerifyIssued(const RunState& state,
                                                            const std::string& pem) {
  auto chain = crypto::ParsePemChain(pem);
  if (!chain.ok()) return AnnotateStatus(chain.status(), "CA returned an unreadable chain");
  const crypto::Certificate& leaf = chain->front();
  if (!leaf.MatchesKey(state.cert_key)) {
    return absl::FailedPreconditionError(
        "CA returned a certificate whose public key is not the one in the CSR");
  }
  std::set<std::string> got;
  for (const std::string& n : leaf.DnsNames()) got.insert(n);
  for (const std::string& ip : leaf.IpAddresses()) got.insert(ip);
  std::set<std::string> want;
  for (const auto& id : state.request.identifiers) want.insert(id.value);
  if (got != want) {
    return absl::FailedPreconditionError(
        absl::StrCat("certificate names [", absl::StrJoin(got, ", "),
                     "] differ from the ordered [", absl::StrJoin(want, ", "), "]"));
  }
  IssuedCertificate issued;
  issued.chain_pem = pem;
  issued.leaf_serial_hex = leaf.SerialHex();
  issued.not_before = leaf.NotBefore();
  issued.not_after = leaf.NotAfter();
  issued.issuer = leaf.Issuer();
  return issued;
}

absl::StatusOr<IssuedCertificate> OrderDriver::Run(const OrderRequest& request,
                                                   const crypto::PrivateKey& cert_key,
                                                   OrderProgress* progress, ProgressSink* sink,
                                                   ChallengeSolver* solver) {
  if (request.identifiers.empty()) {
    return absl::InvalidArgumentError("an order needs at least one identifier");
  }
  RunState state{request, cert_key, progress, sink, solver,
                 request.challenge_preference.empty() ? DefaultChallengePreference()
                                                      : request.challenge_preference,
                 JoinNames(request.identifiers),
                 {}};
  if (client_->clock()->Now() > request.deadline) {
    return absl::DeadlineExceededError(
        absl::StrCat("issuance deadline already passed (names ", state.names, ")"));
  }
  RETURN_IF_ERROR(CheckCancelled(request, state.names));

  Order order;
  int finalize_attempts = 0;
  absl::Status last_finalize_error;
  bool need_new = progress->order_url.empty();
  if (!need_new) {
    ASSIGN_OR_RETURN(order, Resume(state, &need_new));
  }
  if (need_new) {
    ASSIGN_OR_RETURN(order, PlaceOrder(state));
  }

  while (true) {
    if (order.status == "pending") {
      RETURN_IF_ERROR(Save(state, kStepAuthorizing));
      RETURN_IF_ERROR(Authorize(state, order));
      ASSIGN_OR_RETURN(order, Get(state, order.url, FetchOrder));
      if (order.status == "pending") {
        ASSIGN_OR_RETURN(order, PollOrder(state, order.url, "pending"));
      }
    } else if (order.status == "ready") {
      if (finalize_attempts >= kMaxFinalizeAttempts) {
        return AnnotateStatus(last_finalize_error,
                              absl::StrCat("finalize failed ", finalize_attempts, " times"));
      }
      if (progress->finalize_sent && finalize_attempts == 0) {
        CF_LOG(INFO) << "order still ready after an interrupted finalize; finalizing"
                     << Kv("issuance", request.issuance_id) << Kv("order", order.url);
      }
      std::string csr_der;
      if (!progress->csr_der_b64.empty()) {
        ASSIGN_OR_RETURN(csr_der, crypto::Base64UrlDecode(progress->csr_der_b64));
      } else {
        std::vector<std::string> dns, ips;
        for (const auto& id : request.identifiers) {
          (id.type == identifiers::IdentifierType::kIp ? ips : dns).push_back(id.value);
        }
        ASSIGN_OR_RETURN(csr_der, crypto::CreateCsrDer(dns, ips, cert_key));
        progress->csr_der_b64 = crypto::Base64UrlEncode(csr_der);
      }
      if (order.finalize.empty()) order.finalize = progress->finalize_url;
      progress->finalize_sent = true;
      RETURN_IF_ERROR(Save(state, kStepFinalizing));
      ++finalize_attempts;
      const std::string order_url = order.url;
      auto finalized = FinalizeOrder(*client_, order, csr_der);
      if (finalized.ok()) {
        order = *std::move(finalized);
        NoteRetryAfter(state.not_before, order.url, order.retry_after);
        continue;
      }
      if (!FinalizeRetryable(finalized.status())) return finalized.status();
      // The CA may have acted on it (a timeout) or may be lagging (orderNotReady): look at
      // the order before finalizing again, so a finalize is never sent twice blindly.
      last_finalize_error = finalized.status();
      CF_LOG(WARNING) << "finalize failed; fetching the order before any retry"
                      << Kv("issuance", request.issuance_id) << Kv("order", order_url)
                      << Kv("error", finalized.status().message());
      absl::Duration interval = options_.initial_poll_interval;
      RETURN_IF_ERROR(WaitBeforePoll(state, order_url, &interval));
      ASSIGN_OR_RETURN(order, Get(state, order_url, FetchOrder));
    } else if (order.status == "processing") {
      ASSIGN_OR_RETURN(order, PollOrder(state, order.url, "processing"));
    } else if (order.status == "valid") {
      if (order.certificate.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("valid order ", order.url, " has no certificate URL"));
      }
      progress->certificate_url = order.certificate;
      RETURN_IF_ERROR(Save(state, kStepDownloading));
      ASSIGN_OR_RETURN(std::string pem,
                       DownloadCertificate(*client_, order.certificate, request.preferred_chain));
      ASSIGN_OR_RETURN(IssuedCertificate issued, VerifyIssued(state, pem));
      RETURN_IF_ERROR(Save(state, kStepDone));
      CF_LOG(INFO) << "certificate issued" << Kv("issuance", request.issuance_id)
                   << Kv("names", state.names) << Kv("serial", issued.leaf_serial_hex);
      return issued;
    } else if (order.status == "invalid") {
      return InvalidOrderError(state, order);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("order ", order.url, " has unknown status \"", order.status, "\""));
    }
  }
}

}  // namespace certfleet::acme
