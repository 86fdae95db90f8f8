#pragma once

// The CLI's connection to certfleet-server: channel credentials, deadline and bearer token.

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace certfleet::cli {

struct GlobalOptions;

// The RPC side of the CLI: one channel to the server, a bearer token, error reporting.
class Connection {
 public:
  // Checks the options (readable --server-ca, a HOST:PORT, plaintext only to loopback unless
  // --insecure) and creates the channel (which connects lazily). Fails with kInvalidArgument
  // and a message for the user.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const GlobalOptions& options);

  // The channel to the server.
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  // Sets the deadline (now + timeout, none when nullopt) and the bearer token on `context`.
  void Configure(grpc::ClientContext& context, std::optional<absl::Duration> timeout) const;

  // True when the channel is currently connected to the server.
  bool IsConnected() const;

 private:
  Connection(std::shared_ptr<grpc::Channel> channel, std::string token);

  std::shared_ptr<grpc::Channel> channel_;
  std::string token_;
};

}  // namespace certfleet::cli
