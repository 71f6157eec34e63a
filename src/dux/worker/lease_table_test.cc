// The expiry rule of LeaseTable, on a fake clock moved by hand.
#include "dux/worker/lease_table.h"

#include <gtest/gtest.h>

namespace dux::worker {
namespace {

using namespace std::chrono_literals;

class LeaseTableTest : public ::testing::Test {
 protected:
  LeaseTable::Clock::time_point now_{};
  LeaseTable table_{1000ms, [this] { return now_; }};
};

TEST_F(LeaseTableTest, ALeaseRenewedWithinTheTimeoutNeverExpires) {
  ASSERT_TRUE(table_.AddQuery("L", "q-0").ok());
  ASSERT_TRUE(table_.AddTable("L", "__dux_exchange_q-p0_1").ok());
  for (int i = 0; i < 20; ++i) {
    now_ += 900ms;
    EXPECT_TRUE(table_.TakeExpired().empty()) << "after " << i << " renewals";
    ASSERT_TRUE(table_.Renew("L").ok());
  }
  EXPECT_EQ(table_.size(), 1u);
}

TEST_F(LeaseTableTest, ASilentLeaseExpiresWithWhatItHeldOnlyAfterTheTimeout) {
  ASSERT_TRUE(table_.Renew("L").ok());
  ASSERT_TRUE(table_.AddQuery("L", "q-0").ok());
  ASSERT_TRUE(table_.AddTable("L", "__dux_broadcast_q_0").ok());
  ASSERT_TRUE(table_.AddTable("L", "__dux_exchange_q-p0_1").ok());
  ASSERT_TRUE(table_.AddQuery("M", "r-0").ok());
  now_ += 1000ms;  // exactly the timeout: still held
  EXPECT_TRUE(table_.TakeExpired().empty());
  ASSERT_TRUE(table_.Renew("M").ok());
  now_ += 1ms;
  std::vector<LeaseTable::Expired> expired = table_.TakeExpired();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].lease, "L");
  EXPECT_EQ(expired[0].queries, std::vector<std::string>{"q-0"});
  EXPECT_EQ(expired[0].tables,
            (std::vector<std::string>{"__dux_broadcast_q_0", "__dux_exchange_q-p0_1"}));
  EXPECT_DOUBLE_EQ(expired[0].silent_seconds, 1.001);
  EXPECT_TRUE(table_.TakeExpired().empty()) << "an expiry is reported once";
  EXPECT_EQ(table_.size(), 1u);  // M, renewed
}

TEST_F(LeaseTableTest, APeersBucketDoesNotRenewButTheCoordinatorsCallsDo) {
  ASSERT_TRUE(table_.AddQuery("L", "q-0").ok());
  now_ += 800ms;
  ASSERT_TRUE(table_.AddTable("L", "__dux_exchange_q-p1_0").ok());  // a peer's push
  now_ += 300ms;
  ASSERT_EQ(table_.TakeExpired().size(), 1u);
}

TEST_F(LeaseTableTest, AnExpiredLeaseIsRefusedAndNamed) {
  ASSERT_TRUE(table_.AddTable("L", "t").ok());
  now_ += 2s;
  ASSERT_EQ(table_.TakeExpired().size(), 1u);
  for (const Status& s :
       {table_.Renew("L"), table_.AddTable("L", "u"), table_.AddQuery("L", "q")}) {
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(s.message().find("lease L has expired"), std::string::npos) << s.message();
  }
  // Refused long after, then forgotten so that the record stays bounded.
  now_ += 9min;
  (void)table_.TakeExpired();
  EXPECT_FALSE(table_.Renew("L").ok());
  now_ += 2min;
  (void)table_.TakeExpired();
  EXPECT_TRUE(table_.Renew("L").ok());
}

TEST_F(LeaseTableTest, WhatEndedNormallyIsNotDroppedAgain) {
  ASSERT_TRUE(table_.AddQuery("L", "q-0").ok());
  ASSERT_TRUE(table_.AddTable("L", "t").ok());
  ASSERT_TRUE(table_.AddQuery("N", "n-0").ok());
  table_.RemoveQuery("L", "q-0");
  table_.RemoveTable("t");
  table_.RemoveQuery("N", "n-0");
  now_ += 5s;
  EXPECT_TRUE(table_.TakeExpired().empty()) << "a lease holding nothing goes quietly";
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(LeaseTableTest, NoLeaseHoldsNothing) {
  EXPECT_TRUE(table_.Renew("").ok());
  EXPECT_TRUE(table_.AddTable("", "t").ok());
  EXPECT_TRUE(table_.AddQuery("", "q").ok());
  now_ += 1h;
  EXPECT_TRUE(table_.TakeExpired().empty());
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(LeaseTableTest, ATableItsQueryDroppedCannotComeBack) {
  ASSERT_TRUE(table_.AddTable("A", "made").ok());
  table_.RemoveTable("made");  // it was dropped
  table_.Dropped("A", "made");
  table_.Dropped("A", "never-made");  // a retry's bucket the cleanup drops just in case
  for (const char* t : {"made", "never-made"}) {
    Status late = table_.AddTable("A", t);  // a peer's push still on its way
    EXPECT_EQ(late.code(), StatusCode::kFailedPrecondition) << t;
    EXPECT_NE(late.message().find("was dropped by its query"), std::string::npos);
  }
  EXPECT_TRUE(table_.AddTable("B", "made").ok());  // another query may use the name
  now_ += 2s;
  EXPECT_EQ(table_.TakeExpired().size(), 1u);  // B's table; A held nothing
}

TEST_F(LeaseTableTest, ATableIsItsLeasesAloneUntilDroppedOrExpired) {
  ASSERT_TRUE(table_.AddTable("A", "t").ok());
  EXPECT_TRUE(table_.CheckAccess("A", "t").ok());
  for (const char* other : {"B", ""}) {
    Status refused = table_.CheckAccess(other, "t");
    EXPECT_EQ(refused.code(), StatusCode::kPermissionDenied) << other;
    EXPECT_EQ(refused.message().find('A'), std::string::npos) << "names the other lease";
    EXPECT_EQ(table_.AddTable(other, "t").code(), StatusCode::kPermissionDenied) << other;
  }
  EXPECT_TRUE(table_.CheckAccess("B", "unheld").ok());
  table_.RemoveTable("t");
  EXPECT_TRUE(table_.AddTable("B", "t").ok());
  now_ += 2s;
  ASSERT_EQ(table_.TakeExpired().size(), 1u);
  EXPECT_TRUE(table_.CheckAccess("C", "t").ok());
}

}  // namespace
}  // namespace dux::worker
