#pragma once

// The certfleet-agent application: starts the validation listeners, the challenge
// handler, the certificate installer and the server stream from an AgentConfig.
// main.cc wires signals to Shutdown(); tests start it in-process.

#include <memory>

#include "absl/status/statusor.h"
#include "client/agent/agent_config.h"
#include "client/agent/agent_status.h"
#include "client/agent/agent_stream.h"
#include "client/agent/certificate_installer.h"
#include "client/agent/challenge_handler.h"
#include "common/responder/http01_responder.h"
#include "common/responder/tls_alpn_responder.h"

namespace certfleet::agent {

class Agent {
 public:
  // Binds the listeners. Unavailable with an actionable message when one cannot be bound
  // (e.g. "cannot listen on :443 for tls-alpn-01: ... (run as root or give
  // CAP_NET_BIND_SERVICE, or set --tls-alpn-listen)").
  static absl::StatusOr<std::unique_ptr<Agent>> Create(const AgentConfig& config);
  // Shuts down and stops the listeners; Run() must have returned.
  ~Agent();

  // Serves the server stream until Shutdown(); blocks the calling thread.
  void Run();
  // Makes Run() return, dropping presented challenges. Thread-safe, idempotent.
  void Shutdown();

  // Bound ports (0 when that listener is off).
  int tls_alpn_port() const;
  int http01_port() const;
  // Counters; owned by the Agent.
  AgentStatus& status() { return *status_; }

 private:
  Agent() = default;

  // Declaration order is destruction order in reverse: the stream goes first, then the
  // handler (which withdraws from the responders), then the responders.
  std::unique_ptr<AgentStatus> status_;
  std::unique_ptr<responder::TlsAlpnResponder> tls_alpn_;
  std::unique_ptr<responder::Http01Responder> http01_;
  std::unique_ptr<ChallengeHandler> handler_;
  std::unique_ptr<CertificateInstaller> installer_;
  std::unique_ptr<AgentStream> stream_;
};

}  // namespace certfleet::agent
