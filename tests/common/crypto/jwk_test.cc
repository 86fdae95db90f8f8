#include "common/crypto/jwk.h"

#include <openssl/x509.h>

#include <string>

#include "absl/strings/ascii.h"
#include "common/crypto/base64url.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/crypto/test_util.h"

namespace certfleet::crypto {
namespace {

using ::testing::HasSubstr;
using testing::TestKey;

// RFC 7638 section 3.1.
const char kRfc7638Jwk[] = R"({
  "kty": "RSA",
  "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
  "e": "AQAB",
  "alg": "RS256",
  "kid": "2011-04-29"
})";

TEST(JwkThumbprintTest, MatchesRfc7638Example) {
  absl::StatusOr<std::string> thumbprint = JwkThumbprint(nlohmann::json::parse(kRfc7638Jwk));
  ASSERT_TRUE(thumbprint.ok()) << thumbprint.status();
  EXPECT_EQ(*thumbprint, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

TEST(JwkThumbprintTest, RejectsMissingMember) {
  nlohmann::json jwk = nlohmann::json::parse(kRfc7638Jwk);
  jwk.erase("n");
  absl::StatusOr<std::string> thumbprint = JwkThumbprint(jwk);
  EXPECT_EQ(thumbprint.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(thumbprint.status().message()), HasSubstr("lacks required member \"n\""));
}

TEST(JwkThumbprintTest, RejectsUnknownKty) {
  absl::StatusOr<std::string> thumbprint =
      JwkThumbprint(nlohmann::json{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "AA"}});
  EXPECT_EQ(thumbprint.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(thumbprint.status().message()), HasSubstr("unknown kty \"OKP\""));
}

TEST(JwkThumbprintTest, RejectsNonObject) {
  absl::StatusOr<std::string> thumbprint = JwkThumbprint(nlohmann::json::array());
  EXPECT_EQ(thumbprint.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(thumbprint.status().message()), HasSubstr("not a JSON object"));
}

// The uncompressed EC point at the end of the key's SubjectPublicKeyInfo.
std::string SpkiPoint(const PrivateKey& key, size_t point_size) {
  uint8_t* der = nullptr;
  int len = i2d_PUBKEY(key.get(), &der);
  EXPECT_GT(len, static_cast<int>(point_size));
  std::string spki(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return spki.substr(spki.size() - point_size);
}

class PublicJwkTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(PublicJwkTest, EcJwkHoldsPaddedCoordinates) {
  const KeyType type = GetParam();
  const PrivateKey& key = TestKey(type);
  nlohmann::json jwk = PublicJwk(key);
  if (type != KeyType::kEcdsaP256 && type != KeyType::kEcdsaP384) {
    EXPECT_EQ(jwk.size(), 3u) << jwk.dump();
    EXPECT_EQ(jwk["kty"], "RSA");
    EXPECT_EQ(jwk["e"], "AQAB");
    absl::StatusOr<std::string> n = Base64UrlDecode(jwk["n"].get<std::string>());
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(static_cast<int>(n->size() * 8), EVP_PKEY_bits(key.get()));
    // Same modulus as the openssl CLI reports.
    testing::TempDir dir;
    std::string path = dir.Write("key.pem", key.ToPem());
    testing::CommandResult modulus = testing::RunCommand("openssl rsa -noout -modulus -in " + path);
    ASSERT_EQ(modulus.exit_code, 0) << modulus.output;
    EXPECT_EQ(modulus.output, "Modulus=" + absl::AsciiStrToUpper(testing::HexEncode(*n)) + "\n");
    return;
  }
  const size_t size = type == KeyType::kEcdsaP256 ? 32 : 48;
  EXPECT_EQ(jwk.size(), 4u) << jwk.dump();
  EXPECT_EQ(jwk["kty"], "EC");
  EXPECT_EQ(jwk["crv"], type == KeyType::kEcdsaP256 ? "P-256" : "P-384");
  absl::StatusOr<std::string> x = Base64UrlDecode(jwk["x"].get<std::string>());
  absl::StatusOr<std::string> y = Base64UrlDecode(jwk["y"].get<std::string>());
  ASSERT_TRUE(x.ok() && y.ok());
  EXPECT_EQ(x->size(), size);
  EXPECT_EQ(y->size(), size);
  EXPECT_EQ("\x04" + *x + *y, SpkiPoint(key, 1 + 2 * size));
}

TEST_P(PublicJwkTest, KeyThumbprintIsThumbprintOfPublicJwk) {
  const PrivateKey& key = TestKey(GetParam());
  absl::StatusOr<std::string> expected = JwkThumbprint(PublicJwk(key));
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_EQ(JwkThumbprint(key), *expected);
  EXPECT_EQ(expected->size(), 43u);  // 32 bytes, unpadded.
}

INSTANTIATE_TEST_SUITE_P(AllTypes, PublicJwkTest, ::testing::ValuesIn(testing::kAllKeyTypes));

}  // namespace
}  // namespace certfleet::crypto
