#include "server/acme/acme_client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/crypto/jws.h"
#include "common/crypto/key_authorization.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "server/acme/problem.h"

namespace certfleet::acme {
namespace {

AcmeResponse ToAcmeResponse(HttpResponse http) {
  AcmeResponse out;
  out.status = http.status;
  out.headers = std::move(http.headers);
  out.body = std::move(http.body);
  bool json_type = out.headers.Get("Content-Type").find("json") != std::string::npos;
  if (!out.body.empty() && (json_type || out.body.front() == '{')) {
    out.json = nlohmann::json::parse(out.body, nullptr, /*allow_exceptions=*/false);
    if (out.json.is_discarded()) out.json = nullptr;
  }
  return out;
}

// True for the errors that mean "the CA is unavailable right now": a connection failure or
// timeout, or an HTTP 5xx (an HTML page from a CDN, a serverInternal problem). Not badNonce.
bool IsCaUnavailable(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable) return false;
  if (ProblemTypeOf(status) == absl::StrCat(kProblemPrefix, "badNonce")) return false;
  int http = HttpStatusOf(status);
  return http == 0 || http >= 500;
}

}  // namespace

bool AcmeClient::BackOff(const absl::Status& error, absl::Duration* backoff) {
  absl::Time now = clock_->Now();
  absl::Time until = now + *backoff;
  std::optional<absl::Time> retry_after = RetryAfterOf(error);
  if (retry_after && *retry_after > until) {
    if (*retry_after - now > options_.max_unavailable_backoff) return false;
    until = *retry_after;
  }
  *backoff = std::min(*backoff * 2, options_.max_unavailable_backoff);
  clock_->SleepUntil(until);
  return true;
}

AcmeClient::AcmeClient(std::shared_ptr<HttpTransport> transport, AcmeClientOptions options)
    : transport_(std::move(transport)),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : RealClock()) {}

absl::StatusOr<HttpResponse> AcmeClient::SendAndCollectNonce(const HttpRequest& request) {
  ASSIGN_OR_RETURN(HttpResponse response, transport_->Send(request));
  nonces_.Add(response.headers.Get("Replay-Nonce"));
  return response;
}

absl::StatusOr<Directory> AcmeClient::GetDirectory() {
  absl::MutexLock lock(&directory_mu_);
  if (directory_) return *directory_;
  absl::Duration backoff = options_.unavailable_backoff;
  const int attempts = std::max(1, options_.max_unavailable_attempts);
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<Directory> dir = FetchDirectoryOnce();
    if (dir.ok() || !IsCaUnavailable(dir.status())) return dir;
    if (attempt >= attempts || !BackOff(dir.status(), &backoff)) {
      return AnnotateStatus(dir.status(), absl::StrCat("gave up after ", attempt, " attempts"));
    }
    CF_LOG(WARNING) << "CA unavailable, retrying" << Kv("url", options_.directory_url)
                    << Kv("attempt", attempt) << Kv("error", dir.status().message());
  }
}

absl::StatusOr<Directory> AcmeClient::FetchDirectoryOnce() {
  HttpRequest request{"GET", options_.directory_url, {{"Accept", "application/json"}}, ""};
  ASSIGN_OR_RETURN(HttpResponse response, SendAndCollectNonce(request));
  if (response.status / 100 != 2) {
    return AnnotateStatus(ErrorResponseToStatus(response, clock_->Now()),
                          absl::StrCat("fetching ACME directory ", options_.directory_url));
  }
  nlohmann::json json = nlohmann::json::parse(response.body, nullptr, false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ACME directory ", options_.directory_url, " is not JSON"));
  }
  ASSIGN_OR_RETURN(Directory dir, Directory::FromJson(json));
  directory_ = dir;
  return dir;
}

void AcmeClient::SetAccountKey(crypto::PrivateKey key) {
  auto shared = std::make_shared<const crypto::PrivateKey>(std::move(key));
  absl::MutexLock lock(&mu_);
  account_key_ = std::move(shared);
}

std::shared_ptr<const crypto::PrivateKey> AcmeClient::account_key() const {
  absl::MutexLock lock(&mu_);
  return account_key_;
}

void AcmeClient::set_account_url(std::string url) {
  absl::MutexLock lock(&mu_);
  account_url_ = std::move(url);
}

std::string AcmeClient::account_url() const {
  absl::MutexLock lock(&mu_);
  return account_url_;
}

absl::StatusOr<std::string> AcmeClient::KeyAuthorization(const std::string& token) const {
  auto key = account_key();
  if (key == nullptr) return absl::FailedPreconditionError("ACME client has no account key");
  return crypto::KeyAuthorization(token, *key);
}

absl::StatusOr<std::string> AcmeClient::FreshNonce() {
  if (auto nonce = nonces_.Take()) return *nonce;
  ASSIGN_OR_RETURN(Directory dir, GetDirectory());
  HttpRequest request{"HEAD", dir.new_nonce, {}, ""};
  ASSIGN_OR_RETURN(HttpResponse response, transport_->Send(request));
  if (response.status / 100 != 2) {
    return AnnotateStatus(ErrorResponseToStatus(response, clock_->Now()), "newNonce");
  }
  std::string nonce = response.headers.Get("Replay-Nonce");
  if (nonce.empty()) {
    return absl::UnavailableError(
        absl::StrCat("newNonce ", dir.new_nonce, " answered without a Replay-Nonce"));
  }
  return nonce;
}

absl::StatusOr<AcmeResponse> AcmeClient::Post(const std::string& url,
                                              const std::optional<nlohmann::json>& payload,
                                              bool use_jwk, const std::string& accept,
                                              bool retry_unavailable) {
  absl::Duration backoff = options_.unavailable_backoff;
  absl::Duration not_found_delay = options_.not_found_delay;
  const int unavailable_attempts =
      retry_unavailable ? std::max(1, options_.max_unavailable_attempts) : 1;
  const int not_found_attempts = payload ? 1 : std::max(1, options_.max_not_found_attempts);
  int unavailable = 0;
  int not_found = 0;
  while (true) {
    absl::StatusOr<AcmeResponse> response = PostOnce(url, payload, use_jwk, accept);
    if (response.ok()) return response;
    const absl::Status& error = response.status();
    if (IsCaUnavailable(error)) {
      if (++unavailable >= unavailable_attempts) {
        if (unavailable_attempts == 1) return error;
        return AnnotateStatus(error,
                              absl::StrCat("gave up after ", unavailable, " attempts"));
      }
      if (!BackOff(error, &backoff)) return error;
      CF_LOG(WARNING) << "CA unavailable, retrying" << Kv("url", url)
                      << Kv("attempt", unavailable) << Kv("error", error.message());
      continue;
    }
    if (HttpStatusOf(error) == 404 && ++not_found < not_found_attempts) {
      // Replica lag: a resource the CA has just announced may 404 for a moment.
      CF_LOG(INFO) << "CA says not found; looking again" << Kv("url", url)
                   << Kv("attempt", not_found);
      clock_->SleepUntil(clock_->Now() + not_found_delay);
      not_found_delay = std::min(not_found_delay * 2, options_.max_unavailable_backoff);
      continue;
    }
    return error;
  }
}

absl::StatusOr<AcmeResponse> AcmeClient::PostOnce(const std::string& url,
                                                  const std::optional<nlohmann::json>& payload,
                                                  bool use_jwk, const std::string& accept) {
  std::shared_ptr<const crypto::PrivateKey> key;
  std::string kid;
  {
    absl::MutexLock lock(&mu_);
    key = account_key_;
    kid = account_url_;
  }
  if (key == nullptr) return absl::FailedPreconditionError("ACME client has no account key");
  if (!use_jwk && kid.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no ACME account URL (register or look up the account first) for POST ",
                     url));
  }
  const std::string payload_text = payload ? payload->dump() : "";
  std::optional<std::string> next_nonce;
  absl::Status last_error;
  const int attempts = options_.max_nonce_attempts < 1 ? 1 : options_.max_nonce_attempts;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    std::string nonce;
    if (next_nonce) {
      nonce = std::move(*next_nonce);
      next_nonce.reset();
    } else {
      ASSIGN_OR_RETURN(nonce, FreshNonce());
    }
    crypto::JwsHeader header{url, nonce, use_jwk ? "" : kid};
    ASSIGN_OR_RETURN(nlohmann::json jws, crypto::SignJws(*key, header, payload_text));
    HttpRequest request{"POST", url, {{"Content-Type", kJoseJson}}, jws.dump()};
    if (!accept.empty()) request.headers.emplace_back("Accept", accept);
    ASSIGN_OR_RETURN(HttpResponse response, transport_->Send(request));
    std::string reply_nonce = response.headers.Get("Replay-Nonce");
    if (response.status / 100 == 2) {
      nonces_.Add(reply_nonce);
      return ToAcmeResponse(std::move(response));
    }
    absl::Status error = ErrorResponseToStatus(response, clock_->Now());
    if (ProblemTypeOf(error) == absl::StrCat(kProblemPrefix, "badNonce")) {
      CF_LOG(DEBUG) << "badNonce, retrying" << Kv("url", url) << Kv("attempt", attempt);
      if (!reply_nonce.empty()) next_nonce = reply_nonce;
      last_error = error;
      continue;
    }
    nonces_.Add(reply_nonce);
    return error;
  }
  return AnnotateStatus(last_error, absl::StrCat("gave up after ", attempts, " attempts"));
}

absl::StatusOr<AcmeResponse> AcmeClient::SignedPost(const std::string& url,
                                                    const nlohmann::json& payload) {
  return Post(url, payload, /*use_jwk=*/false, "", /*retry_unavailable=*/true);
}

absl::StatusOr<AcmeResponse> AcmeClient::SignedPostOnce(const std::string& url,
                                                        const nlohmann::json& payload) {
  return Post(url, payload, /*use_jwk=*/false, "", /*retry_unavailable=*/false);
}

absl::StatusOr<AcmeResponse> AcmeClient::SignedPostWithJwk(const std::string& url,
                                                           const nlohmann::json& payload) {
  return Post(url, payload, /*use_jwk=*/true, "", /*retry_unavailable=*/true);
}

absl::StatusOr<AcmeResponse> AcmeClient::PostAsGet(const std::string& url,
                                                   const std::string& accept) {
  return Post(url, std::nullopt, /*use_jwk=*/false, accept, /*retry_unavailable=*/true);
}

}  // namespace certfleet::acme
