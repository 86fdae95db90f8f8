#pragma once

// The certfleet command-line client, callable in-process (main.cc only forwards to it).

#include <ostream>

namespace certfleet::cli {

// Runs the certfleet CLI with the given arguments (argv[0] is the program name), writing
// results to `out` and errors to `err`. Returns the process exit code (see ExitCode in
// client/cli/exit_codes.h). Never throws.
int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace certfleet::cli
