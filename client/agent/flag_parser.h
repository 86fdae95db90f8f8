#pragma once

// A small command-line parser with precise error messages ("--flag: what is wrong").
// Accepts "--name=value", "--name value", and for boolean flags "--name" (true) or
// "--name=true|false". "-h" is "--help".

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace certfleet::agent {

// One accepted flag.
struct FlagSpec {
  // Without the leading "--".
  std::string name;
  // Placeholder for the value in --help ("HOST:PORT"); empty for a boolean flag.
  std::string value_name;
  // May be given more than once (values accumulate in order).
  bool repeatable = false;
  // One line for --help.
  std::string help;

  bool is_boolean() const { return value_name.empty(); }
};

// Flag values by name, in command-line order. Boolean flags hold "true" or "false".
class ParsedFlags {
 public:
  bool Has(absl::string_view name) const { return values_.count(std::string(name)) > 0; }
  // The values given for `name` (empty when absent).
  const std::vector<std::string>& All(absl::string_view name) const;
  // The last value given for `name`; "" when absent.
  std::string Last(absl::string_view name) const;
  // Adds a value (used by the parser and by config files merged underneath).
  void Add(absl::string_view name, std::string value);
  // Replaces every value of `name`.
  void Set(absl::string_view name, std::vector<std::string> values);

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
};

class FlagParser {
 public:
  explicit FlagParser(std::vector<FlagSpec> specs) : specs_(std::move(specs)) {}

  // Parses argv[1..argc). InvalidArgument with a message "--flag: what is wrong" (or
  // "unexpected argument ..." for a positional argument) on the first bad argument.
  absl::StatusOr<ParsedFlags> Parse(int argc, const char* const* argv) const;

  // The spec for `name`, or null.
  const FlagSpec* Find(absl::string_view name) const;

  // "Flags:" followed by one line per flag.
  std::string Usage() const;

 private:
  std::vector<FlagSpec> specs_;
};

// Parses "true"/"false"/"1"/"0"/"yes"/"no"; false when `text` is none of them.
bool ParseBoolFlag(absl::string_view text, bool* value);

}  // namespace certfleet::agent
