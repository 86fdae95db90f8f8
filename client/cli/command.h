#pragma once

// What every certfleet CLI command is made of: its flags and help, the global options, and the
// context a command runs in (parsed arguments, connection, output streams).

#include <cstddef>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/cli/args.h"
#include "client/cli/connection.h"
#include "client/cli/exit_codes.h"
#include "client/cli/json_output.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"

namespace certfleet::cli {

// How results are printed.
enum class OutputFormat { kTable, kJson };

// Options common to every command (--server, --server-ca, ...).
struct GlobalOptions {
  // HOST:PORT of the server.
  std::string server;
  // Path of a PEM file with the CA certificates to verify the server's TLS certificate; empty
  // for plaintext.
  std::string server_ca_file;
  // Plaintext even to a non-loopback server.
  bool insecure = false;
  // Path of a file holding a bearer token; empty for none.
  std::string token_file;
  // Output format.
  OutputFormat output = OutputFormat::kTable;
  // Per-RPC deadline given with --timeout; nullopt for the command's default.
  std::optional<absl::Duration> timeout;
};

// Everything a running command needs.
class CommandContext {
 public:
  // `command_name` is the full command ("accounts list"), for usage messages.
  CommandContext(std::string command_name, const ParsedArgs& args, const GlobalOptions& options,
                 const Connection& connection, std::ostream& out, std::ostream& err);

  // Parsed flags and positional arguments (global flags included).
  const ParsedArgs& args() const { return args_; }
  // Global options.
  const GlobalOptions& options() const { return options_; }
  // The connection to the server.
  const Connection& connection() const { return connection_; }
  // Standard output.
  std::ostream& out() { return out_; }
  // Standard error.
  std::ostream& err() { return err_; }

  // The deadline for one RPC: --timeout when given, else `default_timeout`.
  std::optional<absl::Duration> Timeout(std::optional<absl::Duration> default_timeout) const;

  // Prints "certfleet: <message>" and a pointer to --help on stderr; returns kExitUsage.
  int UsageError(const std::string& message);
  // Prints "certfleet: <CODE>: <message>" on stderr; returns the exit code for `status`.
  int RpcError(const grpc::Status& status);
  // Prints "certfleet: <message>" on stderr; returns `exit_code`.
  int Fail(int exit_code, const std::string& message);
  // Prints `message` as JSON followed by a newline; returns kExitOk (kExitServerError when the
  // conversion fails).
  int PrintJson(const google::protobuf::Message& message, JsonStyle style = JsonStyle::kPretty);

 private:
  std::string command_name_;
  const ParsedArgs& args_;
  const GlobalOptions& options_;
  const Connection& connection_;
  std::ostream& out_;
  std::ostream& err_;
};

// One command of the CLI ("issue", "accounts list", ...).
struct Command {
  // The words that select it ("issue", "accounts list").
  std::string name;
  // Positional arguments as shown in usage ("NAME...", "CERT_NAME", "[ISSUANCE_ID]").
  std::string args_synopsis;
  // One line for the command list.
  std::string summary;
  // A paragraph for the command's --help.
  std::string description;
  // The command's own flags (global flags and --help are added by the app).
  std::vector<FlagSpec> flags;
  // Bounds on the number of positional arguments.
  size_t min_args = 0;
  // Upper bound; SIZE_MAX for no limit.
  size_t max_args = 0;
  // Runs the command; returns the process exit code.
  std::function<int(CommandContext&)> run;
};

// The certificate commands: issue, renew, get, list, revoke, issuance, watch.
std::vector<Command> CertificateCommands();
// The account commands: accounts list|get|ensure|deactivate|rollover.
std::vector<Command> AccountCommands();
// The agent commands: agents list.
std::vector<Command> AgentCommands();

}  // namespace certfleet::cli
