#include "server/agents/agent_challenge_solver.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"

// CF_LOG with a level chosen at run time.
#define CF_LOG_AT(level)                      \
  if ((level) < ::certfleet::GetLogLevel()) { \
  } else                                      \
    ::certfleet::LogLine((level), __FILE__, __LINE__)

namespace certfleet::agents {
namespace {

constexpr size_t kMaxListedAgents = 10;

// "a, b, c" (at most kMaxListedAgents, then "and N more"), or "none".
std::string ListAgentIds(const std::vector<std::string>& ids) {
  if (ids.empty()) return "none";
  std::vector<std::string> shown(ids.begin(), ids.begin() + std::min(ids.size(), kMaxListedAgents));
  std::string out = absl::StrJoin(shown, ", ");
  if (ids.size() > shown.size()) absl::StrAppend(&out, " and ", ids.size() - shown.size(), " more");
  return out;
}

// Blocks until every waiter resolved or `deadline`; with `grace`, stops waiting for the rest
// `grace` after the first successful ack. Waiters still open afterwards resolve as
// DeadlineExceeded. Returns each waiter's result, in order.
std::vector<absl::StatusOr<AckResult>> WaitForAcks(
    const std::vector<std::shared_ptr<AckWaiter>>& waiters, absl::Time deadline,
    std::optional<absl::Duration> grace) {
  struct Group {
    absl::Mutex mu;
    size_t resolved ABSL_GUARDED_BY(mu) = 0;
    size_t successes ABSL_GUARDED_BY(mu) = 0;
  };
  auto group = std::make_shared<Group>();
  for (const auto& waiter : waiters) {
    waiter->OnResolved([group](const absl::StatusOr<AckResult>& result) {
      absl::MutexLock lock(&group->mu);
      ++group->resolved;
      if (result.ok() && result->success) ++group->successes;
    });
  }
  {
    const size_t n = waiters.size();
    absl::MutexLock lock(&group->mu);
    auto done_or_success = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(group->mu) {
      return group->resolved == n || (grace.has_value() && group->successes > 0);
    };
    group->mu.AwaitWithDeadline(absl::Condition(&done_or_success), deadline);
    if (grace.has_value() && group->resolved < n && group->successes > 0) {
      auto all_done = [&]()
                          ABSL_EXCLUSIVE_LOCKS_REQUIRED(group->mu) { return group->resolved == n; };
      group->mu.AwaitWithDeadline(absl::Condition(&all_done),
                                  std::min(deadline, absl::Now() + *grace));
    }
  }
  std::vector<absl::StatusOr<AckResult>> results;
  results.reserve(waiters.size());
  for (const auto& waiter : waiters) {
    waiter->ResolveDeadlineExceeded();  // no-op when already resolved
    results.push_back(*waiter->TryGet());
  }
  return results;
}

}  // namespace

AgentChallengeSolver::AgentChallengeSolver(AgentRegistry* registry,
                                           AgentChallengeSolverOptions options)
    : registry_(registry), options_(options) {}

std::string AgentChallengeSolver::TaskKey(const acme::ChallengeTask& task) {
  if (!task.challenge_url.empty()) return task.challenge_url;
  return absl::StrCat(task.type, "|", std::string(task.identifier.TypeString()), ":",
                      task.identifier.value, "|", task.token);
}

absl::StatusOr<std::vector<std::shared_ptr<AgentConnection>>> AgentChallengeSolver::Solvers(
    const identifiers::Identifier& id, const std::string& type) const {
  v1::ChallengeType wanted = ChallengeTypeFromString(type);
  if (wanted == v1::CHALLENGE_TYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat("unknown challenge type \"", type, "\""));
  }
  std::vector<std::shared_ptr<AgentConnection>> serving = registry_->FindServing(id);
  if (serving.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no connected agent serves ", id.value,
                     " (connected agents: ", ListAgentIds(registry_->AgentIds()), ")"));
  }
  std::vector<std::shared_ptr<AgentConnection>> capable;
  std::vector<std::string> others;
  for (auto& connection : serving) {
    if (connection->HasCapability(wanted)) {
      capable.push_back(std::move(connection));
    } else {
      std::vector<std::string> caps;
      for (auto c : connection->description().capabilities) caps.push_back(ChallengeTypeName(c));
      others.push_back(
          absl::StrCat(connection->description().agent_id, " [", absl::StrJoin(caps, " "), "]"));
    }
  }
  if (capable.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no connected agent serving ", id.value, " can answer ", type,
                     " (agents serving it: ", ListAgentIds(others), ")"));
  }
  return capable;
}

absl::Status AgentChallengeSolver::CanSolve(const identifiers::Identifier& id,
                                            const std::string& type) {
  return Solvers(id, type).status();
}

absl::Status AgentChallengeSolver::Present(const acme::ChallengeTask& task, absl::Time deadline) {
  auto solvers = Solvers(task.identifier, task.type);
  if (!solvers.ok()) return solvers.status();

  v1::ServerMessage message;
  v1::PresentChallenge* present = message.mutable_present_challenge();
  present->set_type(ChallengeTypeFromString(task.type));
  *present->mutable_identifier() = ToProto(task.identifier);
  present->set_token(task.token);
  present->set_key_authorization(task.key_authorization);
  present->set_issuance_id(task.issuance_id);
  std::string what = absl::StrCat("PresentChallenge ", task.type, " for ", task.identifier.value);

  std::vector<std::shared_ptr<AckWaiter>> waiters;
  const std::string key = TaskKey(task);
  {
    // Record before sending so CleanUp withdraws even if Present fails or times out.
    absl::MutexLock lock(&mu_);
    Presentation& record = presented_[key];
    record.task = task;
    for (const auto& connection : *solvers) {
      record.agents.push_back({connection, connection->description().agent_id, false});
    }
  }
  for (const auto& connection : *solvers) {
    waiters.push_back(connection->Send(message, what, deadline));
  }
  std::vector<absl::StatusOr<AckResult>> results =
      WaitForAcks(waiters, deadline, options_.straggler_grace);

  std::vector<std::string> errors;
  std::set<std::string> succeeded;
  bool refused = false, went_away = false;
  for (size_t i = 0; i < results.size(); ++i) {
    const std::string& agent_id = waiters[i]->agent_id();
    const auto& result = results[i];
    if (result.ok() && result->success) {
      succeeded.insert(agent_id);
    } else if (result.ok()) {
      refused = true;
      errors.push_back(absl::StrCat("agent ", agent_id, " could not present ", task.type, " for ",
                                    task.identifier.value, ": ", result->reason));
    } else {
      went_away |= result.status().code() == absl::StatusCode::kUnavailable;
      errors.push_back(std::string(result.status().message()));
    }
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = presented_.find(key);
    if (it != presented_.end()) {
      for (PresentedTo& to : it->second.agents) {
        if (succeeded.count(to.agent_id) != 0) to.acknowledged = true;
      }
    }
  }
  for (const std::string& error : errors) {
    CF_LOG_AT(succeeded.empty() ? LogLevel::kError : LogLevel::kWarning)
        << "agent did not present challenge" << Kv("issuance", task.issuance_id)
        << Kv("name", task.identifier.value) << Kv("type", task.type) << Kv("error", error);
  }
  if (!succeeded.empty()) {
    CF_LOG(INFO) << "challenge presented" << Kv("issuance", task.issuance_id)
                 << Kv("name", task.identifier.value) << Kv("type", task.type)
                 << Kv("agents", absl::StrJoin(succeeded, ","));
    return absl::OkStatus();
  }
  std::string detail = errors.size() == 1
                           ? errors.front()
                           : absl::StrCat("no agent presented ", task.type, " for ",
                                          task.identifier.value, ": ", absl::StrJoin(errors, "; "));
  if (refused) return absl::FailedPreconditionError(detail);
  if (went_away) return absl::UnavailableError(detail);
  return absl::DeadlineExceededError(detail);
}

void AgentChallengeSolver::CleanUp(const acme::ChallengeTask& task) {
  std::optional<Presentation> record;
  {
    absl::MutexLock lock(&mu_);
    auto it = presented_.find(TaskKey(task));
    if (it == presented_.end()) return;
    record = std::move(it->second);
    presented_.erase(it);
  }
  v1::ServerMessage message;
  v1::WithdrawChallenge* withdraw = message.mutable_withdraw_challenge();
  withdraw->set_type(ChallengeTypeFromString(task.type));
  *withdraw->mutable_identifier() = ToProto(task.identifier);
  withdraw->set_token(task.token);
  withdraw->set_issuance_id(task.issuance_id);
  std::string what = absl::StrCat("WithdrawChallenge ", task.type, " for ", task.identifier.value);
  absl::Time deadline = absl::Now() + options_.cleanup_wait;

  std::vector<std::shared_ptr<AckWaiter>> waiters;
  std::set<const AgentConnection*> sent;
  for (const PresentedTo& to : record->agents) {
    std::shared_ptr<AgentConnection> connection = to.connection.lock();
    if (connection == nullptr || !connection->IsOpen()) continue;  // gone: nothing presented
    if (!sent.insert(connection.get()).second) continue;
    waiters.push_back(connection->Send(message, what, deadline));
  }
  std::vector<absl::StatusOr<AckResult>> results = WaitForAcks(waiters, deadline, std::nullopt);
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok() && results[i]->success) continue;
    CF_LOG(WARNING) << "withdraw not acknowledged" << Kv("issuance", task.issuance_id)
                    << Kv("name", task.identifier.value) << Kv("agent", waiters[i]->agent_id())
                    << Kv("error",
                          results[i].ok() ? results[i]->reason : results[i].status().ToString());
  }
}

bool AgentChallengeSolver::StillPresented(const acme::ChallengeTask& task) const {
  return CheckStillPresented(task).ok();
}

absl::Status AgentChallengeSolver::CheckStillPresented(const acme::ChallengeTask& task) const {
  absl::MutexLock lock(&mu_);
  auto it = presented_.find(TaskKey(task));
  if (it == presented_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat(task.type, " for ", task.identifier.value, " is not presented by any agent"));
  }
  std::vector<std::string> gone;
  for (const PresentedTo& to : it->second.agents) {
    if (!to.acknowledged) continue;
    std::shared_ptr<AgentConnection> connection = to.connection.lock();
    if (connection != nullptr && connection->IsOpen()) return absl::OkStatus();
    gone.push_back(to.agent_id);
  }
  if (gone.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no agent acknowledged ", task.type, " for ", task.identifier.value));
  }
  return absl::UnavailableError(absl::StrCat("agent ", absl::StrJoin(gone, ", "),
                                             " went away (stream closed) after presenting ",
                                             task.type, " for ", task.identifier.value));
}

absl::StatusOr<std::vector<InstallResult>> AgentChallengeSolver::InstallCertificate(
    const InstallRequest& request, absl::Time deadline) {
  if (request.names.empty() || request.certificate_name.empty()) {
    return absl::InvalidArgumentError("InstallCertificate needs a certificate name and names");
  }
  std::map<std::string, std::shared_ptr<AgentConnection>> targets;  // by agent id
  for (const identifiers::Identifier& name : request.names) {
    for (auto& connection : registry_->FindServing(name)) {
      if (connection->description().installs_certificates) {
        targets.emplace(connection->description().agent_id, std::move(connection));
      }
    }
  }
  std::vector<std::string> names;
  for (const auto& id : request.names) names.push_back(id.value);
  if (targets.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no connected agent that installs certificates serves any of ", absl::StrJoin(names, ", "),
        " (connected agents: ", ListAgentIds(registry_->AgentIds()), ")"));
  }
  v1::ServerMessage message;
  v1::InstallCertificate* install = message.mutable_install_certificate();
  install->set_certificate_name(request.certificate_name);
  install->set_fullchain_pem(request.fullchain_pem);
  install->set_private_key_pem(request.private_key_pem);
  install->set_serial(request.serial);
  for (const auto& name : names) install->add_names(name);
  std::string what = absl::StrCat("InstallCertificate ", request.certificate_name, " (serial ",
                                  request.serial, ")");

  std::vector<std::shared_ptr<AckWaiter>> waiters;
  for (const auto& [agent_id, connection] : targets) {
    waiters.push_back(connection->Send(message, what, deadline));
  }
  std::vector<absl::StatusOr<AckResult>> results = WaitForAcks(waiters, deadline, std::nullopt);
  std::vector<InstallResult> out;
  for (size_t i = 0; i < results.size(); ++i) {
    InstallResult r;
    r.agent_id = waiters[i]->agent_id();
    if (results[i].ok()) {
      r.success = results[i]->success;
      r.reason = results[i]->reason;
      r.reload_exit_status = results[i]->reload_exit_status;
      r.install_path = results[i]->install_path;
    } else {
      r.reason = std::string(results[i].status().message());
    }
    CF_LOG_AT(r.success ? LogLevel::kInfo : LogLevel::kWarning)
        << "certificate install" << Kv("certificate", request.certificate_name)
        << Kv("serial", request.serial) << Kv("agent", r.agent_id) << Kv("success", r.success)
        << Kv("reason", r.reason) << Kv("reload_exit_status", r.reload_exit_status)
        << Kv("path", r.install_path);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace certfleet::agents
