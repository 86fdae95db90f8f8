#pragma once

// The agent's side of Agents.Connect: dials the server, sends Hello and heartbeats,
// handles server messages (acknowledging each by message_id), and reconnects with
// jittered exponential backoff until Shutdown(). Challenges presented on a stream are
// dropped when it ends; the server presents them again if it still needs them.

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "certfleet/v1/agents.grpc.pb.h"
#include "client/agent/agent_status.h"
#include "client/agent/certificate_installer.h"
#include "client/agent/challenge_handler.h"

namespace certfleet::agent {

// The delay before reconnect attempt `attempt` (0-based): min(max, initial * 2^attempt),
// jittered uniformly into [d/2, d]. `unit_random` is in [0, 1).
absl::Duration ReconnectDelay(int attempt, absl::Duration initial, absl::Duration max,
                              double unit_random);

class AgentStream {
 public:
  struct Options {
    // certfleet-server "host:port".
    std::string server;
    // TLS or (loopback only) insecure credentials.
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    std::string agent_id;
    // Normalised names for Hello.
    std::vector<std::string> names;
    // Bearer token sent as "authorization: Bearer ..." metadata; empty: none. Secret.
    std::string token;
    // Heartbeat interval until Welcome sets one.
    absl::Duration heartbeat_interval = absl::Seconds(30);
    absl::Duration backoff_initial = absl::Milliseconds(500);
    absl::Duration backoff_max = absl::Seconds(30);
  };

  // `handler` and `status` are required; `installer` may be null (the agent then does not
  // install certificates and says so in Hello). None is owned; all must outlive this.
  AgentStream(Options options, ChallengeHandler* handler, CertificateInstaller* installer,
              AgentStatus* status);
  ~AgentStream();

  // Connects and serves streams until Shutdown(); blocks the calling thread.
  void Run();
  // Cancels the current stream and makes Run() return. Thread-safe and idempotent.
  void Shutdown();

 private:
  // Serves one stream until it ends; returns true when it got a Welcome.
  bool RunOneStream();
  void HeartbeatLoop();
  // Writes on the current stream (serialised); false when the stream is broken.
  bool Write(const v1::AgentMessage& message);
  void Handle(const v1::ServerMessage& message, bool* welcomed);
  void SendAck(const std::string& message_id, const absl::Status& status,
               int reload_exit_status = -1, const std::string& install_path = "");

  const Options options_;
  ChallengeHandler* const handler_;
  CertificateInstaller* const installer_;
  AgentStatus* const status_;
  std::unique_ptr<v1::Agents::Stub> stub_;

  absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool stream_done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* current_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_);
  // Bumped when heartbeat_interval_ changes, to wake the heartbeat thread.
  uint64_t heartbeat_generation_ ABSL_GUARDED_BY(mu_) = 0;

  // Held while writing; guards the stream pointer writers use.
  absl::Mutex write_mu_;
  grpc::ClientReaderWriter<v1::AgentMessage, v1::ServerMessage>* writer_
      ABSL_GUARDED_BY(write_mu_) = nullptr;
};

}  // namespace certfleet::agent
