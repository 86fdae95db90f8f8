// The renewal scheduler in a real certfleet-server process: a certificate from Pebble valid
// for 90 s, renew_before 60 s and a 1 s check interval. After one IssueCertificate the
// server renews it by itself: a second version with a new serial appears, made by a
// REASON_RENEW issuance that no RPC asked for. SIGTERM then stops the server promptly.

#include <signal.h>
#include <sqlite3.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "certfleet/v1/certificates.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/server/server_process.h"
#include "tests/support/integration_helpers.h"
#include "tests/support/pebble_fixture.h"

namespace certfleet::testing {
namespace {

using nlohmann::json;

TEST(RenewalIntegrationTest, ServerRenewsAShortLivedCertificateByItself) {
  const std::string build_dir = BuildDir();
  ASSERT_FALSE(build_dir.empty()) << "CERTFLEET_BUILD_DIR is not set";
  int tls_port = PickFreePort();
  int http_port = PickFreePort();
  PebbleOptions pebble_options;
  pebble_options.tls_port = tls_port;
  pebble_options.http_port = http_port;
  pebble_options.certificate_validity_seconds = 90;
  absl::StatusOr<std::unique_ptr<PebbleFixture>> pebble = PebbleFixture::Start(pebble_options);
  ASSERT_TRUE(pebble.ok()) << pebble.status();

  std::string work_dir = MakeTempDir("certfleet-renewal-it");
  std::string db_path = work_dir + "/certfleet.db";
  std::string config_path = work_dir + "/config.json";
  std::string port_file = work_dir + "/port";
  json config = {
      {"listen", "127.0.0.1:0"},
      {"database", db_path},
      {"cas",
       {{"pebble",
         {{"directory_url", (*pebble)->directory_url()},
          {"ca_bundle", (*pebble)->ca_bundle_path()},
          {"contact", {"mailto:ops@example.com"}},
          {"terms_of_service_agreed", true}}}}},
      {"default_ca", "pebble"},
      {"defaults", {{"workers", 2}, {"renew_before", "60s"}, {"renewal_check_interval", "1s"}}},
      {"builtin_solver",
       {{"tls_alpn_listen", absl::StrCat("127.0.0.1:", tls_port)},
        {"http01_listen", absl::StrCat("127.0.0.1:", http_port)}}},
  };
  std::ofstream(config_path) << config.dump(2);

  absl::StatusOr<std::unique_ptr<ChildProcess>> server = ChildProcess::Spawn(
      {build_dir + "/server/certfleet-server", "--config", config_path,
       "--port-file", port_file},
      work_dir + "/server.out", work_dir + "/server.err");
  ASSERT_TRUE(server.ok()) << server.status();
  int port = 0;
  ASSERT_TRUE(PollUntil(
      [&] {
        std::string text(absl::StripAsciiWhitespace(ReadFileOrEmpty(port_file)));
        return absl::SimpleAtoi(text, &port) && port > 0;
      },
      absl::Seconds(30)))
      << (*server)->Stderr();
  auto stub = v1::Certificates::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));

  // Issue once, waiting for the certificate.
  v1::Issuance issued;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::IssueCertificateRequest request;
    request.add_names("renew.example.com");
    request.set_wait(true);
    grpc::Status status = stub->IssueCertificate(&context, request, &issued);
    ASSERT_TRUE(status.ok()) << status.error_message() << "\n" << (*server)->Stderr();
  }
  ASSERT_EQ(issued.state(), v1::Issuance::STATE_VALID) << issued.error_message();
  EXPECT_EQ(issued.reason(), v1::Issuance::REASON_ISSUE);
  const std::string serial1 = issued.certificate().serial();
  ASSERT_FALSE(serial1.empty());

  // No RPC from here on but reads: the scheduler renews ~30 s into the 90 s lifetime.
  v1::ManagedCertificate renewed;
  ASSERT_TRUE(PollUntil(
      [&] {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        v1::GetCertificateRequest request;
        request.set_certificate_name("renew.example.com");
        if (!stub->GetCertificate(&context, request, &renewed).ok()) return false;
        return renewed.current().serial() != serial1 &&
               renewed.latest_issuance().state() == v1::Issuance::STATE_VALID;
      },
      absl::Seconds(75)))
      << "no renewal: " << renewed.DebugString() << "\n"
      << (*server)->Stderr();
  EXPECT_FALSE(renewed.current().serial().empty());
  EXPECT_EQ(renewed.latest_issuance().reason(), v1::Issuance::REASON_RENEW);
  EXPECT_NE(renewed.latest_issuance().id(), issued.id());
  EXPECT_EQ(renewed.current().issuance_id(), renewed.latest_issuance().id());

  // The database agrees: two versions, distinct serials, the newer from a renew issuance.
  std::vector<std::vector<std::string>> versions =
      ReadOnlyDb(db_path).Query(
          "SELECT v.serial_hex, i.reason FROM certificate_versions v "
          "JOIN issuances i ON i.id = v.issuance_id ORDER BY v.id LIMIT 2");
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_NE(versions[0][0], versions[1][0]);
  EXPECT_EQ(versions[0][1], "issue");
  EXPECT_EQ(versions[1][1], "renew");

  // SIGTERM stops it promptly even if a renewal is in flight.
  absl::Time before = absl::Now();
  (*server)->Signal(SIGTERM);
  EXPECT_EQ((*server)->Wait(absl::Seconds(30)), 0) << (*server)->Stderr();
  EXPECT_LT(absl::Now() - before, absl::Seconds(15));
}

}  // namespace
}  // namespace certfleet::testing
