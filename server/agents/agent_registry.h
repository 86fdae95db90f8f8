#pragma once

// The registry of connected agents, keyed by agent id and by the names they serve.
// Thread-safe. It never calls into a connection while holding its own lock, so connections
// may call it while holding theirs.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/identifiers/identifier.h"
#include "server/agents/agent_connection.h"

namespace certfleet::agents {

class AgentRegistry {
 public:
  AgentRegistry() = default;
  AgentRegistry(const AgentRegistry&) = delete;
  AgentRegistry& operator=(const AgentRegistry&) = delete;

  // Registers `connection` under description().agent_id. Returns the connection it replaced
  // (same agent id), which the caller must Close, or null.
  std::shared_ptr<AgentConnection> Register(std::shared_ptr<AgentConnection> connection);
  // Removes `connection` if it is still the one registered for its agent id; no-op otherwise.
  void Unregister(const AgentConnection* connection);

  // The connection registered for `agent_id`, or null.
  std::shared_ptr<AgentConnection> Find(std::string_view agent_id) const;
  // Connections whose accepted names cover `id` (exact, or a "*.S" name covering "L.S"),
  // ordered by agent id.
  std::vector<std::shared_ptr<AgentConnection>> FindServing(
      const identifiers::Identifier& id) const;
  // Every registered connection, ordered by agent id.
  std::vector<std::shared_ptr<AgentConnection>> All() const;
  // Ids of the registered agents, sorted.
  std::vector<std::string> AgentIds() const;
  // Number of registered agents.
  size_t size() const;

  // Sends `message` to the agent registered as `agent_id`; see AgentConnection::Send.
  // Unavailable "agent X is not connected" when it is not registered.
  absl::StatusOr<std::shared_ptr<AckWaiter>> Send(std::string_view agent_id,
                                                  v1::ServerMessage message, std::string what,
                                                  absl::Time deadline);

  // Blocks until an agent is registered as `agent_id` (true) or `deadline` passes (false).
  bool WaitForAgent(std::string_view agent_id, absl::Time deadline) const;
  // Blocks until no agent is registered as `agent_id` (true) or `deadline` passes (false).
  bool WaitForAgentGone(std::string_view agent_id, absl::Time deadline) const;

 private:
  static std::string NameKey(const identifiers::Identifier& id);
  void IndexLocked(const AgentConnection& connection, bool add) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<AgentConnection>, std::less<>> agents_ ABSL_GUARDED_BY(mu_);
  // NameKey(accepted name) → agent ids.
  std::map<std::string, std::set<std::string>> by_name_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certfleet::agents
