// Command-line handling of the certfleet CLI: usage errors (exit 2) and --help (exit 0). None
// of these reach a server.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cli/cli_runner.h"

namespace certfleet::cli {
namespace {

using testing::CliResult;
using ::testing::HasSubstr;
using testing::RunCliWith;
using ::testing::StartsWith;

class CliAppTest : public ::testing::Test {
 protected:
  void SetUp() override { unsetenv("CERTFLEET_SERVER"); }
};

// Expects exit 2, nothing on stdout, and exactly `message` plus the --help pointer on stderr.
void ExpectUsageError(const std::vector<std::string>& args, const std::string& message,
                      const std::string& command) {
  CliResult result = RunCliWith(args);
  EXPECT_EQ(result.code, 2) << result.err;
  EXPECT_EQ(result.out, "");
  std::string run = command.empty() ? "certfleet" : "certfleet " + command;
  EXPECT_EQ(result.err, "certfleet: " + message + "\nRun '" + run + " --help' for usage.\n");
}

TEST_F(CliAppTest, NoArgumentsPrintsUsageToStderr) {
  CliResult result = RunCliWith({});
  EXPECT_EQ(result.code, 2);
  EXPECT_EQ(result.out, "");
  EXPECT_THAT(result.err, StartsWith("Usage: certfleet COMMAND [flags]"));
}

TEST_F(CliAppTest, TopLevelHelpListsCommandsAndExitCodes) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--help"}, {"help"}}) {
    CliResult result = RunCliWith(args);
    EXPECT_EQ(result.code, 0);
    EXPECT_EQ(result.err, "");
    for (const char* text : {"issue NAME...",        "renew CERT_NAME",
                             "get CERT_NAME",        "list",
                             "revoke CERT_NAME",     "issuance ISSUANCE_ID",
                             "watch [ISSUANCE_ID]",  "accounts list",
                             "accounts rollover CA", "agents list",
                             "--server HOST:PORT",   "--server-ca PEM",
                             "--insecure",           "--token-file",
                             "--output FORMAT",      "--timeout DUR",
                             "Exit codes:",          "3  server unreachable",
                             "4  not found",         "5  invalid argument",
                             "6  other server error", "7  not authorized"}) {
      EXPECT_THAT(result.out, HasSubstr(text));
    }
  }
}

TEST_F(CliAppTest, EveryCommandHelpExitsZeroAndMentionsItsFlags) {
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
      {{"issue"},
       {"--ca CA", "--challenge", "--key-type", "--request-id", "--cert-name", "--wait"}},
      {{"renew"}, {"--wait", "--request-id"}},
      {{"get"}, {"--pem"}},
      {{"list"}, {"--filter", "--state", "--expiring-within", "--page-size", "--all"}},
      {{"revoke"}, {"--serial", "--reason", "keyCompromise", "cessationOfOperation"}},
      {{"issuance"}, {"ISSUANCE_ID"}},
      {{"watch"}, {"--until-done", "[ISSUANCE_ID]"}},
      {{"accounts", "list"}, {}},
      {{"accounts", "get"}, {"CA"}},
      {{"accounts", "ensure"}, {"CA"}},
      {{"accounts", "deactivate"}, {"--yes"}},
      {{"accounts", "rollover"}, {"--key-type"}},
      {{"agents", "list"}, {}},
  };
  for (const auto& [words, flags] : cases) {
    std::vector<std::string> args = words;
    args.push_back("--help");
    CliResult result = RunCliWith(args);
    std::string name = words[0] + (words.size() > 1 ? " " + words[1] : "");
    EXPECT_EQ(result.code, 0) << name;
    EXPECT_EQ(result.err, "") << name;
    EXPECT_THAT(result.out, StartsWith("Usage: certfleet " + name)) << name;
    for (const std::string& flag : flags) EXPECT_THAT(result.out, HasSubstr(flag)) << name;
    for (const char* common : {"--help", "--server HOST:PORT", "--output FORMAT", "Exit codes:"}) {
      EXPECT_THAT(result.out, HasSubstr(common)) << name;
    }
    // "help COMMAND" prints the same text.
    std::vector<std::string> help_args = {"help"};
    help_args.insert(help_args.end(), words.begin(), words.end());
    EXPECT_EQ(RunCliWith(help_args).out, result.out) << name;
  }
}

TEST_F(CliAppTest, GroupHelp) {
  CliResult result = RunCliWith({"accounts", "--help"});
  EXPECT_EQ(result.code, 0);
  EXPECT_THAT(result.out, HasSubstr("accounts deactivate CA"));
}

TEST_F(CliAppTest, UnknownCommands) {
  ExpectUsageError({"frobnicate"}, "unknown command \"frobnicate\"", "");
  ExpectUsageError({"accounts"},
                   "missing accounts command (list, get, ensure, deactivate, rollover)",
                   "accounts");
  ExpectUsageError({"accounts", "delete", "x"},
                   "unknown accounts command \"delete\" (want list, get, ensure, deactivate, "
                   "rollover)",
                   "accounts");
}

TEST_F(CliAppTest, FlagErrors) {
  ExpectUsageError({"issue", "a.example", "--bogus"}, "unknown flag --bogus", "issue");
  ExpectUsageError({"issue", "a.example", "--ca"}, "flag --ca needs a value", "issue");
  ExpectUsageError({"issue", "a.example", "--wait=yes"}, "flag --wait takes no value", "issue");
  ExpectUsageError({"issue", "a.example", "--ca", "x", "--ca", "y"},
                   "flag --ca given more than once", "issue");
  ExpectUsageError({"--server", "127.0.0.1:1", "list", "--server", "127.0.0.1:2"},
                   "flag --server given more than once", "list");
  ExpectUsageError({"get", "--pem", "--all", "x"}, "unknown flag --all", "get");
}

TEST_F(CliAppTest, PositionalCountErrors) {
  ExpectUsageError({"issue"}, "missing NAME", "issue");
  ExpectUsageError({"renew"}, "missing CERT_NAME", "renew");
  ExpectUsageError({"get", "a", "b"}, "unexpected argument \"b\"", "get");
  ExpectUsageError({"list", "x"}, "unexpected argument \"x\"", "list");
  ExpectUsageError({"accounts", "get"}, "missing CA", "accounts get");
  ExpectUsageError({"watch", "iss_1", "iss_2"}, "unexpected argument \"iss_2\"", "watch");
}

TEST_F(CliAppTest, CheapLocalValidation) {
  ExpectUsageError({"issue", "a.example", "--key-type", "rsa1024"},
                   "unknown key type \"rsa1024\": want one of ecdsa-p256, ecdsa-p384, rsa2048, "
                   "rsa3072, rsa4096",
                   "issue");
  ExpectUsageError({"issue", "a.example", "--challenge", "tls-alpn-01,tls-sni-01"},
                   "unknown challenge type \"tls-sni-01\": want one of tls-alpn-01, http-01, "
                   "dns-01",
                   "issue");
  ExpectUsageError({"issue", "a.example", "--challenge", "http-01", "--challenge", "http-01"},
                   "challenge type \"http-01\" listed twice", "issue");
  ExpectUsageError({"issue", "a.example", "--timeout", "10"},
                   "--timeout: invalid duration \"10\": want a number with a unit (ms, s, m, h, "
                   "d), e.g. 30s",
                   "issue");
  ExpectUsageError({"list", "--expiring-within", "soon"},
                   "--expiring-within: invalid duration \"soon\": want a number with a unit (ms, "
                   "s, m, h, d), e.g. 30s",
                   "list");
  ExpectUsageError({"list", "--state", "done"},
                   "unknown state \"done\": want one of pending, running, valid, failed", "list");
  ExpectUsageError({"list", "--page-size", "0"},
                   "invalid --page-size \"0\": want a positive integer", "list");
  ExpectUsageError({"revoke", "a", "--reason", "stolen"},
                   "unknown revocation reason \"stolen\": want one of unspecified, keyCompromise, "
                   "affiliationChanged, superseded, cessationOfOperation or a number 0-10",
                   "revoke");
  ExpectUsageError({"revoke", "a", "--serial", "0xZZ"},
                   "invalid --serial \"0xZZ\": want hex digits", "revoke");
  ExpectUsageError({"watch", "--until-done"}, "--until-done needs an ISSUANCE_ID", "watch");
  ExpectUsageError({"accounts", "deactivate", "pebble"},
                   "deactivating the account for pebble cannot be undone: pass --yes to confirm",
                   "accounts deactivate");
  ExpectUsageError({"accounts", "rollover", "pebble", "--key-type", "dsa"},
                   "unknown key type \"dsa\": want one of ecdsa-p256, ecdsa-p384, rsa2048, "
                   "rsa3072, rsa4096",
                   "accounts rollover");
  ExpectUsageError({"list", "--output", "yaml"}, "invalid --output \"yaml\": want table or json",
                   "list");
}

TEST_F(CliAppTest, ServerAddressAndTransportChecks) {
  ExpectUsageError({"list", "--server", "certs.example.com:7443"},
                   "refusing plaintext to non-loopback server certs.example.com:7443: pass "
                   "--server-ca PEM for TLS, or --insecure for plaintext",
                   "list");
  ExpectUsageError({"list", "--server", "nohost"},
                   "invalid --server \"nohost\": want HOST:PORT ([V6ADDR]:PORT for IPv6)", "list");
  ExpectUsageError({"list", "--server", "127.0.0.1:99999"},
                   "invalid --server \"127.0.0.1:99999\": want HOST:PORT ([V6ADDR]:PORT for IPv6)",
                   "list");
  ExpectUsageError({"list", "--server-ca", "/nonexistent/ca.pem", "--insecure"},
                   "--server-ca and --insecure cannot be used together", "list");
  // --insecure-plaintext (the server's and agent's spelling) is the same flag.
  ExpectUsageError({"list", "--server-ca", "/nonexistent/ca.pem", "--insecure-plaintext"},
                   "--server-ca and --insecure cannot be used together", "list");
  ExpectUsageError({"list", "--server-ca", "/nonexistent/ca.pem"},
                   "cannot read --server-ca file /nonexistent/ca.pem", "list");
  ExpectUsageError({"list", "--token-file", "/nonexistent/token"},
                   "cannot read --token-file file /nonexistent/token", "list");
  setenv("CERTFLEET_SERVER", "remote.example:7443", 1);
  ExpectUsageError({"list"},
                   "refusing plaintext to non-loopback server remote.example:7443: pass "
                   "--server-ca PEM for TLS, or --insecure for plaintext",
                   "list");
  unsetenv("CERTFLEET_SERVER");
}

TEST_F(CliAppTest, Version) {
  CliResult result = RunCliWith({"--version"});
  EXPECT_EQ(result.code, 0);
  EXPECT_THAT(result.out, StartsWith("certfleet "));
}

// Regression: a token with a control byte made gRPC abort the process (and print the token).
TEST_F(CliAppTest, TokenFileMustBePrintableAscii) {
  const std::string path = ::testing::TempDir() + "/cli_app_test_bad_token";
  {
    std::ofstream out(path);
    out << "sec\x01ret\n";
  }
  ExpectUsageError({"list", "--token-file", path},
                   "--token-file " + path + ": the token must be printable ASCII", "list");
  std::remove(path.c_str());
  ExpectUsageError({"list", "--token-file", ::testing::TempDir()},
                   "cannot read --token-file file " + ::testing::TempDir() +
                       ": not a regular file",
                   "list");
}

// Regression: invalid UTF-8 reached the server, which cannot parse the request and answered
// a bare UNIMPLEMENTED.
TEST_F(CliAppTest, ArgumentsSentAsTextMustBeUtf8) {
  ExpectUsageError({"issue", "\xff.example.com"},
                   "argument 1 (\"\\xff.example.com\") is not valid UTF-8", "issue");
  ExpectUsageError({"issue", "a.example.com", "\xc3"},
                   "argument 2 (\"\\xc3\") is not valid UTF-8", "issue");
  ExpectUsageError({"issue", "--ca", "\xed\xa0\x80", "a.example.com"},
                   "--ca \"\\xed\\xa0\\x80\" is not valid UTF-8", "issue");
  ExpectUsageError({"get", "\xc0\xaf"}, "argument 1 (\"\\xc0\\xaf\") is not valid UTF-8",
                   "get");
  // Well-formed UTF-8 passes this check (and then fails to connect, not a usage error).
  CliResult result = RunCliWith({"get", "--server", "127.0.0.1:1", "--timeout", "1s",
                                 "b\xc3\xbc" "cher.example"});
  EXPECT_NE(result.code, 2) << result.err;
}

}  // namespace
}  // namespace certfleet::cli
