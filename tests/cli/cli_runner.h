#pragma once

// Runs the certfleet CLI in-process for tests and captures what it prints.

#include <sstream>
#include <string>
#include <vector>

#include "client/cli/cli_app.h"

namespace certfleet::cli::testing {

// The outcome of one CLI run.
struct CliResult {
  // Exit code.
  int code = -1;
  // What went to stdout.
  std::string out;
  // What went to stderr.
  std::string err;
};

// Runs `certfleet ARGS...` through RunCli.
inline CliResult RunCliWith(std::vector<std::string> args) {
  args.insert(args.begin(), "certfleet");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::ostringstream out;
  std::ostringstream err;
  CliResult result;
  result.code = RunCli(static_cast<int>(args.size()), argv.data(), out, err);
  result.out = out.str();
  result.err = err.str();
  return result;
}

}  // namespace certfleet::cli::testing
