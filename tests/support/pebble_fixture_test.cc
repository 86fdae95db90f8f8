#include "tests/support/pebble_fixture.h"

#include <curl/curl.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace certfleet::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

size_t Append(char* data, size_t size, size_t nmemb, void* user) {
  static_cast<std::string*>(user)->append(data, size * nmemb);
  return size * nmemb;
}

// GET `url` trusting `ca`; returns the HTTP status (0 on a transport failure).
long Get(const std::string& url, const std::string& ca, std::string* body) {
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  }
  curl_easy_cleanup(curl);
  return status;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(PebbleFixtureTest, ServesDirectoryAndManagement) {
  auto pebble = PebbleFixture::Start(PebbleOptions{});
  ASSERT_TRUE(pebble.ok()) << pebble.status();
  std::string body;
  ASSERT_EQ(Get((*pebble)->directory_url(), (*pebble)->ca_bundle_path(), &body), 200) << body;
  nlohmann::json dir = nlohmann::json::parse(body);
  EXPECT_TRUE(dir.contains("newNonce"));
  EXPECT_TRUE(dir.contains("newAccount"));
  EXPECT_TRUE(dir.contains("newOrder"));
  EXPECT_FALSE(dir["meta"].value("externalAccountRequired", false));

  auto root = (*pebble)->ManagementGet("/roots/0");
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_THAT(*root, StartsWith("-----BEGIN CERTIFICATE-----"));

  auto missing = (*pebble)->ManagementGet("/no-such-endpoint");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(missing.status().message(), HasSubstr("HTTP 404"));

  EXPECT_TRUE((*pebble)->AddARecord("example.test", "127.0.0.1").ok());
  EXPECT_TRUE((*pebble)->ClearARecord("example.test").ok());
  EXPECT_THAT((*pebble)->PebbleLog(), HasSubstr("Listening on"));
}

TEST(PebbleFixtureTest, EabAndConfigOptions) {
  PebbleOptions options;
  options.require_eab = true;
  options.tls_port = 12345;
  options.http_port = 12346;
  options.domain_blocklist = {"blocked.example"};
  options.certificate_validity_seconds = 3600;
  auto pebble = PebbleFixture::Start(options);
  ASSERT_TRUE(pebble.ok()) << pebble.status();
  std::string body;
  ASSERT_EQ(Get((*pebble)->directory_url(), (*pebble)->ca_bundle_path(), &body), 200) << body;
  nlohmann::json dir = nlohmann::json::parse(body);
  EXPECT_TRUE(dir["meta"].value("externalAccountRequired", false));

  nlohmann::json config =
      nlohmann::json::parse(ReadFile((*pebble)->work_dir() + "/pebble-config.json"));
  EXPECT_EQ(config["pebble"]["tlsPort"], 12345);
  EXPECT_EQ(config["pebble"]["httpPort"], 12346);
  EXPECT_EQ(config["pebble"]["certificateValidityPeriod"], 3600);
  EXPECT_EQ(config["pebble"]["domainBlocklist"][0], "blocked.example");
  EXPECT_EQ(config["pebble"]["externalAccountMACKeys"][PebbleFixture::kEabKid1],
            PebbleFixture::kEabHmac1);
}

TEST(PebbleFixtureTest, DestructorStopsProcessesAndRemovesWorkDir) {
  // CERTFLEET_KEEP_PEBBLE_LOGS=1 (a debugging aid) keeps the work dir on purpose; this test
  // checks the default, so it runs without it and restores it afterwards.
  const char* keep_env = std::getenv("CERTFLEET_KEEP_PEBBLE_LOGS");
  bool had_keep = keep_env != nullptr;
  std::string keep = had_keep ? keep_env : "";
  unsetenv("CERTFLEET_KEEP_PEBBLE_LOGS");
  std::string url, ca, dir;
  {
    auto pebble = PebbleFixture::Start(PebbleOptions{});
    ASSERT_TRUE(pebble.ok()) << pebble.status();
    url = (*pebble)->directory_url();
    ca = (*pebble)->ca_bundle_path();
    dir = (*pebble)->work_dir();
    ASSERT_TRUE(std::filesystem::exists(dir));
  }
  if (had_keep) setenv("CERTFLEET_KEEP_PEBBLE_LOGS", keep.c_str(), 1);
  EXPECT_FALSE(std::filesystem::exists(dir));
  std::string body;
  EXPECT_EQ(Get(url, ca, &body), 0);
}

TEST(PebbleFixtureTest, TwoFixturesRunSideBySide) {
  auto a = PebbleFixture::Start(PebbleOptions{});
  auto b = PebbleFixture::Start(PebbleOptions{});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE((*a)->directory_url(), (*b)->directory_url());
  std::string body_a, body_b;
  EXPECT_EQ(Get((*a)->directory_url(), (*a)->ca_bundle_path(), &body_a), 200);
  EXPECT_EQ(Get((*b)->directory_url(), (*b)->ca_bundle_path(), &body_b), 200);
  // Each trusts only its own listener CA.
  std::string cross;
  EXPECT_EQ(Get((*a)->directory_url(), (*b)->ca_bundle_path(), &cross), 0);
}

TEST(PebbleFixtureTest, PickFreePortAndTempDir) {
  int port = PickFreePort();
  EXPECT_GT(port, 0);
  EXPECT_LT(port, 65536);
  std::string dir = MakeTempDir("certfleet-fixture-test");
  ASSERT_FALSE(dir.empty());
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace certfleet::testing
