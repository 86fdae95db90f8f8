#pragma once

// A scripted agent for the server-side agent tests: a real gRPC client stream with a reader
// thread that records every ServerMessage and answers it as told.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "certfleet/v1/agents.grpc.pb.h"

namespace certfleet::agents::testing {

// How the fake agent answers PresentChallenge.
enum class PresentMode {
  kAck,         // success
  kNack,        // success=false, reason "port 443 busy"
  kNoAck,       // never answers
  kDisconnect,  // cancels its stream on receipt
};

struct FakeAgentOptions {
  std::string agent_id = "web-1";
  std::vector<std::string> names = {"a.example.com"};
  std::vector<v1::ChallengeType> capabilities = {v1::CHALLENGE_TYPE_TLS_ALPN_01};
  bool installs_certificates = true;
  std::string token;  // sent as "authorization: Bearer TOKEN" when not empty
  PresentMode present_mode = PresentMode::kAck;
  bool send_hello = true;
};

class FakeAgent {
 public:
  FakeAgent(std::shared_ptr<grpc::Channel> channel, FakeAgentOptions options);
  ~FakeAgent();  // cancels the stream and joins the reader

  // Sends any message (thread-safe). False when the stream is broken.
  bool Write(const v1::AgentMessage& message);
  // Sends an Ack.
  bool Ack(const std::string& message_id, bool success, const std::string& reason = "");
  // Sends a heartbeat.
  bool Heartbeat();
  // Cancels the stream (the client's disconnect mid-stream).
  void Cancel();

  // The Welcome, once received by `deadline`.
  std::optional<v1::Welcome> WaitWelcome(absl::Time deadline);
  // The stream's final status, once it ended by `deadline`.
  std::optional<grpc::Status> WaitFinished(absl::Time deadline);
  // The first received message satisfying `pred`, by `deadline`.
  std::optional<v1::ServerMessage> WaitMessage(
      const std::function<bool(const v1::ServerMessage&)>& pred, absl::Time deadline);
  // Everything received so far.
  std::vector<v1::ServerMessage> Received() const;

 private:
  void ReadLoop();

  FakeAgentOptions options_;
  std::unique_ptr<v1::Agents::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::ServerMessage>> stream_;
  absl::Mutex write_mu_;
  mutable absl::Mutex mu_;
  std::vector<v1::ServerMessage> received_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> finished_ ABSL_GUARDED_BY(mu_);
  std::thread reader_;
};

// Test deadline helper: now + `seconds`.
inline absl::Time In(double seconds) { return absl::Now() + absl::Seconds(seconds); }

}  // namespace certfleet::agents::testing
