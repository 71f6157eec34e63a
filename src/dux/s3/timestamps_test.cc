#include "dux/s3/timestamps.h"

#include <gtest/gtest.h>

namespace dux::s3 {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

// 2026-12-05T10:50:43Z
constexpr int64_t kSeconds = 1796467843;

TEST(S3TimestampsTest, ParsesIso8601) {
  EXPECT_EQ(*ParseIso8601("2026-12-05T10:50:43.000Z"), system_clock::time_point(seconds(kSeconds)));
  EXPECT_EQ(*ParseIso8601("2026-12-05T10:50:43Z"), system_clock::time_point(seconds(kSeconds)));
  EXPECT_EQ(*ParseIso8601("2026-12-05T10:50:43.25Z"),
            system_clock::time_point(seconds(kSeconds)) + std::chrono::milliseconds(250));
  EXPECT_EQ(*ParseIso8601("2026-12-05T12:50:43+02:00"),
            system_clock::time_point(seconds(kSeconds)));
  EXPECT_FALSE(ParseIso8601("2026-12-05 10:50:43Z").ok());
  EXPECT_FALSE(ParseIso8601("2026-13-05T10:50:43Z").ok());
  EXPECT_FALSE(ParseIso8601("2026-12-05T10:50:43").ok());
  EXPECT_FALSE(ParseIso8601("2026-12-05T10:50:43.Z").ok());
  EXPECT_EQ(ParseIso8601("yesterday").status().message(), "s3: bad timestamp \"yesterday\"");
}

TEST(S3TimestampsTest, ParsesHttpDates) {
  EXPECT_EQ(*ParseHttpDate("Sat, 05 Dec 2026 10:50:43 GMT"),
            system_clock::time_point(seconds(kSeconds)));
  EXPECT_EQ(*ParseHttpDate("Thu, 01 Jan 1970 00:00:00 GMT"), system_clock::time_point());
  EXPECT_FALSE(ParseHttpDate("Sat, 05 Dex 2026 10:50:43 GMT").ok());
  EXPECT_FALSE(ParseHttpDate("Sat, 05 Dec 2026 10:50:43 UTC").ok());
  EXPECT_FALSE(ParseHttpDate("05 Dec 2026 10:50:43 GMT").ok());
}

}  // namespace
}  // namespace dux::s3
