#include "client/cli/args.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace certfleet::cli {
namespace {

const FlagSpec* FindFlag(const std::vector<FlagSpec>& flags, const std::string& name) {
  for (const FlagSpec& flag : flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

}  // namespace

bool ParsedArgs::Has(const std::string& name) const { return flags_.count(name) > 0; }

std::optional<std::string> ParsedArgs::Get(const std::string& name) const {
  auto it = flags_.find(name);
  if (it == flags_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> ParsedArgs::GetAll(const std::string& name) const {
  auto it = flags_.find(name);
  if (it == flags_.end()) return {};
  return it->second;
}

void ParsedArgs::Add(const std::string& name, std::string value) {
  flags_[name].push_back(std::move(value));
}

absl::Status ParsedArgs::Merge(const ParsedArgs& other, const std::vector<FlagSpec>& specs) {
  for (const auto& [name, values] : other.flags_) {
    const FlagSpec* spec = FindFlag(specs, name);
    if (Has(name) && (spec == nullptr || !spec->repeatable)) {
      return absl::InvalidArgumentError(absl::StrCat("flag --", name, " given more than once"));
    }
    for (const std::string& value : values) Add(name, value);
  }
  for (const std::string& arg : other.positional_) positional_.push_back(arg);
  return absl::OkStatus();
}

absl::StatusOr<ParsedArgs> ParseArgs(absl::Span<const std::string> args,
                                     const std::vector<FlagSpec>& flags, bool stop_at_positional) {
  ParsedArgs parsed;
  bool flags_ended = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_ended || !absl::StartsWith(arg, "--")) {
      if (!flags_ended && arg == "-") {
        // A lone "-" is an ordinary positional argument.
      } else if (!flags_ended && absl::StartsWith(arg, "-") && arg.size() > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown flag ", arg, " (flags are long: --name)"));
      }
      if (stop_at_positional && !flags_ended) {
        parsed.positional().assign(args.begin() + i, args.end());
        return parsed;
      }
      parsed.positional().push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_ended = true;
      if (stop_at_positional) {
        parsed.positional().assign(args.begin() + i, args.end());
        return parsed;
      }
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const FlagSpec* spec = FindFlag(flags, name);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (spec->value_name.empty()) {
      if (value.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " takes no value"));
      }
      value = "";
    } else if (!value.has_value()) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
      value = args[++i];
    }
    if (parsed.Has(name) && !spec->repeatable) {
      return absl::InvalidArgumentError(absl::StrCat("flag --", name, " given more than once"));
    }
    parsed.Add(name, *std::move(value));
  }
  return parsed;
}

}  // namespace certfleet::cli
