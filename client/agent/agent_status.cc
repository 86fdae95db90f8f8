#include "client/agent/agent_status.h"

#include <unistd.h>

#include "client/agent/atomic_file.h"
#include "common/log.h"

namespace certfleet::agent {

AgentStatus::AgentStatus(std::string agent_id, std::string status_file)
    : agent_id_(std::move(agent_id)), status_file_(std::move(status_file)) {}

#define CERTFLEET_STATUS_UPDATE(stmt) \
  do {                                \
    {                                 \
      absl::MutexLock lock(&mu_);     \
      stmt;                           \
    }                                 \
    Flush();                          \
  } while (0)

void AgentStatus::SetListenPorts(int tls_alpn_port, int http01_port) {
  CERTFLEET_STATUS_UPDATE(tls_alpn_port_ = tls_alpn_port; http01_port_ = http01_port);
}
void AgentStatus::RecordConnected() {
  CERTFLEET_STATUS_UPDATE(connected_ = true; ++connects_);
}
void AgentStatus::RecordDisconnected() { CERTFLEET_STATUS_UPDATE(connected_ = false); }
void AgentStatus::RecordChallengePresented(const std::string& name) {
  CERTFLEET_STATUS_UPDATE(++presented_[name]);
}
void AgentStatus::RecordChallengeWithdrawn(const std::string& name) {
  CERTFLEET_STATUS_UPDATE(++withdrawn_[name]);
}
void AgentStatus::RecordChallengeRefused() { CERTFLEET_STATUS_UPDATE(++refused_); }
void AgentStatus::RecordCertificateInstalled() { CERTFLEET_STATUS_UPDATE(++installed_); }
void AgentStatus::RecordInstallFailed() { CERTFLEET_STATUS_UPDATE(++installs_failed_); }
void AgentStatus::RecordReload(bool ok) {
  CERTFLEET_STATUS_UPDATE(++reloads_run_; if (!ok) ++reloads_failed_);
}
void AgentStatus::RecordAck() { CERTFLEET_STATUS_UPDATE(++acks_sent_); }
void AgentStatus::RecordIgnoredMessage() { CERTFLEET_STATUS_UPDATE(++ignored_messages_); }

#undef CERTFLEET_STATUS_UPDATE

nlohmann::json AgentStatus::ToJson() const {
  absl::MutexLock lock(&mu_);
  nlohmann::json j;
  j["agent_id"] = agent_id_;
  j["pid"] = static_cast<int64_t>(getpid());
  j["connected"] = connected_;
  j["connects"] = connects_;
  j["acks_sent"] = acks_sent_;
  j["ignored_messages"] = ignored_messages_;
  j["challenges_presented"] = nlohmann::json::object();
  for (const auto& [name, n] : presented_) j["challenges_presented"][name] = n;
  j["challenges_withdrawn"] = nlohmann::json::object();
  for (const auto& [name, n] : withdrawn_) j["challenges_withdrawn"][name] = n;
  j["challenges_refused"] = refused_;
  j["certificates_installed"] = installed_;
  j["installs_failed"] = installs_failed_;
  j["reloads_run"] = reloads_run_;
  j["reloads_failed"] = reloads_failed_;
  j["tls_alpn_port"] = tls_alpn_port_;
  j["http01_port"] = http01_port_;
  return j;
}

void AgentStatus::Flush() {
  if (status_file_.empty()) return;
  absl::MutexLock file_lock(&file_mu_);
  // Snapshot under file_mu_ so the file always ends with the newest counters.
  std::string text = ToJson().dump(2) + "\n";
  absl::Status status = WriteFileAtomically(status_file_, text, 0644);
  if (!status.ok()) {
    CF_LOG(WARNING) << "cannot write status file" << Kv("path", status_file_)
                    << Kv("error", status.message());
  }
}

}  // namespace certfleet::agent
