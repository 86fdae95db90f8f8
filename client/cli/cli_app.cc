#include "client/cli/cli_app.h"

#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/cli/command.h"
#include "client/cli/duration.h"
#include "common/version.h"

namespace certfleet::cli {
namespace {

constexpr char kDefaultServer[] = "127.0.0.1:7443";

const FlagSpec kHelpFlag = {"help", "", "show this help"};

std::vector<FlagSpec> GlobalFlags() {
  return {
      {"server", "HOST:PORT",
       "the certfleet server (default: $CERTFLEET_SERVER, else 127.0.0.1:7443)"},
      {"server-ca", "PEM", "CA certificates (PEM file) to verify the server's TLS certificate"},
      {"insecure", "", "plaintext even to a non-loopback server"},
      {"insecure-plaintext", "", "the same as --insecure (the server's and agent's spelling)"},
      {"token-file", "FILE", "send the token in FILE as \"authorization: Bearer TOKEN\""},
      {"output", "FORMAT", "table (default) or json"},
      {"timeout", "DUR", "deadline of each call (default 30s; 10m for --wait)"},
  };
}

constexpr char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0  ok\n"
    "  1  the operation ran and failed (issuance failed, watch saw a failure)\n"
    "  2  usage error\n"
    "  3  server unreachable (UNAVAILABLE, or deadline passed while connecting)\n"
    "  4  not found (NOT_FOUND)\n"
    "  5  invalid argument (INVALID_ARGUMENT, FAILED_PRECONDITION)\n"
    "  6  other server error\n"
    "  7  not authorized (UNAUTHENTICATED, PERMISSION_DENIED: check --token-file)\n"
    "Errors are printed on stderr as \"certfleet: CODE: message\".\n";

const std::vector<Command>& AllCommands() {
  static const std::vector<Command>* const kCommands = [] {
    auto* commands = new std::vector<Command>(CertificateCommands());
    for (Command& c : AccountCommands()) commands->push_back(std::move(c));
    for (Command& c : AgentCommands()) commands->push_back(std::move(c));
    return commands;
  }();
  return *kCommands;
}

const Command* FindCommand(const std::string& name) {
  for (const Command& command : AllCommands()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

// Subcommands of a group ("accounts" -> list, get, ...); empty when `group` is not one.
std::vector<const Command*> GroupCommands(const std::string& group) {
  std::vector<const Command*> result;
  for (const Command& command : AllCommands()) {
    if (absl::StartsWith(command.name, group + " ")) result.push_back(&command);
  }
  return result;
}

void WriteFlags(const std::vector<FlagSpec>& flags, std::ostream& out) {
  for (const FlagSpec& flag : flags) {
    std::string left = absl::StrCat("  --", flag.name);
    if (!flag.value_name.empty()) absl::StrAppend(&left, " ", flag.value_name);
    if (left.size() < 28) {
      out << left << std::string(28 - left.size(), ' ') << flag.help << "\n";
    } else {
      out << left << "\n" << std::string(28, ' ') << flag.help << "\n";
    }
  }
}

void WriteCommandHelp(const Command& command, std::ostream& out) {
  out << "Usage: certfleet " << command.name;
  if (!command.args_synopsis.empty()) out << " " << command.args_synopsis;
  out << " [flags]\n\n" << command.description << "\n\nFlags:\n";
  std::vector<FlagSpec> flags = command.flags;
  flags.push_back(kHelpFlag);
  WriteFlags(flags, out);
  out << "\nGlobal flags:\n";
  WriteFlags(GlobalFlags(), out);
  out << "\n" << kExitCodesHelp;
}

void WriteCommandList(const std::vector<const Command*>& commands, std::ostream& out) {
  for (const Command* command : commands) {
    std::string left = absl::StrCat("  ", command->name);
    if (!command->args_synopsis.empty()) absl::StrAppend(&left, " ", command->args_synopsis);
    out << left << std::string(left.size() < 34 ? 34 - left.size() : 1, ' ') << command->summary
        << "\n";
  }
}

void WriteGroupHelp(const std::string& group, std::ostream& out) {
  out << "Usage: certfleet " << group << " COMMAND [flags]\n\nCommands:\n";
  WriteCommandList(GroupCommands(group), out);
  out << "\nRun 'certfleet " << group << " COMMAND --help' for a command's flags.\n";
}

void WriteTopHelp(std::ostream& out) {
  out << "Usage: certfleet COMMAND [flags]\n\n"
         "certfleet drives a certfleet server: issue, renew, inspect and revoke certificates,\n"
         "and manage the server's ACME accounts.\n\nCommands:\n";
  std::vector<const Command*> commands;
  for (const Command& command : AllCommands()) commands.push_back(&command);
  WriteCommandList(commands, out);
  out << "\nGlobal flags (accepted by every command):\n";
  WriteFlags(GlobalFlags(), out);
  out << "\nRun 'certfleet COMMAND --help' for a command's flags.\n\n" << kExitCodesHelp;
}

// True when `text` is well-formed UTF-8 (no overlongs, surrogates or code points past
// U+10FFFF).
bool IsValidUtf8(const std::string& text) {
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    int extra = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;  // Truncated sequence.
    for (int k = 1; k <= extra; ++k) {
      unsigned char cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

// At most 64 bytes of a bad argument, with non-printable bytes escaped.
std::string ShownArg(const std::string& arg) {
  std::string shown = absl::CHexEscape(arg.substr(0, 64));
  if (arg.size() > 64) shown += "...";
  return shown;
}

int TopUsageError(const std::string& message, std::ostream& err) {
  err << "certfleet: " << message << "\nRun 'certfleet --help' for usage.\n";
  return kExitUsage;
}

int CommandUsageError(const std::string& command, const std::string& message, std::ostream& err) {
  err << "certfleet: " << message << "\nRun 'certfleet " << command << " --help' for usage.\n";
  return kExitUsage;
}

// The first required positional argument's name in a synopsis ("NAME..." -> "NAME").
std::string FirstArgName(const std::string& synopsis) {
  std::string name = synopsis.substr(0, synopsis.find(' '));
  if (absl::EndsWith(name, "...")) name.resize(name.size() - 3);
  return name;
}

absl::StatusOr<GlobalOptions> BuildGlobalOptions(const ParsedArgs& args) {
  GlobalOptions options;
  if (auto server = args.Get("server")) {
    options.server = *server;
  } else if (const char* env = std::getenv("CERTFLEET_SERVER"); env != nullptr && *env != '\0') {
    options.server = env;
  } else {
    options.server = kDefaultServer;
  }
  options.server_ca_file = args.Get("server-ca").value_or("");
  options.insecure = args.Has("insecure") || args.Has("insecure-plaintext");
  options.token_file = args.Get("token-file").value_or("");
  if (auto output = args.Get("output")) {
    if (*output == "table") {
      options.output = OutputFormat::kTable;
    } else if (*output == "json") {
      options.output = OutputFormat::kJson;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid --output \"", *output, "\": want table or json"));
    }
  }
  if (auto timeout = args.Get("timeout")) {
    auto duration = ParseDuration(*timeout);
    if (!duration.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--timeout: ", duration.status().message()));
    }
    options.timeout = *duration;
  }
  return options;
}

int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::vector<FlagSpec> prefix_flags = GlobalFlags();
  prefix_flags.push_back(kHelpFlag);
  prefix_flags.push_back({"version", "", "print the version"});
  auto prefix = ParseArgs(args, prefix_flags, /*stop_at_positional=*/true);
  if (!prefix.ok()) return TopUsageError(std::string(prefix.status().message()), err);
  if (prefix->Has("help")) {
    WriteTopHelp(out);
    return kExitOk;
  }
  if (prefix->Has("version")) {
    out << "certfleet " << kVersion << "\n";
    return kExitOk;
  }
  std::vector<std::string> rest = prefix->positional();
  if (rest.empty()) {
    WriteTopHelp(err);
    return kExitUsage;
  }

  // "help [COMMAND...]".
  if (rest[0] == "help") {
    std::string name = absl::StrJoin(rest.begin() + 1, rest.end(), " ");
    if (name.empty()) {
      WriteTopHelp(out);
    } else if (const Command* command = FindCommand(name)) {
      WriteCommandHelp(*command, out);
    } else if (!GroupCommands(name).empty()) {
      WriteGroupHelp(name, out);
    } else {
      return TopUsageError(absl::StrCat("unknown command \"", name, "\""), err);
    }
    return kExitOk;
  }

  const Command* command = nullptr;
  size_t words = 1;
  if (rest.size() >= 2) command = FindCommand(rest[0] + " " + rest[1]);
  if (command != nullptr) {
    words = 2;
  } else {
    command = FindCommand(rest[0]);
  }
  if (command == nullptr) {
    std::vector<const Command*> group = GroupCommands(rest[0]);
    if (group.empty()) {
      return TopUsageError(absl::StrCat("unknown command \"", rest[0], "\""), err);
    }
    if (rest.size() >= 2 && rest[1] == "--help") {
      WriteGroupHelp(rest[0], out);
      return kExitOk;
    }
    std::vector<std::string> names;
    for (const Command* c : group) names.push_back(c->name.substr(rest[0].size() + 1));
    std::string problem =
        rest.size() < 2 || absl::StartsWith(rest[1], "-")
            ? absl::StrCat("missing ", rest[0], " command (", absl::StrJoin(names, ", "), ")")
            : absl::StrCat("unknown ", rest[0], " command \"", rest[1], "\" (want ",
                           absl::StrJoin(names, ", "), ")");
    return CommandUsageError(rest[0], problem, err);
  }

  std::vector<FlagSpec> flags = command->flags;
  std::vector<FlagSpec> globals = GlobalFlags();
  flags.insert(flags.end(), globals.begin(), globals.end());
  flags.push_back(kHelpFlag);
  std::vector<std::string> command_args(rest.begin() + words, rest.end());
  auto parsed = ParseArgs(command_args, flags);
  if (!parsed.ok()) {
    return CommandUsageError(command->name, std::string(parsed.status().message()), err);
  }
  if (parsed->Has("help")) {
    WriteCommandHelp(*command, out);
    return kExitOk;
  }
  ParsedArgs global_args = *prefix;
  global_args.positional().clear();
  if (absl::Status merged = parsed->Merge(global_args, flags); !merged.ok()) {
    return CommandUsageError(command->name, std::string(merged.message()), err);
  }
  size_t count = parsed->positional().size();
  if (count < command->min_args) {
    return CommandUsageError(command->name,
                             absl::StrCat("missing ", FirstArgName(command->args_synopsis)), err);
  }
  if (count > command->max_args) {
    return CommandUsageError(
        command->name,
        absl::StrCat("unexpected argument \"", parsed->positional()[command->max_args], "\""), err);
  }
  // Text sent in protobuf string fields must be UTF-8: the server cannot even parse a
  // request carrying anything else, so it could only answer with a bare gRPC error.
  for (size_t i = 0; i < parsed->positional().size(); ++i) {
    const std::string& arg = parsed->positional()[i];
    if (!IsValidUtf8(arg)) {
      return CommandUsageError(command->name,
                               absl::StrCat("argument ", i + 1, " (\"", ShownArg(arg),
                                            "\") is not valid UTF-8"),
                               err);
    }
  }
  for (const char* flag : {"ca", "request-id", "cert-name", "filter", "page-token"}) {
    for (const std::string& value : parsed->GetAll(flag)) {
      if (!IsValidUtf8(value)) {
        return CommandUsageError(command->name,
                                 absl::StrCat("--", flag, " \"", ShownArg(value),
                                              "\" is not valid UTF-8"),
                                 err);
      }
    }
  }
  auto options = BuildGlobalOptions(*parsed);
  if (!options.ok()) {
    return CommandUsageError(command->name, std::string(options.status().message()), err);
  }
  auto connection = Connection::Open(*options);
  if (!connection.ok()) {
    return CommandUsageError(command->name, std::string(connection.status().message()), err);
  }
  CommandContext context(command->name, *parsed, *options, **connection, out, err);
  return command->run(context);
}

}  // namespace

int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return Run(args, out, err);
}

}  // namespace certfleet::cli
