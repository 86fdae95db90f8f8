#include "client/agent/certificate_installer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "absl/status/status.h"
#include "client/agent/atomic_file.h"
#include "client/agent/command_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/temp_dir.h"
#include "tests/agent/test_certificates.h"

namespace certfleet::agent {
namespace {

using ::certfleet::agent::testing::MakeTestChain;
using ::certfleet::agent::testing::MakeUnrelatedKeyPem;
using ::certfleet::agent::testing::TempDir;
using ::certfleet::agent::testing::TestChain;
using ::testing::HasSubstr;

mode_t ModeOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string Read(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  return text.ok() ? *text : "<missing>";
}

std::set<std::string> Entries(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.insert(e.path().filename().string());
  }
  return names;
}

class CertificateInstallerTest : public ::testing::Test {
 protected:
  CertificateInstaller MakeInstaller(const std::string& reload_command) {
    CertificateInstaller::Options options;
    options.cert_dir = tmp_.Sub("live");
    options.reload_command = reload_command;
    options.reload_timeout = absl::Seconds(30);
    return CertificateInstaller(options);
  }
  std::string Dir(const std::string& name) { return tmp_.Sub("live/" + name); }

  TempDir tmp_;
};

TEST_F(CertificateInstallerTest, WritesAllFilesWithModesAndRunsReloadOnce) {
  TestChain chain = MakeTestChain({"www.example.com"});
  const std::string marker = tmp_.Sub("reloads");
  CertificateInstaller installer = MakeInstaller("echo ran >> '" + marker + "'");
  InstallOutcome out = installer.Install("www", chain.fullchain_pem, chain.key_pem);
  ASSERT_TRUE(out.status.ok()) << out.status;
  EXPECT_EQ(out.install_path, Dir("www"));
  EXPECT_EQ(out.reload_exit_status, 0);
  EXPECT_TRUE(out.reload_run);
  EXPECT_EQ(Read(marker), "ran\n");

  EXPECT_EQ(Read(Dir("www/cert.pem")), chain.leaf_pem);
  EXPECT_EQ(Read(Dir("www/chain.pem")), chain.intermediate_pem);
  EXPECT_EQ(Read(Dir("www/fullchain.pem")), chain.fullchain_pem);
  EXPECT_EQ(Read(Dir("www/privkey.pem")), chain.key_pem);
  EXPECT_EQ(ModeOf(Dir("www/privkey.pem")), 0600u);
  EXPECT_EQ(ModeOf(Dir("www/cert.pem")), 0644u);
  EXPECT_EQ(ModeOf(Dir("www/chain.pem")), 0644u);
  EXPECT_EQ(ModeOf(Dir("www/fullchain.pem")), 0644u);
  // No temp files left behind, no previous version yet.
  EXPECT_EQ(Entries(Dir("www")),
            (std::set<std::string>{"cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"}));
}

TEST_F(CertificateInstallerTest, KeepsThePreviousVersion) {
  TestChain first = MakeTestChain({"www.example.com"});
  TestChain second = MakeTestChain({"www.example.com"});
  CertificateInstaller installer = MakeInstaller("true");
  ASSERT_TRUE(installer.Install("www", first.fullchain_pem, first.key_pem).status.ok());
  InstallOutcome out = installer.Install("www", second.fullchain_pem, second.key_pem);
  ASSERT_TRUE(out.status.ok()) << out.status;
  EXPECT_EQ(Read(Dir("www/cert.pem")), second.leaf_pem);
  EXPECT_EQ(Read(Dir("www/previous/cert.pem")), first.leaf_pem);
  EXPECT_EQ(Read(Dir("www/previous/fullchain.pem")), first.fullchain_pem);
  EXPECT_EQ(Read(Dir("www/previous/privkey.pem")), first.key_pem);
  EXPECT_EQ(ModeOf(Dir("www/previous/privkey.pem")), 0600u);
}

TEST_F(CertificateInstallerTest, FailedReloadRestoresPreviousFilesAndReportsExitStatus) {
  TestChain first = MakeTestChain({"www.example.com"});
  TestChain second = MakeTestChain({"www.example.com"});
  TestChain third = MakeTestChain({"www.example.com"});
  {
    CertificateInstaller ok = MakeInstaller("true");
    ASSERT_TRUE(ok.Install("www", first.fullchain_pem, first.key_pem).status.ok());
    ASSERT_TRUE(ok.Install("www", second.fullchain_pem, second.key_pem).status.ok());
  }
  CertificateInstaller failing = MakeInstaller("false");
  InstallOutcome out = failing.Install("www", third.fullchain_pem, third.key_pem);
  EXPECT_EQ(out.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(out.status.message()),
              HasSubstr("reload command \"false\" exited with status 1; previous files restored"));
  EXPECT_EQ(out.reload_exit_status, 1);
  // Live files are the second version again, previous/ still the first.
  EXPECT_EQ(Read(Dir("www/cert.pem")), second.leaf_pem);
  EXPECT_EQ(Read(Dir("www/fullchain.pem")), second.fullchain_pem);
  EXPECT_EQ(Read(Dir("www/privkey.pem")), second.key_pem);
  EXPECT_EQ(ModeOf(Dir("www/privkey.pem")), 0600u);
  EXPECT_EQ(Read(Dir("www/previous/cert.pem")), first.leaf_pem);
}

TEST_F(CertificateInstallerTest, FailedFirstReloadRemovesTheNewFiles) {
  TestChain chain = MakeTestChain({"www.example.com"});
  CertificateInstaller failing = MakeInstaller("exit 3");
  InstallOutcome out = failing.Install("www", chain.fullchain_pem, chain.key_pem);
  EXPECT_EQ(out.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(out.status.message()), HasSubstr("exited with status 3"));
  EXPECT_EQ(out.reload_exit_status, 3);
  EXPECT_FALSE(Exists(Dir("www/cert.pem")));
  EXPECT_FALSE(Exists(Dir("www/privkey.pem")));
}

TEST_F(CertificateInstallerTest, ReloadTimeoutKillsTheCommand) {
  TestChain chain = MakeTestChain({"www.example.com"});
  CertificateInstaller::Options options;
  options.cert_dir = tmp_.Sub("live");
  options.reload_command = "sleep 30";
  options.reload_timeout = absl::Milliseconds(100);
  CertificateInstaller installer(options);
  InstallOutcome out = installer.Install("www", chain.fullchain_pem, chain.key_pem);
  EXPECT_EQ(out.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(out.status.message()), HasSubstr("did not finish within 100ms"));
  EXPECT_EQ(out.reload_exit_status, -1);
  EXPECT_FALSE(Exists(Dir("www/cert.pem")));
}

TEST_F(CertificateInstallerTest, MismatchedKeyIsRefusedAndNothingWritten) {
  TestChain chain = MakeTestChain({"www.example.com"});
  CertificateInstaller installer = MakeInstaller("true");
  InstallOutcome out = installer.Install("www", chain.fullchain_pem, MakeUnrelatedKeyPem());
  EXPECT_EQ(out.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(out.status.message()),
              HasSubstr("private key does not match the certificate"));
  EXPECT_FALSE(out.reload_run);
  EXPECT_FALSE(Exists(tmp_.Sub("live")));
}

TEST_F(CertificateInstallerTest, UnparseableInputIsRefused) {
  TestChain chain = MakeTestChain({"www.example.com"});
  CertificateInstaller installer = MakeInstaller("true");
  InstallOutcome bad_chain = installer.Install("www", "not a pem", chain.key_pem);
  EXPECT_EQ(bad_chain.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad_chain.status.message()), HasSubstr("fullchain does not parse"));
  InstallOutcome bad_key = installer.Install("www", chain.fullchain_pem, "garbage");
  EXPECT_EQ(bad_key.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad_key.status.message()), HasSubstr("private key does not parse"));
  EXPECT_FALSE(Exists(tmp_.Sub("live")));
}

TEST_F(CertificateInstallerTest, BadCertificateNamesAreRefused) {
  TestChain chain = MakeTestChain({"www.example.com"});
  CertificateInstaller installer = MakeInstaller("true");
  struct Case {
    std::string name;
    std::string reason;
  };
  const Case cases[] = {
      {"", "certificate name is empty"},
      {".", "is not a folder name"},
      {"..", "is not a folder name"},
      {"../etc", "contains '/'"},
      {"a/b", "contains '/'"},
      {std::string("a\0b", 3), "contains a NUL byte"},
      {std::string(256, 'x'), "longer than 255 bytes"},
  };
  for (const Case& c : cases) {
    InstallOutcome out = installer.Install(c.name, chain.fullchain_pem, chain.key_pem);
    EXPECT_EQ(out.status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(out.status.message()), HasSubstr(c.reason)) << c.name;
  }
  EXPECT_FALSE(Exists(tmp_.Sub("live")));
  EXPECT_TRUE(ValidateCertificateName(std::string(255, 'x')).ok());
  EXPECT_TRUE(ValidateCertificateName("example.com").ok());
}

TEST(AtomicFileTest, ReplacesContentAndModeLeavingNoTempFiles) {
  TempDir tmp;
  const std::string path = tmp.Sub("f");
  ASSERT_TRUE(WriteFileAtomically(path, "one", 0644).ok());
  ASSERT_TRUE(WriteFileAtomically(path, "two", 0600).ok());
  EXPECT_EQ(Read(path), "two");
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_EQ(Entries(tmp.path()), (std::set<std::string>{"f"}));
}

TEST(AtomicFileTest, ReportsTheFailingPath) {
  absl::Status s = WriteFileAtomically("/nonexistent-dir/f", "x", 0644);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(s.message()), HasSubstr("/nonexistent-dir"));
}

TEST(CommandRunnerTest, ReportsExitStatusAndSignals) {
  EXPECT_EQ(RunShellCommand("exit 7", absl::Seconds(30)).value(), 7);
  EXPECT_EQ(RunShellCommand("kill -9 $$", absl::Seconds(30)).value(), 128 + 9);
}

TEST(CommandRunnerTest, DoesNotLeakDescriptors) {
  int fd = open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(fd, 3);
  const std::string probe = "test -e /proc/self/fd/" + std::to_string(fd);
  EXPECT_EQ(RunShellCommand(probe, absl::Seconds(30)).value(), 1);
  close(fd);
}

}  // namespace
}  // namespace certfleet::agent
