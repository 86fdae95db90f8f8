#include "tests/server/agents/fake_agent.h"

#include <utility>

namespace certfleet::agents::testing {

FakeAgent::FakeAgent(std::shared_ptr<grpc::Channel> channel, FakeAgentOptions options)
    : options_(std::move(options)), stub_(v1::Agents::NewStub(channel)) {
  if (!options_.token.empty()) {
    context_.AddMetadata("authorization", "Bearer " + options_.token);
  }
  stream_ = stub_->Connect(&context_);
  if (options_.send_hello) {
    v1::AgentMessage hello_message;
    v1::Hello* hello = hello_message.mutable_hello();
    hello->set_agent_id(options_.agent_id);
    for (const auto& name : options_.names) hello->add_names(name);
    for (auto cap : options_.capabilities) hello->add_capabilities(cap);
    hello->set_version("fake-1");
    hello->set_installs_certificates(options_.installs_certificates);
    Write(hello_message);
  }
  reader_ = std::thread([this] { ReadLoop(); });
}

FakeAgent::~FakeAgent() {
  context_.TryCancel();
  reader_.join();
}

bool FakeAgent::Write(const v1::AgentMessage& message) {
  absl::MutexLock lock(&write_mu_);
  return stream_->Write(message);
}

bool FakeAgent::Ack(const std::string& message_id, bool success, const std::string& reason) {
  v1::AgentMessage message;
  v1::Ack* ack = message.mutable_ack();
  ack->set_message_id(message_id);
  ack->set_success(success);
  ack->set_reason(reason);
  ack->set_reload_exit_status(-1);
  return Write(message);
}

bool FakeAgent::Heartbeat() {
  v1::AgentMessage message;
  message.mutable_heartbeat()->mutable_send_time()->set_seconds(1);
  return Write(message);
}

void FakeAgent::Cancel() { context_.TryCancel(); }

void FakeAgent::ReadLoop() {
  v1::ServerMessage message;
  while (stream_->Read(&message)) {
    {
      absl::MutexLock lock(&mu_);
      received_.push_back(message);
    }
    switch (message.body_case()) {
      case v1::ServerMessage::kPresentChallenge:
        switch (options_.present_mode) {
          case PresentMode::kAck:
            Ack(message.message_id(), true);
            break;
          case PresentMode::kNack:
            Ack(message.message_id(), false, "port 443 busy");
            break;
          case PresentMode::kNoAck:
            break;
          case PresentMode::kDisconnect:
            context_.TryCancel();
            break;
        }
        break;
      case v1::ServerMessage::kWithdrawChallenge:
        Ack(message.message_id(), true);
        break;
      case v1::ServerMessage::kInstallCertificate: {
        v1::AgentMessage reply;
        v1::Ack* ack = reply.mutable_ack();
        ack->set_message_id(message.message_id());
        ack->set_success(true);
        ack->set_reload_exit_status(0);
        ack->set_install_path("/etc/certfleet/" + message.install_certificate().certificate_name());
        Write(reply);
        break;
      }
      default:
        break;
    }
  }
  grpc::Status status;
  {
    absl::MutexLock lock(&write_mu_);
    status = stream_->Finish();
  }
  absl::MutexLock lock(&mu_);
  finished_ = status;
}

std::optional<v1::Welcome> FakeAgent::WaitWelcome(absl::Time deadline) {
  auto message = WaitMessage([](const v1::ServerMessage& m) { return m.has_welcome(); }, deadline);
  if (!message.has_value()) return std::nullopt;
  return message->welcome();
}

std::optional<grpc::Status> FakeAgent::WaitFinished(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return finished_.has_value(); };
  mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
  return finished_;
}

std::optional<v1::ServerMessage> FakeAgent::WaitMessage(
    const std::function<bool(const v1::ServerMessage&)>& pred, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  std::optional<v1::ServerMessage> found;
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& m : received_) {
      if (pred(m)) {
        found = m;
        return true;
      }
    }
    return finished_.has_value();
  };
  mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  return found;
}

std::vector<v1::ServerMessage> FakeAgent::Received() const {
  absl::MutexLock lock(&mu_);
  return received_;
}

}  // namespace certfleet::agents::testing
