#include "common/log.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certfleet {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Restores the global log level after each test.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = GetLogLevel(); }
  void TearDown() override { SetLogLevel(saved_); }

  LogLevel saved_ = LogLevel::kInfo;
};

TEST(ParseLogLevelTest, KnownNames) {
  LogLevel level = LogLevel::kError;
  ASSERT_TRUE(ParseLogLevel("debug", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  ASSERT_TRUE(ParseLogLevel("info", &level));
  EXPECT_EQ(level, LogLevel::kInfo);
  ASSERT_TRUE(ParseLogLevel("warning", &level));
  EXPECT_EQ(level, LogLevel::kWarning);
  ASSERT_TRUE(ParseLogLevel("warn", &level));
  EXPECT_EQ(level, LogLevel::kWarning);
  ASSERT_TRUE(ParseLogLevel("error", &level));
  EXPECT_EQ(level, LogLevel::kError);
}

TEST(ParseLogLevelTest, UnknownNamesLeaveLevelUnchanged) {
  LogLevel level = LogLevel::kWarning;
  EXPECT_FALSE(ParseLogLevel("", &level));
  EXPECT_FALSE(ParseLogLevel("verbose", &level));
  EXPECT_FALSE(ParseLogLevel("INFO ", &level));
  EXPECT_EQ(level, LogLevel::kWarning);
}

TEST_F(LogTest, SetAndGetLevel) {
  SetLogLevel(LogLevel::kError);
  EXPECT_EQ(GetLogLevel(), LogLevel::kError);
  SetLogLevel(LogLevel::kDebug);
  EXPECT_EQ(GetLogLevel(), LogLevel::kDebug);
}

TEST_F(LogTest, WritesMessageAndFields) {
  SetLogLevel(LogLevel::kInfo);
  testing::internal::CaptureStderr();
  CF_LOG(INFO) << "issuance started" << Kv("issuance", 42) << Kv("name", "example.com");
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_THAT(out, ::testing::StartsWith("ts="));
  EXPECT_THAT(out, HasSubstr(" level=info msg=\"issuance started\" src=log_test.cc:"));
  EXPECT_THAT(out, HasSubstr(" issuance=42 name=example.com\n"));
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1);  // Exactly one line.
}

TEST_F(LogTest, KvQuotesValuesWithSpacesQuotesEqualsAndNewlines) {
  SetLogLevel(LogLevel::kDebug);
  testing::internal::CaptureStderr();
  CF_LOG(WARNING) << "x" << Kv("plain", "abc") << Kv("space", "a b") << Kv("quote", "say \"hi\"")
                  << Kv("eq", "k=v") << Kv("nl", "l1\nl2") << Kv("empty", "")
                  << Kv("slash", "a\\b c");
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_THAT(out, HasSubstr(" level=warning msg=x "));
  EXPECT_THAT(out, HasSubstr(" plain=abc "));
  EXPECT_THAT(out, HasSubstr(" space=\"a b\" "));
  EXPECT_THAT(out, HasSubstr(" quote=\"say \\\"hi\\\"\" "));
  EXPECT_THAT(out, HasSubstr(" eq=\"k=v\" "));
  EXPECT_THAT(out, HasSubstr(" nl=\"l1\\nl2\" "));
  EXPECT_THAT(out, HasSubstr(" empty=\"\" "));
  EXPECT_THAT(out, HasSubstr(" slash=\"a\\\\b c\"\n"));
  EXPECT_EQ(out.find('\n'), out.size() - 1);  // The newline in a value is escaped.
}

TEST_F(LogTest, LinesBelowTheLevelAreNotWritten) {
  SetLogLevel(LogLevel::kWarning);
  int evaluated = 0;
  auto count = [&evaluated] { return ++evaluated; };
  testing::internal::CaptureStderr();
  CF_LOG(DEBUG) << "debug line" << count();
  CF_LOG(INFO) << "info line" << count();
  CF_LOG(ERROR) << "error line";
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_THAT(out, Not(HasSubstr("debug line")));
  EXPECT_THAT(out, Not(HasSubstr("info line")));
  EXPECT_THAT(out, HasSubstr("level=error msg=\"error line\""));
  EXPECT_EQ(evaluated, 0);  // Suppressed lines do not evaluate their arguments.
}

TEST_F(LogTest, MacroIsSafeInUnbracedIfElse) {
  SetLogLevel(LogLevel::kInfo);
  testing::internal::CaptureStderr();
  bool flag = false;
  if (flag)
    CF_LOG(INFO) << "then branch";
  else
    CF_LOG(INFO) << "else branch";
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_THAT(out, Not(HasSubstr("then branch")));
  EXPECT_THAT(out, HasSubstr("else branch"));
}

}  // namespace
}  // namespace certfleet
