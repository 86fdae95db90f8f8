#include "common/crypto/key.h"

#include <openssl/evp.h>

#include <algorithm>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/crypto/test_util.h"

namespace certfleet::crypto {
namespace {

using ::testing::HasSubstr;
using testing::RunCommand;
using ::testing::StartsWith;
using testing::TempDir;
using testing::TestKey;

TEST(KeyTypeTest, NamesRoundTrip) {
  for (KeyType type : testing::kAllKeyTypes) {
    absl::StatusOr<KeyType> parsed = ParseKeyType(KeyTypeName(type));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, type);
  }
  absl::StatusOr<KeyType> upper = ParseKeyType("ECDSA-P384");
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(*upper, KeyType::kEcdsaP384);
}

TEST(KeyTypeTest, UnknownNameListsAcceptedNames) {
  absl::StatusOr<KeyType> parsed = ParseKeyType("dsa1024");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("unknown key type \"dsa1024\""));
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("ecdsa-p256, ecdsa-p384, rsa2048"));
}

class PrivateKeyTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(PrivateKeyTest, GeneratesKeyOfTheRequestedShape) {
  const PrivateKey& key = TestKey(GetParam());
  EXPECT_EQ(key.type(), GetParam());
  switch (GetParam()) {
    case KeyType::kEcdsaP256:
      EXPECT_EQ(EVP_PKEY_id(key.get()), EVP_PKEY_EC);
      EXPECT_EQ(EVP_PKEY_bits(key.get()), 256);
      break;
    case KeyType::kEcdsaP384:
      EXPECT_EQ(EVP_PKEY_id(key.get()), EVP_PKEY_EC);
      EXPECT_EQ(EVP_PKEY_bits(key.get()), 384);
      break;
    case KeyType::kRsa2048:
      EXPECT_EQ(EVP_PKEY_id(key.get()), EVP_PKEY_RSA);
      EXPECT_EQ(EVP_PKEY_bits(key.get()), 2048);
      break;
    case KeyType::kRsa3072:
      EXPECT_EQ(EVP_PKEY_id(key.get()), EVP_PKEY_RSA);
      EXPECT_EQ(EVP_PKEY_bits(key.get()), 3072);
      break;
    case KeyType::kRsa4096:
      EXPECT_EQ(EVP_PKEY_id(key.get()), EVP_PKEY_RSA);
      EXPECT_EQ(EVP_PKEY_bits(key.get()), 4096);
      break;
  }
}

TEST_P(PrivateKeyTest, PemRoundTrips) {
  const PrivateKey& key = TestKey(GetParam());
  std::string pem = key.ToPem();
  EXPECT_THAT(pem, StartsWith("-----BEGIN PRIVATE KEY-----\n"));
  absl::StatusOr<PrivateKey> parsed = PrivateKey::FromPem(pem);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->type(), GetParam());
  EXPECT_EQ(parsed->PublicKeyPem(), key.PublicKeyPem());
  EXPECT_EQ(parsed->ToPem(), pem);
  EXPECT_THAT(key.PublicKeyPem(), StartsWith("-----BEGIN PUBLIC KEY-----\n"));
}

TEST_P(PrivateKeyTest, OpensslCliReadsExportedKey) {
  const PrivateKey& key = TestKey(GetParam());
  TempDir dir;
  std::string path = dir.Write("key.pem", key.ToPem());
  testing::CommandResult check = RunCommand("openssl pkey -noout -check -in " + path);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("Key is valid"));
  testing::CommandResult pub = RunCommand("openssl pkey -pubout -in " + path);
  EXPECT_EQ(pub.exit_code, 0) << pub.output;
  EXPECT_EQ(pub.output, key.PublicKeyPem());
}

INSTANTIATE_TEST_SUITE_P(AllTypes, PrivateKeyTest, ::testing::ValuesIn(testing::kAllKeyTypes),
                         [](const ::testing::TestParamInfo<KeyType>& info) {
                           std::string name(KeyTypeName(info.param));
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

// Generates a key with the openssl CLI and returns its PEM.
std::string CliKey(const std::string& command) {
  testing::CommandResult result = RunCommand(command);
  EXPECT_EQ(result.exit_code, 0) << command << "\n" << result.output;
  return result.output;
}

TEST(PrivateKeyImportTest, ReadsTraditionalEcPem) {
  std::string pem = CliKey("openssl ecparam -name secp384r1 -genkey -noout");
  ASSERT_THAT(pem, StartsWith("-----BEGIN EC PRIVATE KEY-----"));
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(pem);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->type(), KeyType::kEcdsaP384);
}

TEST(PrivateKeyImportTest, ReadsTraditionalRsaPem) {
  std::string pem = CliKey("openssl genrsa -traditional 2048");
  ASSERT_THAT(pem, StartsWith("-----BEGIN RSA PRIVATE KEY-----"));
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(pem);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->type(), KeyType::kRsa2048);
}

TEST(PrivateKeyImportTest, RejectsUnsupportedCurve) {
  absl::StatusOr<PrivateKey> key =
      PrivateKey::FromPem(CliKey("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521"));
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("unsupported EC curve"));
}

TEST(PrivateKeyImportTest, RejectsUnsupportedRsaSize) {
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(CliKey("openssl genrsa 1024"));
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("unsupported RSA key size 1024"));
}

TEST(PrivateKeyImportTest, RejectsOtherAlgorithms) {
  absl::StatusOr<PrivateKey> key =
      PrivateKey::FromPem(CliKey("openssl genpkey -algorithm ed25519"));
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("unsupported key algorithm"));
}

TEST(PrivateKeyImportTest, RejectsGarbage) {
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem("not a key");
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("private key PEM does not parse"));
}

TEST(PrivateKeyImportTest, RejectsEncryptedKeyWithoutPrompting) {
  std::string pem = CliKey(
      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes-128-cbc "
      "-pass pass:secret");
  ASSERT_THAT(pem, HasSubstr("ENCRYPTED PRIVATE KEY"));
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(pem);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("private key PEM does not parse"));
}

}  // namespace
}  // namespace certfleet::crypto
