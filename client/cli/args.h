#pragma once

// A small command-line parser for the certfleet CLI: long flags only ("--flag value" or
// "--flag=value"), boolean flags, repeatable flags, positional arguments, and "--" to end
// flags.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace certfleet::cli {

// Describes one flag a command accepts.
struct FlagSpec {
  // The flag's name without the leading "--" (e.g. "ca").
  std::string name;
  // The placeholder shown in help for the flag's value (e.g. "CA"); empty for a boolean flag.
  std::string value_name;
  // One-line description for help.
  std::string help;
  // True when the flag may be given more than once (all values are kept, in order).
  bool repeatable = false;
};

// The result of parsing: flag values by name and the positional arguments, in order.
class ParsedArgs {
 public:
  // True when the flag was given at least once.
  bool Has(const std::string& name) const;
  // The flag's last value, or nullopt when it was not given (a boolean flag's value is "").
  std::optional<std::string> Get(const std::string& name) const;
  // All values given for the flag, in order (empty when not given).
  std::vector<std::string> GetAll(const std::string& name) const;
  // Records one value for a flag.
  void Add(const std::string& name, std::string value);
  // Merges the flags of `other` into this one. Fails with kInvalidArgument when a
  // non-repeatable flag (per `specs`) ends up given twice.
  absl::Status Merge(const ParsedArgs& other, const std::vector<FlagSpec>& specs);

  // Positional arguments, in order.
  std::vector<std::string>& positional() { return positional_; }
  // Positional arguments, in order.
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> flags_;
  std::vector<std::string> positional_;
};

// Parses `args` against `flags`. Fails with kInvalidArgument and a message meant for the user
// ("unknown flag --x", "flag --ca needs a value", "flag --wait takes no value",
// "flag --ca given more than once"). When `stop_at_positional` is true, parsing stops at the
// first positional argument and it and everything after it become positional.
absl::StatusOr<ParsedArgs> ParseArgs(absl::Span<const std::string> args,
                                     const std::vector<FlagSpec>& flags,
                                     bool stop_at_positional = false);

}  // namespace certfleet::cli
