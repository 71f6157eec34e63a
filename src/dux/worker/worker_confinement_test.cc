// A worker confined with --allow-dir (WorkerOptions::allowed_directories) refuses every path
// that leaves its directories, whatever the spelling (.., symlinks, absolute paths, file://,
// globs), with one clear line; and what it holds for one query (buckets, broadcast tables)
// cannot be read or dropped by a request of another query. docs/reliability.md, "Hostile
// messages".
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

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
        ASSERT_TRUE(Run(*w, "from_query(\"" + secret + "\") |> to_parquet(\"" +
                                (dir / "secret.parquet").string() + "\")", "Write")
                        .ok());
        ASSERT_TRUE(Run(*w, "from_query(\"" + secret + "\") |> to_csv(\"" +
                                (dir / "secret.csv").string() + "\")", "Write")
                        .ok());
        ASSERT_TRUE(Run(*w, "from_query(\"" + secret + "\") |> to_arrow(\"" +
                                (dir / "secret.arrow").string() + "\")", "Write")
                        .ok());
      }
      ASSERT_TRUE(Run(*w, "from_query(\"SELECT 1 AS a\") |> to_parquet(\"" +
                              (base_ / "allowed" / "t.parquet").string() + "\")", "Write")
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
             const std::string& query_id = "q1") {
    auto script = pipeline::ParseScript(text);
    if (!script.ok()) return script.status();
    v1::Fragment fragment;
    fragment.set_query_id(query_id);
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
  }

  fs::path base_, previous_;
  std::unique_ptr<Worker> worker_;
};

TEST_F(Confinement, ReadsInsideTheAllowedDirectory) {
  EXPECT_TRUE(Run(*worker_, "from_parquet(\"t.parquet\")").ok());
  EXPECT_TRUE(Run(*worker_, "from_parquet(\"" + (base_ / "allowed" / "t.parquet").string() + "\")")
                  .ok());
  EXPECT_TRUE(Run(*worker_, "from_parquet(\"sub/../t.parquet\")").ok());
}

TEST_F(Confinement, RefusesSourcesOutside) {
  const std::string outside = (base_ / "outside").string();
  for (const std::string& path :
       {"../outside/secret.parquet", outside + "/secret.parquet", "file.parquet",
        "dir/secret.parquet", "sub/up/secret.parquet", "file://" + outside + "/secret.parquet",
        "../allowedx/secret.parquet", "../*/secret.parquet", "d*/secret.parquet",
        "**/secret.parquet", "/etc/passwd"}) {
    SCOPED_TRACE(path);
    ExpectRefused("from_parquet(\"" + path + "\")");
  }
  for (const std::string& path : {"../outside/secret.csv", "dir/secret.csv", "d?r/secret.csv"}) {
    ExpectRefused("from_csv(\"" + path + "\")");
  }
  for (const std::string& path :
       {"../outside/secret.arrow", "file.arrow", "dir/secret.arrow", "file://" + outside + "/secret.arrow"}) {
    ExpectRefused("from_arrow(\"" + path + "\")");
  }
  // SQL of a query source reaches files through DuckDB's readers, confined the same way.
  for (const std::string& sql :
       {"SELECT * FROM read_parquet('../outside/secret.parquet')",
        "SELECT * FROM 'dir/secret.parquet'", "SELECT * FROM read_csv('dir/secret.csv')",
        "SELECT * FROM read_text('file.parquet')", "SELECT * FROM glob('dir/*')"}) {
    ExpectRefused("from_query(\"" + sql + "\")");
  }
  ExpectRefused("attach(\"d\", \"dir/x.duckdb\")\nfrom_query(\"SELECT 1 AS a\")");
}

TEST_F(Confinement, RefusesSinksOutside) {
  for (const std::string& path :
       {"../outside/o.parquet", "dir/o.parquet", "sub/up/o.parquet", "/tmp/dux-escape.parquet",
        "file://" + (base_ / "outside" / "o.parquet").string()}) {
    ExpectRefused("from_parquet(\"t.parquet\") |> to_parquet(\"" + path + "\")", "Write");
  }
  ExpectRefused("from_parquet(\"t.parquet\") |> to_csv(\"dir/o.csv\")", "Write");
  ExpectRefused("from_parquet(\"t.parquet\") |> to_arrow(\"dir/o.arrow\")", "Write");
  ExpectRefused("from_parquet(\"t.parquet\") |> to_arrow(\"../outside/o.arrow\")", "Write");
  // Nothing was written outside.
  std::vector<std::string> outside;
  for (const auto& e : fs::directory_iterator(base_ / "outside")) outside.push_back(e.path().filename());
  std::sort(outside.begin(), outside.end());
  EXPECT_EQ(outside, (std::vector<std::string>{"secret.arrow", "secret.csv", "secret.parquet"}));
  EXPECT_FALSE(fs::exists("/tmp/dux-escape.parquet"));
}

}  // namespace
}  // namespace dux::worker
