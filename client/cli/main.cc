// certfleet: the command-line client of certfleet-server.

#include <iostream>

#include "client/cli/cli_app.h"

int main(int argc, char** argv) { return certfleet::cli::RunCli(argc, argv, std::cout, std::cerr); }
