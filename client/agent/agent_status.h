#pragma once

// The agent's counters, shared by the stream, the challenge handler and the installer,
// and mirrored to an optional JSON status file (rewritten atomically on every change) so
// operators and tests can see which agent did what.

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

namespace certfleet::agent {

class AgentStatus {
 public:
  // `status_file` may be empty (no file). `agent_id` is recorded in the file.
  AgentStatus(std::string agent_id, std::string status_file);

  // Ports actually bound (0 when not listening); recorded for port-0 listeners.
  void SetListenPorts(int tls_alpn_port, int http01_port);
  void RecordConnected();
  void RecordDisconnected();
  void RecordChallengePresented(const std::string& name);
  void RecordChallengeWithdrawn(const std::string& name);
  void RecordChallengeRefused();
  void RecordCertificateInstalled();
  void RecordInstallFailed();
  void RecordReload(bool ok);
  void RecordAck();
  void RecordIgnoredMessage();

  // A snapshot of every counter:
  //   {"agent_id", "pid", "connected", "connects", "acks_sent", "ignored_messages",
  //    "challenges_presented": {name: n}, "challenges_withdrawn": {name: n},
  //    "challenges_refused", "certificates_installed", "installs_failed",
  //    "reloads_run", "reloads_failed", "tls_alpn_port", "http01_port"}
  nlohmann::json ToJson() const;

 private:
  // Rewrites the status file from the current counters (errors are logged, not returned).
  void Flush() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string agent_id_;
  const std::string status_file_;
  mutable absl::Mutex mu_;
  // Serialises file rewrites so an older snapshot never replaces a newer one.
  absl::Mutex file_mu_;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t connects_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t acks_sent_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t ignored_messages_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, uint64_t> presented_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> withdrawn_ ABSL_GUARDED_BY(mu_);
  uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t installed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t installs_failed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t reloads_run_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t reloads_failed_ ABSL_GUARDED_BY(mu_) = 0;
  int tls_alpn_port_ ABSL_GUARDED_BY(mu_) = 0;
  int http01_port_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace certfleet::agent
