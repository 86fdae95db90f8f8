#include "common/crypto/csr.h"

#include <openssl/x509.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/crypto/test_util.h"

namespace certfleet::crypto {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunCommand;
using ::testing::StartsWith;
using testing::TempDir;
using testing::TestKey;

class CsrTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(CsrTest, OpensslVerifiesRequestWithDnsAndIpNames) {
  const PrivateKey& key = TestKey(GetParam());
  absl::StatusOr<std::string> der =
      CreateCsrDer({"example.com", "www.example.com"}, {"192.0.2.1", "2001:db8::1"}, key);
  ASSERT_TRUE(der.ok()) << der.status();
  std::string pem = CsrDerToPem(*der);
  EXPECT_THAT(pem, StartsWith("-----BEGIN CERTIFICATE REQUEST-----\n"));

  TempDir dir;
  std::string path = dir.Write("req.pem", pem);
  testing::CommandResult verify = RunCommand("openssl req -verify -noout -in " + path);
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr("verify OK"));

  testing::CommandResult text = RunCommand("openssl req -text -noout -in " + path);
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr("Subject: CN = example.com"));
  EXPECT_THAT(text.output, HasSubstr("X509v3 Subject Alternative Name: \n"));  // Not critical.
  EXPECT_THAT(text.output, HasSubstr("DNS:example.com, DNS:www.example.com, "
                                     "IP Address:192.0.2.1, IP Address:2001:DB8:0:0:0:0:0:1"));
  EXPECT_THAT(text.output,
              HasSubstr(GetParam() == KeyType::kEcdsaP384   ? "ecdsa-with-SHA384"
                        : GetParam() == KeyType::kEcdsaP256 ? "ecdsa-with-SHA256"
                                                            : "sha256WithRSAEncryption"));
}

INSTANTIATE_TEST_SUITE_P(AllTypes, CsrTest,
                         ::testing::Values(KeyType::kEcdsaP256, KeyType::kEcdsaP384,
                                           KeyType::kRsa2048));

TEST(CsrTest, IpOnlyRequestHasEmptySubjectAndCriticalSan) {
  const PrivateKey& key = TestKey(KeyType::kEcdsaP256);
  absl::StatusOr<std::string> der = CreateCsrDer({}, {"198.51.100.7"}, key);
  ASSERT_TRUE(der.ok()) << der.status();
  TempDir dir;
  std::string path = dir.Write("req.pem", CsrDerToPem(*der));
  testing::CommandResult verify = RunCommand("openssl req -verify -noout -in " + path);
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr("verify OK"));
  testing::CommandResult text = RunCommand("openssl req -text -noout -in " + path);
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, Not(HasSubstr("CN =")));
  EXPECT_THAT(text.output, HasSubstr("X509v3 Subject Alternative Name: critical"));
  EXPECT_THAT(text.output, HasSubstr("IP Address:198.51.100.7"));
}

TEST(CsrTest, LongFirstNameIsNotTheCommonName) {
  const std::string long_name = std::string(60, 'a') + ".example.com";  // 72 bytes.
  absl::StatusOr<std::string> der = CreateCsrDer({long_name}, {}, TestKey(KeyType::kEcdsaP256));
  ASSERT_TRUE(der.ok()) << der.status();
  const auto* p = reinterpret_cast<const uint8_t*>(der->data());
  UniquePtr<X509_REQ> req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der->size())));
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(X509_NAME_entry_count(X509_REQ_get_subject_name(req.get())), 0);
  UniquePtr<EVP_PKEY> pub(X509_REQ_get_pubkey(req.get()));
  EXPECT_EQ(X509_REQ_verify(req.get(), pub.get()), 1);
}

TEST(CsrTest, RejectsEmptyIdentifierLists) {
  absl::StatusOr<std::string> der = CreateCsrDer({}, {}, TestKey(KeyType::kEcdsaP256));
  EXPECT_EQ(der.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(der.status().message()),
              HasSubstr("at least one DNS name or IP address"));
}

TEST(CsrTest, RejectsBadIpAddress) {
  absl::StatusOr<std::string> der =
      CreateCsrDer({"example.com"}, {"192.0.2.300"}, TestKey(KeyType::kEcdsaP256));
  EXPECT_EQ(der.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(der.status().message()), HasSubstr("not an IP address: \"192.0.2.300\""));
}

}  // namespace
}  // namespace certfleet::crypto
