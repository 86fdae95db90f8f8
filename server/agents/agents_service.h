#pragma once

// The server side of Agents.Connect: one callback reactor per agent stream (the pattern of
// gRPC's health service, STYLE.md "Concurrency"), registering accepted agents in an
// AgentRegistry. Also serves Agents.ListAgents.

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "certfleet/v1/agents.grpc.pb.h"
#include "common/clock.h"
#include "server/agents/agent_policy.h"
#include "server/agents/agent_registry.h"
#include "server/api/api_auth.h"

namespace certfleet::agents {

// Largest AgentMessage the server should accept; pass it to
// grpc::ServerBuilder::SetMaxReceiveMessageSize (1000 names of 253 bytes fit well).
inline constexpr int kRecommendedMaxReceiveMessageBytes = 1 << 20;
// Most names one Hello may list.
inline constexpr int kMaxHelloNames = 1000;

struct AgentsServiceOptions {
  // Who may connect and for which names. Default: deny every agent.
  AgentPolicy policy;
  // Sent in Welcome.heartbeat_interval_seconds.
  absl::Duration heartbeat_interval = absl::Seconds(15);
  // A registered agent silent for this long is disconnected (Unavailable). Zero: never.
  absl::Duration idle_timeout = absl::Seconds(60);
  // A stream that sends no Hello within this is ended (DeadlineExceeded). Zero: never.
  absl::Duration hello_timeout = absl::Seconds(30);
  // How often idle/hello timeouts are checked (a background thread).
  absl::Duration sweep_interval = absl::Seconds(1);
  // More messages than this from one stream within one second end it (ResourceExhausted).
  int max_messages_per_second = 200;
  // Messages queued to one agent beyond this are refused (the waiter resolves
  // ResourceExhausted).
  int max_queued_messages = 10000;
  // Time source for last-seen, rate limits and timeouts. Not owned; never null.
  Clock* clock = RealClock();
  // Checks every ListAgents call (not Connect: agents use `policy`). Not owned; null
  // leaves ListAgents open.
  const api::ApiAuthenticator* api_auth = nullptr;
};

class AgentStream;

// The Agents gRPC service. `registry` is not owned and must outlive the service; the gRPC
// server must be shut down before the service is destroyed.
class AgentsService final : public certfleet::v1::Agents::CallbackService {
 public:
  AgentsService(AgentRegistry* registry, AgentsServiceOptions options);
  ~AgentsService() override;
  AgentsService(const AgentsService&) = delete;
  AgentsService& operator=(const AgentsService&) = delete;

  // Starts a reactor for one agent stream (owned by the service until gRPC calls OnDone).
  grpc::ServerBidiReactor<certfleet::v1::AgentMessage, certfleet::v1::ServerMessage>* Connect(
      grpc::CallbackServerContext* context) override;
  // Lists the registered agents.
  grpc::ServerUnaryReactor* ListAgents(grpc::CallbackServerContext* context,
                                       const certfleet::v1::ListAgentsRequest* request,
                                       certfleet::v1::ListAgentsResponse* response) override;

  // Ends streams past hello_timeout or idle_timeout; returns how many. Called by the
  // background sweeper; public so tests with a fake clock can call it.
  int SweepIdle();
  // Number of open streams, registered or not (for tests and metrics).
  size_t stream_count() const;
  // Blocks until stream_count() == `count` (true) or `deadline` passes (false).
  bool WaitForStreamCount(size_t count, absl::Time deadline) const;

 private:
  friend class AgentStream;
  std::shared_ptr<AgentStream> RemoveStream(AgentStream* stream);

  AgentRegistry* const registry_;
  const AgentsServiceOptions options_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<AgentStream*, std::shared_ptr<AgentStream>> streams_ ABSL_GUARDED_BY(mu_);
  uint64_t next_connection_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread sweeper_;
};

}  // namespace certfleet::agents
