#include "common/crypto/token_digest.h"

#include "gtest/gtest.h"

namespace certfleet::crypto {
namespace {

TEST(TokenDigestTest, Sha256OfAbcIsTheFipsVector) {
  absl::StatusOr<TokenDigest> digest = DigestToken("abc");
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(TokenDigestHex(*digest),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(TokenDigestTest, HexRoundTripsInEitherCase) {
  absl::StatusOr<TokenDigest> lower =
      ParseTokenDigestHex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  absl::StatusOr<TokenDigest> upper =
      ParseTokenDigestHex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
  ASSERT_TRUE(lower.ok());
  ASSERT_TRUE(upper.ok());
  EXPECT_TRUE(TokenDigestsEqual(*lower, *upper));
  EXPECT_TRUE(TokenDigestsEqual(*lower, *DigestToken("abc")));
  EXPECT_FALSE(TokenDigestsEqual(*lower, *DigestToken("abd")));
}

TEST(TokenDigestTest, RejectsAnythingButSixtyFourHexDigits) {
  for (const char* bad : {"", "00", "g" /* not hex */,
                          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
                          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015adx",
                          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a "}) {
    absl::StatusOr<TokenDigest> digest = ParseTokenDigestHex(bad);
    EXPECT_EQ(digest.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(digest.status().message(), "must be 64 hex digits") << bad;
  }
}

}  // namespace
}  // namespace certfleet::crypto
