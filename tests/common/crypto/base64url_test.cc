#include "common/crypto/base64url.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certfleet::crypto {
namespace {

using ::testing::HasSubstr;

TEST(Base64UrlTest, EncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
}

TEST(Base64UrlTest, UsesUrlSafeAlphabet) {
  EXPECT_EQ(Base64UrlEncode(std::string("\xfb\xff\xbf", 3)), "-_-_");
  EXPECT_EQ(Base64UrlEncode(std::string("\xfb\xff", 2)), "-_8");
}

TEST(Base64UrlTest, RoundTripsAllByteValues) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (size_t len = 0; len <= bytes.size(); len += 37) {
    std::string input = bytes.substr(0, len);
    absl::StatusOr<std::string> decoded = Base64UrlDecode(Base64UrlEncode(input));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, input);
  }
}

TEST(Base64UrlTest, DecodesPaddedInput) {
  absl::StatusOr<std::string> decoded = Base64UrlDecode("Zg==");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, "f");
}

TEST(Base64UrlTest, RejectsStandardAlphabetCharacters) {
  absl::StatusOr<std::string> decoded = Base64UrlDecode("Zm9v+w");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(decoded.status().message()), HasSubstr("invalid character at offset 4"));
}

TEST(Base64UrlTest, RejectsImpossibleLength) {
  absl::StatusOr<std::string> decoded = Base64UrlDecode("Zm9vY");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(decoded.status().message()), HasSubstr("impossible length"));
}

TEST(Base64UrlTest, RejectsMisplacedPadding) {
  absl::StatusOr<std::string> decoded = Base64UrlDecode("Zg=");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(decoded.status().message()), HasSubstr("bad padding"));
}

}  // namespace
}  // namespace certfleet::crypto
