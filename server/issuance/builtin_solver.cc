#include "server/issuance/builtin_solver.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace certfleet::issuance {

absl::StatusOr<std::unique_ptr<BuiltinSolver>> BuiltinSolver::Start(
    const std::string& tls_alpn_listen, const std::string& http01_listen) {
  std::unique_ptr<BuiltinSolver> solver(new BuiltinSolver());
  if (!tls_alpn_listen.empty()) {
    ASSIGN_OR_RETURN(solver->tls_, responder::TlsAlpnResponder::Start(tls_alpn_listen));
  }
  if (!http01_listen.empty()) {
    ASSIGN_OR_RETURN(solver->http_, responder::Http01Responder::Start(http01_listen));
  }
  return solver;
}

BuiltinSolver::~BuiltinSolver() { Stop(); }

void BuiltinSolver::Stop() {
  if (tls_) tls_->Stop();
  if (http_) http_->Stop();
}

int BuiltinSolver::tls_alpn_port() const { return tls_ ? tls_->port() : 0; }
int BuiltinSolver::http01_port() const { return http_ ? http_->port() : 0; }

absl::Status BuiltinSolver::CanSolve(const identifiers::Identifier& id, const std::string& type) {
  if (type == acme::kTlsAlpn01 && tls_) return absl::OkStatus();
  if (type == acme::kHttp01 && http_ && !id.IsWildcard()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the built-in solver cannot answer ", type, " for ", id.value,
      type == acme::kTlsAlpn01 || type == acme::kHttp01 ? " (no listener configured)" : ""));
}

absl::Status BuiltinSolver::Present(const acme::ChallengeTask& task, absl::Time deadline) {
  RETURN_IF_ERROR(CanSolve(task.identifier, task.type));
  if (task.type == acme::kTlsAlpn01) {
    return tls_->AddChallenge(task.identifier.value,
                              task.identifier.type == identifiers::IdentifierType::kIp,
                              task.key_authorization);
  }
  return http_->AddToken(task.token, task.key_authorization);
}

void BuiltinSolver::CleanUp(const acme::ChallengeTask& task) {
  if (task.type == acme::kTlsAlpn01 && tls_) {
    tls_->RemoveChallenge(task.identifier.value,
                          task.identifier.type == identifiers::IdentifierType::kIp);
  } else if (task.type == acme::kHttp01 && http_) {
    http_->RemoveToken(task.token);
  }
}

}  // namespace certfleet::issuance
