// The worker's cache of compiled fragments (fragment_cache.h): which fragments have a key,
// that the key follows every file's identity, and the least recently used entry going first.
#include "dux/worker/fragment_cache.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "dux/pipeline/language.h"
#include "dux/pipeline/proto_mapping.h"

namespace dux::worker {
namespace {

namespace fs = std::filesystem;

class FragmentCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dux-fragment-cache-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    for (const char* name : {"a.parquet", "b.parquet"}) Write(dir_ / name, "12345");
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void Write(const fs::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }

  // A fragment of `text` whose parquet source reads the files a.parquet and b.parquet.
  std::pair<v1::Fragment, pipeline::Script> Fragment(const std::string& text,
                                                     const std::string& lease = "l1") {
    return FragmentReading(text, {(dir_ / "a.parquet").string(), (dir_ / "b.parquet").string()},
                           lease);
  }

  // A fragment of `text` whose parquet source, if it has one, reads `files`.
  static std::pair<v1::Fragment, pipeline::Script> FragmentReading(
      const std::string& text, const std::vector<std::string>& files,
      const std::string& lease = "l1") {
    auto parsed = pipeline::ParseScript(text);
    EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
    pipeline::Script s = *parsed;
    pipeline::Source source = s.pipeline.source();
    if (auto* p = std::get_if<pipeline::ParquetSource>(&source.body)) p->files = files;
    pipeline::Pipeline with_files(source);
    for (const auto& op : s.pipeline.ops()) with_files.Append(op);
    s.pipeline = with_files;
    v1::Fragment fragment;
    fragment.set_query_id("q-" + lease);
    fragment.set_lease_id(lease);
    pipeline::ToProto(s, fragment.mutable_script());
    return {fragment, s};
  }

  std::string From() const { return "from_parquet(\"" + (dir_ / "*.parquet").string() + "\")"; }

  fs::path dir_;
};

TEST_F(FragmentCacheTest, TheKeyIsTheFragmentAndItsFilesNotItsQueryOrLease) {
  auto [first, script] = Fragment(From() + " |> filter(x > 1)", "l1");
  auto [second, same] = Fragment(From() + " |> filter(x > 1)", "l2");
  auto key = FragmentCache::KeyOf(first, script);
  ASSERT_TRUE(key);
  EXPECT_EQ(FragmentCache::KeyOf(second, same), key);
  auto [other, other_script] = Fragment(From() + " |> filter(x > 2)");
  EXPECT_NE(FragmentCache::KeyOf(other, other_script), key);
  v1::Fragment adaptive = first;
  adaptive.mutable_adaptive_partial_aggregate()->add_row_partials("x");
  EXPECT_NE(FragmentCache::KeyOf(adaptive, script), key);
}

TEST_F(FragmentCacheTest, AFileRewrittenOrTouchedChangesTheKey) {
  auto [fragment, script] = Fragment(From());
  auto key = FragmentCache::KeyOf(fragment, script);
  ASSERT_TRUE(key);
  Write(dir_ / "b.parquet", "123456");  // another size
  auto resized = FragmentCache::KeyOf(fragment, script);
  ASSERT_TRUE(resized);
  EXPECT_NE(resized, key);
  // The same size, a later modification time.
  fs::last_write_time(dir_ / "b.parquet",
                      fs::last_write_time(dir_ / "b.parquet") + std::chrono::seconds(5));
  auto touched = FragmentCache::KeyOf(fragment, script);
  ASSERT_TRUE(touched);
  EXPECT_NE(touched, resized);
  fs::remove(dir_ / "a.parquet");
  EXPECT_FALSE(FragmentCache::KeyOf(fragment, script));
}

TEST_F(FragmentCacheTest, FragmentsThatDependOnMoreThanTheirFilesHaveNoKey) {
  auto [gather, script] = Fragment(From());
  v1::Fragment shuffled = gather;
  shuffled.mutable_shuffle();
  EXPECT_FALSE(FragmentCache::KeyOf(shuffled, script));
  v1::Fragment inserting = gather;
  inserting.mutable_postgres_insert();
  EXPECT_FALSE(FragmentCache::KeyOf(inserting, script));
  // A join's side read from a query (or a table) depends on more than files.
  auto [joined, join_script] = Fragment(From() + " |> join(from_query(\"SELECT 1 AS x\"), on: x)");
  EXPECT_FALSE(FragmentCache::KeyOf(joined, join_script));
  auto [query, query_script] = Fragment("from_query(\"SELECT 1 AS x\")");
  EXPECT_FALSE(FragmentCache::KeyOf(query, query_script));
  auto [remote, remote_script] =
      FragmentReading("from_parquet(\"s3://bucket/x.parquet\")", {"s3://bucket/x.parquet"});
  EXPECT_FALSE(FragmentCache::KeyOf(remote, remote_script));
}

TEST_F(FragmentCacheTest, AJoinsSideReadFromItsFilesIsPartOfTheKey) {
  Write(dir_ / "side.parquet", "abc");
  // The fragment as the coordinator sends it: the side's files listed in its source.
  auto joined = [&](std::vector<std::string> side_files) {
    auto [fragment, script] = Fragment(From() + " |> join(from_parquet(\"" +
                                       (dir_ / "side.parquet").string() + "\"), on: x)");
    pipeline::Op op = script.pipeline.ops()[0];
    auto& join = std::get<pipeline::JoinOp>(op.body);
    pipeline::Source side = join.right->source();
    std::get<pipeline::ParquetSource>(side.body).files = std::move(side_files);
    join.right = std::make_shared<pipeline::Pipeline>(side);
    pipeline::Pipeline with_side(script.pipeline.source());
    with_side.Append(op);
    script.pipeline = with_side;
    pipeline::ToProto(script, fragment.mutable_script());
    return FragmentCache::KeyOf(fragment, script);
  };
  auto key = joined({(dir_ / "side.parquet").string()});
  ASSERT_TRUE(key);
  Write(dir_ / "side.parquet", "abcd");  // the side rewritten
  auto rewritten = joined({(dir_ / "side.parquet").string()});
  ASSERT_TRUE(rewritten);
  EXPECT_NE(rewritten, key);
  // A side whose files are not listed is globbed when it compiles.
  EXPECT_FALSE(joined({}));
}

TEST_F(FragmentCacheTest, KeepsTheMostRecentlyUsed) {
  FragmentCache cache(2);
  cache.Put("a", {"SELECT 1", {}, std::nullopt});
  cache.Put("b", {"SELECT 2", {}, PartialAggregationDecision{true, 1.0}});
  ASSERT_TRUE(cache.Find("a"));  // a is now more recent than b
  cache.Put("c", {"SELECT 3", {}, std::nullopt});
  EXPECT_FALSE(cache.Find("b"));
  ASSERT_TRUE(cache.Find("a"));
  EXPECT_EQ(cache.Find("a")->sql, "SELECT 1");
  ASSERT_TRUE(cache.Find("c"));
  cache.Put("c", {"SELECT 4", {{"t"}, {"read_parquet"}}, PartialAggregationDecision{false, 50.0}});
  auto c = cache.Find("c");
  ASSERT_TRUE(c && c->partial_aggregation);
  EXPECT_EQ(c->sql, "SELECT 4");
  EXPECT_FALSE(c->partial_aggregation->skip);
  EXPECT_EQ(c->references.tables, std::set<std::string>{"t"});
}

}  // namespace
}  // namespace dux::worker
