#include "server/acme/acme_client.h"

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

}  // namespace

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
  return Post(url, payload, /*use_jwk=*/false, "");
}

absl::StatusOr<AcmeResponse> AcmeClient::SignedPostWithJwk(const std::string& url,
                                                           const nlohmann::json& payload) {
  return Post(url, payload, /*use_jwk=*/true, "");
}

absl::StatusOr<AcmeResponse> AcmeClient::PostAsGet(const std::string& url,
                                                   const std::string& accept) {
  return Post(url, std::nullopt, /*use_jwk=*/false, accept);
}

}  // namespace certfleet::acme
