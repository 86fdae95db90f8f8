#include "server/agents/agent_connection.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/acme/challenge_solver.h"

namespace certfleet::agents {

AckWaiter::AckWaiter(std::string agent_id, std::string message_id, std::string what,
                     absl::Time deadline)
    : agent_id_(std::move(agent_id)),
      message_id_(std::move(message_id)),
      what_(std::move(what)),
      deadline_(deadline) {}

absl::StatusOr<AckResult> AckWaiter::Wait() {
  {
    absl::MutexLock lock(&mu_);
    auto resolved = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return result_.has_value(); };
    mu_.AwaitWithDeadline(absl::Condition(&resolved), deadline_);
    if (result_.has_value()) return *result_;
  }
  ResolveDeadlineExceeded();
  absl::MutexLock lock(&mu_);
  return *result_;
}

std::optional<absl::StatusOr<AckResult>> AckWaiter::TryGet() const {
  absl::MutexLock lock(&mu_);
  return result_;
}

void AckWaiter::OnResolved(std::function<void(const absl::StatusOr<AckResult>&)> callback) {
  std::optional<absl::StatusOr<AckResult>> result;
  {
    absl::MutexLock lock(&mu_);
    if (!result_.has_value()) {
      callbacks_.push_back(std::move(callback));
      return;
    }
    result = result_;
  }
  callback(*result);
}

bool AckWaiter::Resolve(absl::StatusOr<AckResult> result) {
  std::vector<std::function<void(const absl::StatusOr<AckResult>&)>> callbacks;
  absl::StatusOr<AckResult> copy;
  {
    absl::MutexLock lock(&mu_);
    if (result_.has_value()) return false;
    result_ = std::move(result);
    copy = *result_;
    callbacks.swap(callbacks_);
  }
  for (auto& callback : callbacks) callback(copy);
  return true;
}

bool AckWaiter::ResolveWentAway() {
  return Resolve(absl::UnavailableError(absl::StrCat(
      "agent ", agent_id_, " went away (stream closed) before acknowledging ", what_)));
}

bool AckWaiter::ResolveDeadlineExceeded() {
  return Resolve(absl::DeadlineExceededError(
      absl::StrCat("agent ", agent_id_, " did not acknowledge ", what_, " by the deadline")));
}

bool AgentConnection::HasCapability(v1::ChallengeType type) const {
  const auto& caps = description().capabilities;
  return std::find(caps.begin(), caps.end(), type) != caps.end();
}

v1::ChallengeType ChallengeTypeFromString(const std::string& type) {
  if (type == acme::kTlsAlpn01) return v1::CHALLENGE_TYPE_TLS_ALPN_01;
  if (type == acme::kHttp01) return v1::CHALLENGE_TYPE_HTTP_01;
  if (type == acme::kDns01) return v1::CHALLENGE_TYPE_DNS_01;
  return v1::CHALLENGE_TYPE_UNSPECIFIED;
}

std::string ChallengeTypeName(v1::ChallengeType type) {
  switch (type) {
    case v1::CHALLENGE_TYPE_TLS_ALPN_01:
      return acme::kTlsAlpn01;
    case v1::CHALLENGE_TYPE_HTTP_01:
      return acme::kHttp01;
    case v1::CHALLENGE_TYPE_DNS_01:
      return acme::kDns01;
    default:
      return "unspecified";
  }
}

v1::Identifier ToProto(const identifiers::Identifier& id) {
  v1::Identifier out;
  out.set_type(id.type == identifiers::IdentifierType::kIp ? v1::Identifier::TYPE_IP
                                                           : v1::Identifier::TYPE_DNS);
  out.set_value(id.value);
  return out;
}

}  // namespace certfleet::agents
