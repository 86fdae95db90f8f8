#include "client/agent/challenge_handler.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/agent/atomic_file.h"
#include "common/identifiers/identifier.h"
#include "common/log.h"

namespace certfleet::agent {
namespace {

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_';
}

bool IsBase64Url(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsBase64UrlChar(c)) return false;
  }
  return true;
}

std::string TypeName(v1::ChallengeType type) {
  switch (type) {
    case v1::CHALLENGE_TYPE_TLS_ALPN_01: return "tls-alpn-01";
    case v1::CHALLENGE_TYPE_HTTP_01: return "http-01";
    case v1::CHALLENGE_TYPE_DNS_01: return "dns-01";
    default: return absl::StrCat("challenge type ", static_cast<int>(type));
  }
}

}  // namespace

bool IsValidChallengeToken(const std::string& token) {
  return token.size() <= 256 && IsBase64Url(token);
}

absl::Status CheckKeyAuthorization(const std::string& token,
                                   const std::string& key_authorization) {
  size_t dot = key_authorization.find('.');
  if (dot == std::string::npos || key_authorization.substr(0, dot) != token ||
      !IsBase64Url(absl::string_view(key_authorization).substr(dot + 1))) {
    return absl::InvalidArgumentError(
        "key authorization is not of the form <token>.<base64url thumbprint> for this token");
  }
  return absl::OkStatus();
}

ChallengeHandler::ChallengeHandler(Options options, AgentStatus* status)
    : options_(std::move(options)),
      status_(status),
      configured_(options_.names.begin(), options_.names.end()),
      accepted_(configured_) {}

ChallengeHandler::~ChallengeHandler() { WithdrawAll(); }

std::vector<v1::ChallengeType> ChallengeHandler::Capabilities() const {
  std::vector<v1::ChallengeType> caps;
  if (options_.tls_alpn != nullptr) caps.push_back(v1::CHALLENGE_TYPE_TLS_ALPN_01);
  if (options_.http01 != nullptr || !options_.http01_webroot.empty()) {
    caps.push_back(v1::CHALLENGE_TYPE_HTTP_01);
  }
  return caps;
}

void ChallengeHandler::SetAcceptedNames(const std::vector<std::string>& accepted) {
  absl::MutexLock lock(&mu_);
  accepted_.clear();
  for (const std::string& name : accepted) {
    if (configured_.count(name)) {
      accepted_.insert(name);
    } else {
      CF_LOG(WARNING) << "server accepted a name this agent was not configured for; ignored"
                      << Kv("name", name);
    }
  }
}

void ChallengeHandler::ResetAcceptedNames() {
  absl::MutexLock lock(&mu_);
  accepted_ = configured_;
}

absl::Status ChallengeHandler::CheckIdentifier(const v1::Identifier& identifier,
                                               std::string* name, std::string* responder_name,
                                               bool* is_ip) const {
  absl::StatusOr<identifiers::Identifier> id =
      identifiers::NormalizeIdentifier(identifier.value());
  if (!id.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed identifier: ", id.status().message()));
  }
  *is_ip = id->type == identifiers::IdentifierType::kIp;
  if ((identifier.type() == v1::Identifier::TYPE_IP) != *is_ip) {
    return absl::InvalidArgumentError(absl::StrCat(
        "identifier \"", identifier.value(), "\" does not match its type ",
        v1::Identifier::Type_Name(identifier.type())));
  }
  *name = id->value;
  // The validation SNI of a wildcard is its base name (RFC 8555 section 7.1.3).
  *responder_name = id->IsWildcard() ? id->value.substr(2) : id->value;

  auto served = [&](const std::string& n) { return accepted_.count(n) > 0; };
  bool ok = served(*name);
  if (!ok && !*is_ip && !id->IsWildcard()) {
    // "*.example.com" covers "example.com" (validated for the wildcard) and one label below.
    ok = served(absl::StrCat("*.", *name));
    size_t dot = name->find('.');
    if (!ok && dot != std::string::npos) ok = served(absl::StrCat("*", name->substr(dot)));
  }
  if (!ok) {
    const char* why = configured_.count(*name) ? "was not accepted by the server"
                                               : "is not served by this agent";
    return absl::FailedPreconditionError(absl::StrCat("name \"", *name, "\" ", why));
  }
  return absl::OkStatus();
}

std::string ChallengeHandler::Key(v1::ChallengeType type, const std::string& responder_name,
                                  const std::string& token) {
  return type == v1::CHALLENGE_TYPE_TLS_ALPN_01 ? absl::StrCat("tls|", responder_name)
                                                : absl::StrCat("http|", token);
}

std::string ChallengeHandler::WebrootPath(const std::string& token) const {
  return absl::StrCat(options_.http01_webroot, "/.well-known/acme-challenge/", token);
}

absl::Status ChallengeHandler::Present(const v1::PresentChallenge& c) {
  const v1::ChallengeType type = c.type();
  if (type != v1::CHALLENGE_TYPE_TLS_ALPN_01 && type != v1::CHALLENGE_TYPE_HTTP_01) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported challenge type: ", TypeName(type)));
  }
  if (!IsValidChallengeToken(c.token())) {
    return absl::InvalidArgumentError("malformed token: expected 1-256 base64url characters");
  }
  absl::Status ka = CheckKeyAuthorization(c.token(), c.key_authorization());
  if (!ka.ok()) return ka;

  absl::MutexLock lock(&mu_);
  Presented p;
  p.type = type;
  p.token = c.token();
  absl::Status id_ok = CheckIdentifier(c.identifier(), &p.name, &p.responder_name, &p.is_ip);
  if (!id_ok.ok()) return id_ok;

  if (type == v1::CHALLENGE_TYPE_TLS_ALPN_01) {
    if (options_.tls_alpn == nullptr) {
      return absl::FailedPreconditionError("tls-alpn-01 is not configured on this agent");
    }
    absl::Status s = options_.tls_alpn->AddChallenge(p.responder_name, p.is_ip,
                                                     c.key_authorization());
    if (!s.ok()) return s;
  } else if (options_.http01 != nullptr) {
    absl::Status s = options_.http01->AddToken(c.token(), c.key_authorization());
    if (!s.ok()) return s;
  } else if (!options_.http01_webroot.empty()) {
    const std::string dir =
        absl::StrCat(options_.http01_webroot, "/.well-known/acme-challenge");
    absl::Status s = MakeDirectories(dir, 0755);
    if (s.ok()) s = WriteFileAtomically(WebrootPath(c.token()), c.key_authorization(), 0644);
    if (!s.ok()) return s;
  } else {
    return absl::FailedPreconditionError("http-01 is not configured on this agent");
  }
  const std::string name = p.name;
  presented_[Key(type, p.responder_name, p.token)] = std::move(p);
  CF_LOG(INFO) << "challenge presented" << Kv("type", TypeName(type)) << Kv("name", name)
               << Kv("issuance", c.issuance_id());
  if (status_ != nullptr) status_->RecordChallengePresented(name);
  return absl::OkStatus();
}

void ChallengeHandler::RemoveLocked(const Presented& p) {
  if (p.type == v1::CHALLENGE_TYPE_TLS_ALPN_01) {
    if (options_.tls_alpn != nullptr) options_.tls_alpn->RemoveChallenge(p.responder_name, p.is_ip);
  } else if (options_.http01 != nullptr) {
    options_.http01->RemoveToken(p.token);
  } else if (!options_.http01_webroot.empty()) {
    absl::Status s = RemoveFileDurably(WebrootPath(p.token));
    if (!s.ok()) {
      CF_LOG(WARNING) << "cannot remove webroot token file" << Kv("error", s.message());
    }
  }
  if (status_ != nullptr) status_->RecordChallengeWithdrawn(p.name);
}

absl::Status ChallengeHandler::Withdraw(const v1::WithdrawChallenge& c) {
  if (!IsValidChallengeToken(c.token())) {
    return absl::InvalidArgumentError("malformed token: expected 1-256 base64url characters");
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<identifiers::Identifier> id =
      identifiers::NormalizeIdentifier(c.identifier().value());
  if (!id.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed identifier: ", id.status().message()));
  }
  const std::string responder_name = id->IsWildcard() ? id->value.substr(2) : id->value;
  auto it = presented_.find(Key(c.type(), responder_name, c.token()));
  if (it == presented_.end() || it->second.token != c.token()) {
    CF_LOG(INFO) << "withdraw of a challenge not presented; nothing to do"
                 << Kv("type", TypeName(c.type())) << Kv("name", id->value)
                 << Kv("issuance", c.issuance_id());
    return absl::OkStatus();
  }
  RemoveLocked(it->second);
  CF_LOG(INFO) << "challenge withdrawn" << Kv("type", TypeName(c.type()))
               << Kv("name", it->second.name) << Kv("issuance", c.issuance_id());
  presented_.erase(it);
  return absl::OkStatus();
}

void ChallengeHandler::WithdrawAll() {
  absl::MutexLock lock(&mu_);
  if (presented_.empty()) return;
  CF_LOG(INFO) << "dropping all presented challenges" << Kv("count", presented_.size());
  for (const auto& [key, p] : presented_) RemoveLocked(p);
  presented_.clear();
}

size_t ChallengeHandler::PresentedCount() const {
  absl::MutexLock lock(&mu_);
  return presented_.size();
}

}  // namespace certfleet::agent
