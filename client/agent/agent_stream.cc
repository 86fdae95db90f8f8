#include "client/agent/agent_stream.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/version.h"
#include "google/protobuf/util/time_util.h"

namespace certfleet::agent {
namespace {

std::shared_ptr<grpc::Channel> MakeChannel(const AgentStream::Options& options) {
  grpc::ChannelArguments args;
  // The channel's own reconnect backoff should not outlast ours.
  const int min_ms = static_cast<int>(
      std::max<int64_t>(100, absl::ToInt64Milliseconds(options.backoff_initial)));
  const int max_ms = static_cast<int>(
      std::max<int64_t>(min_ms, absl::ToInt64Milliseconds(options.backoff_max)));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, min_ms);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, min_ms);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_ms);
  // Notice a server that vanished without closing TCP (host gone, NAT dropped the flow) in
  // about a minute instead of TCP's retransmission timeout; the server allows pings every 10 s.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30 * 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING,
                 absl::StrCat("certfleet-agent/", kVersion));
  return grpc::CreateCustomChannel(options.server, options.credentials, args);
}

}  // namespace

absl::Duration ReconnectDelay(int attempt, absl::Duration initial, absl::Duration max,
                              double unit_random) {
  absl::Duration d = initial;
  for (int i = 0; i < attempt && d < max; ++i) d *= 2;
  d = std::min(d, max);
  return d / 2 + (d / 2) * std::clamp(unit_random, 0.0, 1.0);
}

AgentStream::AgentStream(Options options, ChallengeHandler* handler,
                         CertificateInstaller* installer, AgentStatus* status)
    : options_(std::move(options)),
      handler_(handler),
      installer_(installer),
      status_(status),
      stub_(v1::Agents::NewStub(MakeChannel(options_))),
      heartbeat_interval_(options_.heartbeat_interval) {}

AgentStream::~AgentStream() { Shutdown(); }

void AgentStream::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (!shutting_down_) {
    CF_LOG(INFO) << "agent stream shutting down";
  }
  shutting_down_ = true;
  if (current_context_ != nullptr) current_context_->TryCancel();
}

void AgentStream::Run() {
  absl::BitGen rng;
  int attempt = 0;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (shutting_down_) break;
    }
    const bool welcomed = RunOneStream();
    handler_->WithdrawAll();
    handler_->ResetAcceptedNames();
    if (welcomed) attempt = 0;
    const absl::Duration delay = ReconnectDelay(attempt, options_.backoff_initial,
                                                options_.backoff_max,
                                                absl::Uniform(rng, 0.0, 1.0));
    ++attempt;
    absl::MutexLock lock(&mu_);
    if (shutting_down_) break;
    CF_LOG(INFO) << "reconnecting" << Kv("server", options_.server)
                 << Kv("delay", absl::FormatDuration(delay)) << Kv("attempt", attempt);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return shutting_down_; };
    mu_.AwaitWithTimeout(absl::Condition(&stop), delay);
    if (shutting_down_) break;
  }
  handler_->WithdrawAll();
  CF_LOG(INFO) << "agent stream stopped";
}

bool AgentStream::RunOneStream() {
  grpc::ClientContext context;
  if (!options_.token.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
  }
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) return false;
    current_context_ = &context;
    stream_done_ = false;
    heartbeat_interval_ = options_.heartbeat_interval;
  }
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::ServerMessage>> stream =
      stub_->Connect(&context);
  {
    absl::MutexLock lock(&write_mu_);
    writer_ = stream.get();
  }

  v1::AgentMessage hello_message;
  v1::Hello* hello = hello_message.mutable_hello();
  hello->set_agent_id(options_.agent_id);
  for (const std::string& name : options_.names) hello->add_names(name);
  for (v1::ChallengeType type : handler_->Capabilities()) hello->add_capabilities(type);
  hello->set_version(kVersion);
  hello->set_installs_certificates(installer_ != nullptr);

  bool welcomed = false;
  std::thread heartbeats;
  if (Write(hello_message)) {
    CF_LOG(INFO) << "stream opened; hello sent" << Kv("server", options_.server)
                 << Kv("agent_id", options_.agent_id)
                 << Kv("names", absl::StrJoin(options_.names, ","));
    heartbeats = std::thread([this] { HeartbeatLoop(); });
    v1::ServerMessage message;
    while (stream->Read(&message)) {
      Handle(message, &welcomed);
      message.Clear();
    }
  }
  {
    absl::MutexLock lock(&mu_);
    stream_done_ = true;
  }
  if (heartbeats.joinable()) heartbeats.join();
  {
    absl::MutexLock lock(&write_mu_);
    writer_ = nullptr;
  }
  grpc::Status status = stream->Finish();
  {
    absl::MutexLock lock(&mu_);
    current_context_ = nullptr;
  }
  if (welcomed) status_->RecordDisconnected();
  CF_LOG(WARNING) << "stream to server ended" << Kv("server", options_.server)
                  << Kv("code", static_cast<int>(status.error_code()))
                  << Kv("error", status.error_message());
  return welcomed;
}

void AgentStream::HeartbeatLoop() {
  absl::Time last = absl::Now();
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      while (true) {
        const uint64_t generation = heartbeat_generation_;
        auto wake = [this, generation]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stream_done_ || shutting_down_ || heartbeat_generation_ != generation;
        };
        if (!mu_.AwaitWithDeadline(absl::Condition(&wake), last + heartbeat_interval_)) break;
        if (stream_done_ || shutting_down_) return;
        // The interval changed (Welcome): wait again with the new one.
      }
    }
    v1::AgentMessage message;
    *message.mutable_heartbeat()->mutable_send_time() =
        google::protobuf::util::TimeUtil::GetCurrentTime();
    if (!Write(message)) return;
    last = absl::Now();
  }
}

bool AgentStream::Write(const v1::AgentMessage& message) {
  absl::MutexLock lock(&write_mu_);
  if (writer_ == nullptr) return false;
  return writer_->Write(message);
}

void AgentStream::SendAck(const std::string& message_id, const absl::Status& status,
                          int reload_exit_status, const std::string& install_path) {
  v1::AgentMessage message;
  v1::Ack* ack = message.mutable_ack();
  ack->set_message_id(message_id);
  ack->set_success(status.ok());
  ack->set_reason(std::string(status.message()));
  ack->set_reload_exit_status(reload_exit_status);
  ack->set_install_path(install_path);
  if (Write(message)) {
    status_->RecordAck();
  } else {
    CF_LOG(WARNING) << "cannot send ack; stream broken" << Kv("message_id", message_id);
  }
}

void AgentStream::Handle(const v1::ServerMessage& message, bool* welcomed) {
  const std::string& id = message.message_id();
  switch (message.body_case()) {
    case v1::ServerMessage::kWelcome: {
      const v1::Welcome& welcome = message.welcome();
      std::vector<std::string> accepted(welcome.accepted_names().begin(),
                                        welcome.accepted_names().end());
      handler_->SetAcceptedNames(accepted);
      if (welcome.heartbeat_interval_seconds() > 0) {
        absl::MutexLock lock(&mu_);
        heartbeat_interval_ = absl::Seconds(welcome.heartbeat_interval_seconds());
        ++heartbeat_generation_;
      }
      if (!welcome.refused_names().empty()) {
        CF_LOG(WARNING) << "server refused names for this agent"
                        << Kv("refused", absl::StrJoin(welcome.refused_names(), ","));
      }
      CF_LOG(INFO) << "connected" << Kv("agent_id", welcome.agent_id())
                   << Kv("accepted", absl::StrJoin(accepted, ","))
                   << Kv("heartbeat_seconds", welcome.heartbeat_interval_seconds());
      if (!*welcomed) status_->RecordConnected();
      *welcomed = true;
      return;
    }
    case v1::ServerMessage::kPresentChallenge: {
      absl::Status s = handler_->Present(message.present_challenge());
      if (!s.ok()) {
        status_->RecordChallengeRefused();
        CF_LOG(WARNING) << "challenge refused" << Kv("message_id", id)
                        << Kv("issuance", message.present_challenge().issuance_id())
                        << Kv("reason", s.message());
      }
      SendAck(id, s);
      return;
    }
    case v1::ServerMessage::kWithdrawChallenge: {
      absl::Status s = handler_->Withdraw(message.withdraw_challenge());
      if (!s.ok()) {
        CF_LOG(WARNING) << "withdraw refused" << Kv("message_id", id) << Kv("reason", s.message());
      }
      SendAck(id, s);
      return;
    }
    case v1::ServerMessage::kInstallCertificate: {
      const v1::InstallCertificate& install = message.install_certificate();
      if (installer_ == nullptr) {
        SendAck(id, absl::FailedPreconditionError("this agent does not install certificates"));
        return;
      }
      CF_LOG(INFO) << "installing certificate" << Kv("certificate", install.certificate_name())
                   << Kv("serial", install.serial())
                   << Kv("names", absl::StrJoin(install.names(), ","));
      InstallOutcome outcome = installer_->Install(
          install.certificate_name(), install.fullchain_pem(), install.private_key_pem());
      if (outcome.reload_run) status_->RecordReload(outcome.status.ok());
      if (outcome.status.ok()) {
        status_->RecordCertificateInstalled();
      } else {
        status_->RecordInstallFailed();
        CF_LOG(ERROR) << "certificate install failed"
                      << Kv("certificate", install.certificate_name())
                      << Kv("reason", outcome.status.message());
      }
      SendAck(id, outcome.status, outcome.reload_exit_status, outcome.install_path);
      return;
    }
    case v1::ServerMessage::BODY_NOT_SET:
      break;
  }
  status_->RecordIgnoredMessage();
  CF_LOG(WARNING) << "ignoring server message with no known body" << Kv("message_id", id);
}

}  // namespace certfleet::agent
