#include "dux/common/status.h"

#include <gtest/gtest.h>

namespace dux {
namespace {

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("odd value " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  DUX_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(StatusTest, PropagatesFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "odd value 3");
}

TEST(StatusTest, PrefixKeepsCodeAndOkStaysOk) {
  Status s = Status::NotFound("no file").WithPrefix("from_csv");
  EXPECT_EQ(s.ToString(), "NOT_FOUND: from_csv: no file");
  EXPECT_TRUE(Status::OK().WithPrefix("x").ok());
}

}  // namespace
}  // namespace dux
