#include "client/cli/command.h"

#include <utility>

namespace certfleet::cli {

CommandContext::CommandContext(std::string command_name, const ParsedArgs& args,
                               const GlobalOptions& options, const Connection& connection,
                               std::ostream& out, std::ostream& err)
    : command_name_(std::move(command_name)),
      args_(args),
      options_(options),
      connection_(connection),
      out_(out),
      err_(err) {}

std::optional<absl::Duration> CommandContext::Timeout(
    std::optional<absl::Duration> default_timeout) const {
  return options_.timeout.has_value() ? options_.timeout : default_timeout;
}

int CommandContext::UsageError(const std::string& message) {
  err_ << "certfleet: " << message << "\nRun 'certfleet " << command_name_
       << " --help' for usage.\n";
  return kExitUsage;
}

int CommandContext::RpcError(const grpc::Status& status) {
  err_ << "certfleet: " << StatusCodeName(status.error_code()) << ": " << status.error_message()
       << "\n";
  return ExitCodeForStatus(status, connection_.IsConnected());
}

int CommandContext::Fail(int exit_code, const std::string& message) {
  err_ << "certfleet: " << message << "\n";
  return exit_code;
}

int CommandContext::PrintJson(const google::protobuf::Message& message, JsonStyle style) {
  auto json = ToJson(message, style);
  if (!json.ok()) return Fail(kExitServerError, std::string(json.status().message()));
  out_ << *json << "\n";
  return kExitOk;
}

}  // namespace certfleet::cli
