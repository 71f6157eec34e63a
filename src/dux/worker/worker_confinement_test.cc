// A worker confined with --allow-dir (WorkerOptions::allowed_directories) refuses every path
// that leaves its directories, whatever the spelling (.., symlinks, absolute paths, file://,
// globs), with one clear line; and what it holds for one query (buckets, broadcast tables)
// cannot be read or dropped by a request of another query. docs/reliability.md, "Hostile
// messages".
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dux/arrow_ipc/streams.h"
#include "dux/pipeline/language.h"
#include "dux/pipeline/proto_mapping.h"
#include "dux/worker/worker.h"

namespace dux::worker {
namespace {

namespace fs = std::filesystem;

// Keeps the result's bytes, to look for the secret in them.
class KeepingWriter : public ChunkWriter {
 public:
  bool Write(std::string chunk) override {
    bytes += chunk;
    return true;
  }
  std::string bytes;
};

constexpr const char* kSecret = "secret-value-outside-the-allowed-dir";

class Confinement : public testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("dux-confinement-" + std::to_string(getpid()));
    fs::remove_all(base_);
    fs::create_directories(base_ / "allowed" / "sub");
    fs::create_directories(base_ / "outside");
    fs::create_directories(base_ / "allowedx");  // shares the allowed dir's prefix
    {
      // The files, written by an unconfined worker.
      WorkerOptions open;
      open.threads = 1;
      auto w = std::move(Worker::Open(open)).value();
      const std::string secret = std::string("SELECT '") + kSecret + "' AS s";
      for (const auto& dir : {base_ / "outside", base_ / "allowedx"}) {
        ASSERT_TRUE(Run(*w,
                        "from_query(\"" + secret + "\") |> to_parquet(\"" +
                            (dir / "secret.parquet").string() + "\")",
                        "Write")
                        .ok());
        ASSERT_TRUE(Run(*w,
                        "from_query(\"" + secret + "\") |> to_csv(\"" +
                            (dir / "secret.csv").string() + "\")",
                        "Write")
                        .ok());
        ASSERT_TRUE(Run(*w,
                        "from_query(\"" + secret + "\") |> to_arrow(\"" +
                            (dir / "secret.arrow").string() + "\")",
                        "Write")
                        .ok());
      }
      ASSERT_TRUE(Run(*w,
                      "from_query(\"SELECT 1 AS a\") |> to_parquet(\"" +
                          (base_ / "allowed" / "t.parquet").string() + "\")",
                      "Write")
                      .ok());
    }
    fs::create_symlink(base_ / "outside" / "secret.parquet", base_ / "allowed" / "file.parquet");
    fs::create_symlink(base_ / "outside" / "secret.arrow", base_ / "allowed" / "file.arrow");
    fs::create_directory_symlink("../outside", base_ / "allowed" / "dir");
    fs::create_directory_symlink("../../outside", base_ / "allowed" / "sub" / "up");
    WorkerOptions options;
    options.threads = 1;
    options.allowed_directories = {(base_ / "allowed").string()};
    worker_ = std::move(Worker::Open(options)).value();
    previous_ = fs::current_path();
    fs::current_path(base_ / "allowed");
  }
  void TearDown() override {
    fs::current_path(previous_);
    worker_.reset();
    fs::remove_all(base_);
  }

  // Runs `text` as a fragment through Execute (or Write); the secret must never come back.
  Status Run(Worker& w, const std::string& text, const char* call = "Execute",
             const std::string& query_id = "q1", const std::string& lease = "",
             std::string* rows = nullptr) {
    auto script = pipeline::ParseScript(text);
    if (!script.ok()) return script.status();
    v1::Fragment fragment;
    fragment.set_query_id(query_id);
    fragment.set_lease_id(lease);
    pipeline::ToProto(*script, fragment.mutable_script());
    if (std::string(call) == "Write") {
      v1::WriteRequest request;
      *request.mutable_fragment() = fragment;
      return w.Write(request).status();
    }
    v1::ExecuteRequest request;
    *request.mutable_fragment() = fragment;
    KeepingWriter out;
    Status s = w.Execute(request, &out);
    EXPECT_EQ(out.bytes.find(kSecret), std::string::npos) << text;
    if (rows) *rows = out.bytes;
    return s;
  }

  // The fragment is refused with one line that names the path's verb or the confinement.
  void ExpectRefused(const std::string& text, const char* call = "Execute") {
    Status s = Run(*worker_, text, call);
    EXPECT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
    EXPECT_TRUE(s.code() == StatusCode::kPermissionDenied ||
                s.code() == StatusCode::kInvalidArgument)
        << text << ": " << s.ToString();
    EXPECT_TRUE(s.message().find("outside the directories this worker may access") !=
                    std::string::npos ||
                s.message().find("Cannot access") != std::string::npos)
        << text << ": " << s.ToString();
  }

  fs::path base_, previous_;
  std::unique_ptr<Worker> worker_;
};

TEST_F(Confinement, ReadsInsideTheAllowedDirectory) {
  const std::string allowed = (base_ / "allowed").string();
  for (const std::string& path :
       {allowed + "/t.parquet", allowed + "/sub/../t.parquet", allowed + "/t*.parquet"}) {
    Status s = Run(*worker_, "from_parquet(\"" + path + "\")");
    EXPECT_TRUE(s.ok()) << path << ": " << s.ToString();
  }
  Status written = Run(*worker_,
                       "from_parquet(\"" + allowed + "/t.parquet\") |> to_parquet(\"" + allowed +
                           "/sub/o.parquet\")",
                       "Write");
  EXPECT_TRUE(written.ok()) << written.ToString();
  // A glob is refused as a whole when one of its matches (here the symlink file.parquet)
  // leads out, rather than read without it.
  Status glob = Run(*worker_, "from_parquet(\"" + allowed + "/*.parquet\")");
  EXPECT_EQ(glob.code(), StatusCode::kInvalidArgument) << glob.ToString();
  EXPECT_NE(glob.message().find("file.parquet\" is outside the directories this worker may access"),
            std::string::npos)
      << glob.message();
}

TEST_F(Confinement, RefusesSourcesOutside) {
  const std::string allowed = (base_ / "allowed").string();
  const std::string outside = (base_ / "outside").string();
  for (const std::string& path : std::vector<std::string>{
           allowed + "/../outside/secret.parquet", outside + "/secret.parquet",
           allowed + "/file.parquet", allowed + "/dir/secret.parquet",
           allowed + "/sub/up/secret.parquet", "file://" + allowed + "/dir/secret.parquet",
           "file://localhost" + outside + "/secret.parquet", allowed + "x/secret.parquet",
           allowed + "/../*/secret.parquet", allowed + "/d*/secret.parquet", "/etc/passwd",
           "../outside/secret.parquet"}) {
    ExpectRefused("from_parquet(\"" + path + "\")");
  }
  // DuckDB's "**" does not descend into symlinked directories: nothing matches.
  EXPECT_FALSE(Run(*worker_, "from_parquet(\"" + allowed + "/**/secret.parquet\")").ok());
  for (const std::string& path : {allowed + "/../outside/secret.csv", allowed + "/dir/secret.csv",
                                  allowed + "/d?r/secret.csv"}) {
    ExpectRefused("from_csv(\"" + path + "\")");
  }
  for (const std::string& path :
       {allowed + "/../outside/secret.arrow", allowed + "/file.arrow",
        allowed + "/dir/secret.arrow", "file://" + allowed + "/dir/secret.arrow"}) {
    ExpectRefused("from_arrow(\"" + path + "\")");
  }
  // SQL of a query source reaches files through DuckDB's readers, confined the same way.
  for (const std::string& sql : {"SELECT * FROM read_parquet('" + outside + "/secret.parquet')",
                                 "SELECT * FROM '" + allowed + "/dir/secret.parquet'",
                                 "SELECT * FROM read_csv('" + allowed + "/dir/secret.csv')",
                                 "SELECT * FROM read_text('" + allowed + "/file.parquet')",
                                 "SELECT * FROM glob('" + allowed + "/dir/*')"}) {
    ExpectRefused("from_query(\"" + sql + "\")");
  }
  ExpectRefused("attach(\"d\", \"" + allowed + "/dir/x.duckdb\")\nfrom_query(\"SELECT 1 AS a\")");
}

TEST_F(Confinement, RefusesSinksOutside) {
  const std::string allowed = (base_ / "allowed").string();
  const std::string outside = (base_ / "outside").string();
  fs::create_symlink(base_ / "outside" / "new.parquet", base_ / "allowed" / "dangling.parquet");
  for (const std::string& path :
       std::vector<std::string>{allowed + "/../outside/o.parquet", allowed + "/dir/o.parquet",
                                allowed + "/sub/up/o.parquet", allowed + "/dangling.parquet",
                                "/tmp/dux-escape.parquet", "file://" + outside + "/o.parquet"}) {
    ExpectRefused("from_parquet(\"" + allowed + "/t.parquet\") |> to_parquet(\"" + path + "\")",
                  "Write");
  }
  ExpectRefused(
      "from_parquet(\"" + allowed + "/t.parquet\") |> to_csv(\"" + allowed + "/dir/o.csv\")",
      "Write");
  ExpectRefused("from_parquet(\"" + allowed + "/t.parquet\") |> to_parquet(\"" + allowed +
                    "/dir/parts\", partition_by: [a])",
                "Write");
  ExpectRefused(
      "from_parquet(\"" + allowed + "/t.parquet\") |> to_arrow(\"" + allowed + "/dir/o.arrow\")",
      "Write");
  // dux writes Arrow files itself: its own check refuses the dangling symlink too.
  ExpectRefused("from_parquet(\"" + allowed + "/t.parquet\") |> to_arrow(\"" + allowed +
                    "/dangling.parquet\")",
                "Write");
  // Nothing was written outside.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(base_ / "outside"))
    names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"secret.arrow", "secret.csv", "secret.parquet"}));
  EXPECT_FALSE(fs::exists("/tmp/dux-escape.parquet"));
}

TEST_F(Confinement, AnEmptyPathIsRefusedNotACrash) {
  // Found by fuzz/worker_path_fuzzer (fuzz/corpus/worker_path/repro-empty-sink-path): a
  // sink with an empty path ended the worker process (std::filesystem threw).
  const std::string source = "from_parquet(\"" + (base_ / "allowed" / "t.parquet").string() + "\")";
  for (const char* sink : {"to_csv", "to_parquet", "to_arrow", "to_ndjson"}) {
    v1::WriteRequest request;
    request.mutable_fragment()->set_query_id("q-empty");
    auto script = pipeline::ParseScript(source + " |> " + sink + "(\"x\")");
    ASSERT_TRUE(script.ok()) << script.status().ToString();
    pipeline::ToProto(*script, request.mutable_fragment()->mutable_script());
    auto* s = request.mutable_fragment()->mutable_script()->mutable_pipeline()->mutable_sink();
    if (s->has_to_csv()) s->mutable_to_csv()->set_path("");
    if (s->has_to_parquet()) s->mutable_to_parquet()->set_path("");
    if (s->has_to_arrow()) s->mutable_to_arrow()->set_path("");
    if (s->has_to_ndjson()) s->mutable_to_ndjson()->set_path("");
    auto reply = worker_->Write(request);
    ASSERT_FALSE(reply.ok()) << sink;
    EXPECT_EQ(reply.status().code(), StatusCode::kInvalidArgument) << reply.status().ToString();
    EXPECT_NE(reply.status().message().find(std::string(sink) + ": needs a path"),
              std::string::npos)
        << reply.status().message();
  }
  v1::ExecuteRequest read;
  read.mutable_fragment()->set_query_id("q-empty");
  read.mutable_fragment()->mutable_script()->mutable_pipeline()->mutable_source()->mutable_arrow();
  KeepingWriter out;
  Status s = worker_->Execute(read, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_TRUE(worker_->Info().ok());  // still serving
}

}  // namespace
}  // namespace dux::worker

namespace dux::worker {
namespace {

// What a query holds on a worker (here a broadcast side) is its lease's alone: a request of
// another query, or of none, can neither read it (from a source, a join or a subquery in an
// expression), nor fill, replace or drop it; and query() / query_table(), which name a table
// by a string, do not run on a worker at all.
TEST_F(Confinement, AQuerysTablesCannotBeReadFilledOrDroppedByAnother) {
  const std::string table = "__dux_broadcast_isolation_0";
  std::string ipc;
  ASSERT_TRUE(Run(*worker_, "from_query(\"SELECT 42 AS x\")", "Execute", "q0", "", &ipc).ok());
  arrow_ipc::StringInputStream in(ipc);
  ASSERT_TRUE(worker_->RegisterTable(table, "lease-a", &in).ok());

  const std::string reads[] = {
      "from_query(\"SELECT * FROM " + table + "\")",
      "from_query(\"SELECT 1 AS x\") |> mutate(y: (SELECT max(x) FROM memory.main." + table + "))",
      "from_query(\"SELECT 1 AS x\") |> filter(x IN (SELECT x FROM \"" + table + "\"))",
  };
  for (const auto& text : reads) {
    Status own = Run(*worker_, text, "Execute", "qa", "lease-a");
    EXPECT_TRUE(own.ok()) << text << ": " << own.ToString();
    for (const char* lease : {"lease-b", ""}) {
      Status other = Run(*worker_, text, "Execute", "qb", lease);
      EXPECT_EQ(other.code(), StatusCode::kPermissionDenied) << text << ": " << other.ToString();
      EXPECT_EQ(other.message(), "table \"" + table + "\" belongs to another query on this worker");
    }
  }
  for (const char* text :
       {"from_query(\"SELECT * FROM query_table('__dux_broadcast_isolation_0')\")",
        "from_query(\"SELECT * FROM query('SELECT 1')\")"}) {
    Status s = Run(*worker_, text, "Execute", "qa", "lease-a");
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << text << ": " << s.ToString();
    EXPECT_NE(s.message().find("cannot run on a worker"), std::string::npos) << s.message();
  }

  arrow_ipc::StringInputStream again(ipc);
  EXPECT_EQ(worker_->RegisterTable(table, "lease-b", &again).status().code(),
            StatusCode::kPermissionDenied);
  v1::AppendChunkRequest append;
  append.set_table(table);
  append.set_data(ipc);
  append.set_lease_id("lease-b");
  EXPECT_EQ(worker_->AppendChunk(append).status().code(), StatusCode::kPermissionDenied);
  v1::DropTableRequest drop;
  drop.set_table(table);
  drop.set_if_exists(true);
  for (const char* lease : {"lease-b", ""}) {
    drop.set_lease_id(lease);
    EXPECT_EQ(worker_->DropTable(drop).code(), StatusCode::kPermissionDenied) << lease;
  }
  // Still there for its own query, which drops it.
  ASSERT_TRUE(
      Run(*worker_, "from_query(\"SELECT * FROM " + table + "\")", "Execute", "qa", "lease-a")
          .ok());
  drop.set_lease_id("lease-a");
  EXPECT_TRUE(worker_->DropTable(drop).ok());
  EXPECT_TRUE(Run(*worker_, "from_query(\"SELECT 1 AS x\")", "Execute", "qb", "lease-b").ok());
}

}  // namespace
}  // namespace dux::worker
