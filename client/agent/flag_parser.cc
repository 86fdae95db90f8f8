#include "client/agent/flag_parser.h"

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace certfleet::agent {

const std::vector<std::string>& ParsedFlags::All(absl::string_view name) const {
  static const std::vector<std::string>* const kEmpty = new std::vector<std::string>();
  auto it = values_.find(name);
  return it == values_.end() ? *kEmpty : it->second;
}

std::string ParsedFlags::Last(absl::string_view name) const {
  const std::vector<std::string>& all = All(name);
  return all.empty() ? "" : all.back();
}

void ParsedFlags::Add(absl::string_view name, std::string value) {
  values_[std::string(name)].push_back(std::move(value));
}

void ParsedFlags::Set(absl::string_view name, std::vector<std::string> values) {
  values_[std::string(name)] = std::move(values);
}

bool ParseBoolFlag(absl::string_view text, bool* value) {
  std::string lower = absl::AsciiStrToLower(text);
  if (lower == "true" || lower == "1" || lower == "yes") {
    *value = true;
    return true;
  }
  if (lower == "false" || lower == "0" || lower == "no") {
    *value = false;
    return true;
  }
  return false;
}

const FlagSpec* FlagParser::Find(absl::string_view name) const {
  for (const FlagSpec& spec : specs_) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

absl::StatusOr<ParsedFlags> FlagParser::Parse(int argc, const char* const* argv) const {
  ParsedFlags flags;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "-h") arg = "--help";
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      return absl::InvalidArgumentError(absl::StrCat(
          "unexpected argument \"", arg, "\" (flags start with --; see --help)"));
    }
    absl::string_view body = arg.substr(2);
    absl::string_view name = body;
    std::optional<std::string> value;
    if (size_t eq = body.find('='); eq != absl::string_view::npos) {
      name = body.substr(0, eq);
      value = std::string(body.substr(eq + 1));
    }
    const FlagSpec* spec = Find(name);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, ": unknown flag (see --help)"));
    }
    if (spec->is_boolean()) {
      bool b = true;
      if (value.has_value() && !ParseBoolFlag(*value, &b)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, ": expected true or false, got \"", *value, "\""));
      }
      value = b ? "true" : "false";
    } else if (!value.has_value()) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, ": missing value (", spec->value_name, ")"));
      }
      value = argv[++i];
    }
    if (!spec->repeatable && flags.Has(name)) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": given more than once"));
    }
    flags.Add(name, std::move(*value));
  }
  return flags;
}

std::string FlagParser::Usage() const {
  std::string out = "Flags:\n";
  for (const FlagSpec& spec : specs_) {
    std::string left = absl::StrCat("  --", spec.name);
    if (!spec.is_boolean()) absl::StrAppend(&left, "=", spec.value_name);
    if (spec.repeatable) absl::StrAppend(&left, " (repeatable)");
    absl::StrAppend(&out, absl::StrFormat("%-40s %s\n", left, spec.help));
  }
  return out;
}

}  // namespace certfleet::agent
