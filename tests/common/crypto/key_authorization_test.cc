#include "common/crypto/key_authorization.h"

#include <string>

#include "common/crypto/base64url.h"
#include "common/crypto/jwk.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/crypto/test_util.h"

namespace certfleet::crypto {
namespace {

// RFC 8555's example token with the RFC 7638 example key's thumbprint.
constexpr char kKeyAuthorization[] =
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
// printf "%s" "$KA" | openssl dgst -sha256 (and sha256sum agree).
constexpr char kDigestHex[] = "653471d42925d7eb4cd39a39cda8b34d3034c94cb90067ab78c8123560ba2e5f";

TEST(KeyAuthorizationTest, IsTokenDotThumbprint) {
  const PrivateKey& key = testing::TestKey(KeyType::kEcdsaP256);
  EXPECT_EQ(KeyAuthorization("tok-en_1", key), "tok-en_1." + JwkThumbprint(key));
}

TEST(KeyAuthorizationTest, DigestMatchesOpensslCli) {
  testing::CommandResult cli = testing::RunCommand(
      std::string("printf '%s' '") + kKeyAuthorization + "' | openssl dgst -sha256 -hex -r");
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  std::string digest = KeyAuthorizationDigest(kKeyAuthorization);
  EXPECT_EQ(digest.size(), 32u);
  EXPECT_EQ(cli.output.substr(0, 64), testing::HexEncode(digest));
}

TEST(KeyAuthorizationTest, DigestMatchesKnownValue) {
  EXPECT_EQ(testing::HexEncode(KeyAuthorizationDigest(kKeyAuthorization)), kDigestHex);
}

TEST(KeyAuthorizationTest, Dns01TxtValueIsBase64UrlDigest) {
  std::string txt = Dns01TxtValue(kKeyAuthorization);
  EXPECT_EQ(txt, Base64UrlEncode(KeyAuthorizationDigest(kKeyAuthorization)));
  EXPECT_EQ(txt.size(), 43u);
  EXPECT_EQ(txt.find('='), std::string::npos);
}

}  // namespace
}  // namespace certfleet::crypto
