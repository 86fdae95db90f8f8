#include "server/acme/retry_after.h"

#include <stdlib.h>
#include <time.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace certfleet::acme {
namespace {

using ::testing::HasSubstr;

// 1994-11-06T08:49:37Z, the RFC's example date.
const absl::Time kExample = absl::FromUnixSeconds(784111777);
const absl::Time kNow = absl::FromUnixSeconds(1700000000);

TEST(RetryAfterTest, ReadRetryAfterFromHeaders) {
  HttpHeaders headers;
  EXPECT_EQ(ReadRetryAfter(headers, kNow), std::nullopt);
  headers.Add("retry-after", "30");
  EXPECT_EQ(ReadRetryAfter(headers, kNow), kNow + absl::Seconds(30));
  HttpHeaders bad;
  bad.Add("Retry-After", "soon");
  EXPECT_EQ(ReadRetryAfter(bad, kNow), std::nullopt);
}

TEST(RetryAfterTest, DeltaSeconds) {
  EXPECT_EQ(*ParseRetryAfter("120", kNow), kNow + absl::Seconds(120));
  EXPECT_EQ(*ParseRetryAfter(" 0 ", kNow), kNow);
}

TEST(RetryAfterTest, ImfFixdate) {
  auto t = ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, kExample);
}

TEST(RetryAfterTest, Rfc850) {
  auto t = ParseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, kExample);
}

TEST(RetryAfterTest, Asctime) {
  auto t = ParseRetryAfter("Sun Nov  6 08:49:37 1994", kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, kExample);
}

TEST(RetryAfterTest, GarbageIsInvalidArgument) {
  for (const char* bad : {"", "soon", "-5", "12abc", "Sun, 32 Nov 1994 08:49:37 GMT",
                          "99999999999999999999"}) {
    auto t = ParseRetryAfter(bad, kNow);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(t.status().message()), HasSubstr("Retry-After")) << bad;
  }
}

TEST(RetryAfterTest, HttpDatesAreUtcWhateverTheTimeZone) {
  const char* old_tz = getenv("TZ");
  std::string saved = old_tz != nullptr ? old_tz : "";
  setenv("TZ", "America/New_York", 1);
  tzset();
  EXPECT_EQ(*ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", kNow), kExample);
  EXPECT_EQ(*ParseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", kNow), kExample);
  EXPECT_EQ(*ParseRetryAfter("Sun Nov  6 08:49:37 1994", kNow), kExample);
  if (old_tz != nullptr) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
}

}  // namespace
}  // namespace certfleet::acme
