#include "dux/sql/binder.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace dux::sql {
namespace {

// A connection's binder that counts what it runs; `gate` (when set) holds each statement
// until it opens.
class CountingBinder : public Binder {
 public:
  Result<pipeline::Schema> Describe(const std::string& select_sql) override {
    ++describes;
    Wait();
    if (select_sql == "bad") return Status::InvalidArgument("bad on " + name);
    pipeline::Schema schema;
    schema.columns.push_back({select_sql, name});
    return schema;
  }
  Result<TextRows> QueryText(const std::string& sql) override {
    ++queries;
    Wait();
    return TextRows{{std::optional<std::string>(sql + " by " + name)}};
  }
  void Wait() {
    while (gate && !gate->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::string name;
  std::atomic<bool>* gate = nullptr;
  std::atomic<int> describes{0}, queries{0};
};

// Two connections' binders sharing one cache (public: the tests use them by their short names).
class BindCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a.name = "a";
    b.name = "b";
  }

 public:
  CountingBinder a, b;
  BindCache cache;
  CachingBinder on_a{&a, &cache}, on_b{&b, &cache};
};

TEST_F(BindCacheTest, EachSelectRunsOnceForAllBinders) {
  EXPECT_EQ(on_a.Describe("s")->columns[0].type, "a");
  EXPECT_EQ(on_b.Describe("s")->columns[0].type, "a");  // a's answer
  EXPECT_EQ((*on_b.QueryText("SELECT 1"))[0][0], "SELECT 1 by b");
  EXPECT_EQ((*on_a.QueryText("SELECT 1"))[0][0], "SELECT 1 by b");
  EXPECT_EQ(a.describes + b.describes, 1);
  EXPECT_EQ(a.queries + b.queries, 1);
}

TEST_F(BindCacheTest, OnlySelectsAreShared) {
  ASSERT_TRUE(on_a.QueryText("CREATE TABLE t (x INTEGER)").ok());
  ASSERT_TRUE(on_a.QueryText("CREATE TABLE t (x INTEGER)").ok());
  EXPECT_EQ(a.queries, 2);
}

TEST_F(BindCacheTest, FailuresAreNotKeptEachCallerMeetsItsOwn) {
  EXPECT_EQ(on_a.Describe("bad").status().message(), "bad on a");
  EXPECT_EQ(on_b.Describe("bad").status().message(), "bad on b");
  EXPECT_EQ(a.describes + b.describes, 2);
}

TEST_F(BindCacheTest, ACallerWaitsForTheStatementBeingRun) {
  std::atomic<bool> gate{false};
  a.gate = &gate;
  std::thread ahead([&] { EXPECT_TRUE(on_a.QueryText("SELECT slow").ok()); });
  while (a.queries == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::atomic<bool> got{false};
  std::thread caller([&] {
    EXPECT_EQ((*on_b.QueryText("SELECT slow"))[0][0], "SELECT slow by a");
    got = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(got);  // still waiting for a's answer
  gate = true;
  ahead.join();
  caller.join();
  EXPECT_TRUE(got);
  EXPECT_EQ(b.queries, 0);
}

}  // namespace
}  // namespace dux::sql
