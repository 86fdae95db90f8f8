#include "server/agents/agent_registry.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace certfleet::agents {

std::string AgentRegistry::NameKey(const identifiers::Identifier& id) {
  return absl::StrCat(std::string(id.TypeString()), ":", id.value);
}

void AgentRegistry::IndexLocked(const AgentConnection& connection, bool add) {
  const AgentDescription& desc = connection.description();
  for (const identifiers::Identifier& name : desc.names) {
    std::string key = NameKey(name);
    if (add) {
      by_name_[key].insert(desc.agent_id);
    } else {
      auto it = by_name_.find(key);
      if (it == by_name_.end()) continue;
      it->second.erase(desc.agent_id);
      if (it->second.empty()) by_name_.erase(it);
    }
  }
}

std::shared_ptr<AgentConnection> AgentRegistry::Register(
    std::shared_ptr<AgentConnection> connection) {
  absl::MutexLock lock(&mu_);
  const std::string& id = connection->description().agent_id;
  std::shared_ptr<AgentConnection> old;
  auto it = agents_.find(id);
  if (it != agents_.end()) {
    old = std::move(it->second);
    IndexLocked(*old, /*add=*/false);
    agents_.erase(it);
  }
  IndexLocked(*connection, /*add=*/true);
  agents_.emplace(id, std::move(connection));
  return old;
}

void AgentRegistry::Unregister(const AgentConnection* connection) {
  absl::MutexLock lock(&mu_);
  auto it = agents_.find(connection->description().agent_id);
  if (it == agents_.end() || it->second.get() != connection) return;
  IndexLocked(*connection, /*add=*/false);
  agents_.erase(it);
}

std::shared_ptr<AgentConnection> AgentRegistry::Find(std::string_view agent_id) const {
  absl::MutexLock lock(&mu_);
  auto it = agents_.find(agent_id);
  return it == agents_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<AgentConnection>> AgentRegistry::FindServing(
    const identifiers::Identifier& id) const {
  std::set<std::string> ids;
  absl::MutexLock lock(&mu_);
  auto add = [&](const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = by_name_.find(key);
    if (it != by_name_.end()) ids.insert(it->second.begin(), it->second.end());
  };
  add(NameKey(id));
  if (id.type == identifiers::IdentifierType::kDns && !id.IsWildcard()) {
    size_t dot = id.value.find('.');
    if (dot != std::string::npos) {
      identifiers::Identifier wildcard{identifiers::IdentifierType::kDns,
                                       absl::StrCat("*", id.value.substr(dot))};
      add(NameKey(wildcard));
    }
  }
  std::vector<std::shared_ptr<AgentConnection>> out;
  for (const std::string& agent_id : ids) {
    auto it = agents_.find(agent_id);
    if (it != agents_.end()) out.push_back(it->second);
  }
  return out;
}

std::vector<std::shared_ptr<AgentConnection>> AgentRegistry::All() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<AgentConnection>> out;
  out.reserve(agents_.size());
  for (const auto& [id, connection] : agents_) out.push_back(connection);
  return out;
}

std::vector<std::string> AgentRegistry::AgentIds() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  out.reserve(agents_.size());
  for (const auto& [id, connection] : agents_) out.push_back(id);
  return out;
}

size_t AgentRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return agents_.size();
}

absl::StatusOr<std::shared_ptr<AckWaiter>> AgentRegistry::Send(std::string_view agent_id,
                                                               v1::ServerMessage message,
                                                               std::string what,
                                                               absl::Time deadline) {
  std::shared_ptr<AgentConnection> connection = Find(agent_id);
  if (connection == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("agent ", std::string(agent_id), " is not connected"));
  }
  return connection->Send(std::move(message), std::move(what), deadline);
}

bool AgentRegistry::WaitForAgent(std::string_view agent_id, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto present = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return agents_.count(agent_id) != 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&present), deadline);
}

bool AgentRegistry::WaitForAgentGone(std::string_view agent_id, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto gone = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return agents_.count(agent_id) == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&gone), deadline);
}

}  // namespace certfleet::agents
