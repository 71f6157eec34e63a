// DuckDB reading and writing s3:// through dux's file system, against s3rver on loopback
// (test/support/s3_server.h): every read is compared with DuckDB reading the same files
// locally; globs are compared with DuckDB's local glob on the same tree; the parquet reader's
// ranged reads are measured; writes are read back; failures are checked for their message.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include "duckdb/common/file_system.hpp"
#include "duckdb/main/capi/capi_internal.hpp"
#include "dux/engine/database.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/exec/streaming_query.h"
#include "dux/s3/client.h"
#include "dux/s3/config.h"
#include "dux/s3_filesystem/read_bytes.h"
#include "dux/s3_filesystem/s3_filesystem.h"
#include "s3_test_environment.h"

namespace dux::s3_filesystem {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBucket = "lake";
constexpr const char* kSecret = "SECRET-VALUE-never-printed";

test::S3Server* server = nullptr;
fs::path* local_root = nullptr;

// One server and one local tree for the binary (ctest runs it as one test). The process
// environment carries the server's settings, as a user's shell would: engine::OpenDatabase
// reads them.
class S3Environment : public test::S3TestEnvironment {
 public:
  S3Environment() : S3TestEnvironment({kBucket}, &server, kSecret) {}
  void SetUp() override {
    S3TestEnvironment::SetUp();
    root_ = fs::temp_directory_path() / ("dux_s3fs_test_" + std::to_string(getpid()));
    fs::create_directories(root_);
    local_root = &root_;
  }
  void TearDown() override {
    local_root = nullptr;
    std::error_code ec;
    fs::remove_all(root_, ec);
    S3TestEnvironment::TearDown();
  }

 private:
  fs::path root_;
};

const testing::Environment* const kEnvironment =
    testing::AddGlobalTestEnvironment(new S3Environment);

std::shared_ptr<s3::Client> MakeClient() {
  Result<s3::Config> config = s3::LoadConfig(s3::ProcessEnvironment());
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  Result<std::unique_ptr<s3::Client>> client = s3::Client::Make(*config);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return std::shared_ptr<s3::Client>(std::move(client).value());
}

// A database as dux opens it (engine::OpenDatabase registers the file system).
struct Db {
  exec::Database db;
  exec::Connection connection;
};

std::unique_ptr<Db> OpenDux() {
  Result<exec::Database> db = engine::OpenDatabase({});
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  Result<exec::Connection> connection = exec::Connection::Open(*db);
  EXPECT_TRUE(connection.ok()) << connection.status().ToString();
  return std::unique_ptr<Db>(new Db{std::move(db).value(), std::move(connection).value()});
}

// A database with the file system registered by hand, counting into `stats`.
std::unique_ptr<Db> OpenCounting(const std::shared_ptr<TransferStats>& stats) {
  Result<exec::Database> db = exec::Database::Open("", {{"threads", "2"}});
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  S3FileSystemOptions options;
  options.stats = stats;
  Status status = RegisterS3FileSystem(db->get(), MakeClient(), options);
  EXPECT_TRUE(status.ok()) << status.ToString();
  Result<exec::Connection> connection = exec::Connection::Open(*db);
  EXPECT_TRUE(connection.ok()) << connection.status().ToString();
  return std::unique_ptr<Db>(new Db{std::move(db).value(), std::move(connection).value()});
}

void Exec(exec::Connection& c, const std::string& sql) {
  Result<int64_t> done = c.Execute(sql);
  ASSERT_TRUE(done.ok()) << sql << "\n" << done.status().ToString();
}

// The rows of `sql` as text, sorted ("a|b|c" per row; NULL as "NULL").
std::vector<std::string> Rows(exec::Connection& c, const std::string& sql) {
  Result<sql::TextRows> rows = c.QueryText("SELECT COLUMNS(*)::VARCHAR FROM (" + sql + ")");
  EXPECT_TRUE(rows.ok()) << sql << "\n" << rows.status().ToString();
  std::vector<std::string> out;
  if (!rows.ok()) return out;
  for (const auto& row : *rows) {
    std::string line;
    for (const auto& value : row) line += (line.empty() ? "" : "|") + value.value_or("NULL");
    out.push_back(line);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string ErrorOf(exec::Connection& c, const std::string& sql) {
  Result<sql::TextRows> rows = c.QueryText("SELECT COLUMNS(*)::VARCHAR FROM (" + sql + ")");
  EXPECT_FALSE(rows.ok()) << sql << " succeeded";
  return rows.ok() ? "" : rows.status().message();
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Copies every file below `local` to s3://lake/`prefix`/relative-path.
void Upload(const fs::path& local, const std::string& prefix) {
  std::shared_ptr<s3::Client> client = MakeClient();
  for (const auto& entry : fs::recursive_directory_iterator(local)) {
    if (!entry.is_regular_file()) continue;
    std::string key = prefix + "/" + fs::relative(entry.path(), local).string();
    Result<std::string> put = client->Put(kBucket, key, ReadFile(entry.path()));
    ASSERT_TRUE(put.ok()) << put.status().ToString();
  }
}

// Local files made by DuckDB, uploaded once: parquet (several files, a hive layout), CSV,
// NDJSON.
const fs::path& Dataset() {
  static const fs::path kRoot = [] {
    fs::path dir = *local_root / "dataset";
    fs::create_directories(dir / "data");
    fs::create_directories(dir / "csv");
    fs::create_directories(dir / "json");
    auto db = OpenDux();
    exec::Connection& c = db->connection;
    const std::string rows =
        "SELECT i AS id, i % 7 AS k, 'name ' || i AS name, i * 0.5 AS v, "
        "DATE '2024-01-01' + (i % 400)::INTEGER AS day FROM range({from}, {to}) t(i)";
    for (int part = 0; part < 3; ++part) {
      std::string select = Replace(Replace(rows, "{from}", std::to_string(part * 20000)), "{to}",
                                   std::to_string(part * 20000 + 20000));
      std::string n = std::to_string(part);
      Exec(c, "COPY (" + select + ") TO '" + (dir / "data" / ("p" + n + ".parquet")).string() +
                  "' (FORMAT parquet)");
      Exec(c, "COPY (" + select + ") TO '" + (dir / "csv" / ("c" + n + ".csv")).string() +
                  "' (HEADER)");
      Exec(c, "COPY (" + select + ") TO '" + (dir / "json" / ("j" + n + ".json")).string() +
                  "' (FORMAT json)");
    }
    Exec(c,
         "COPY (SELECT i AS id, 2020 + i % 3 AS year, 1 + i % 2 AS month, i * 2 AS w "
         "FROM range(5000) t(i)) TO '" +
             (dir / "hive").string() + "' (FORMAT parquet, PARTITION_BY (year, month))");
    Upload(dir, "dataset");
    return dir;
  }();
  return kRoot;
}

TEST(S3FileSystemTest, DuckDBReadsParquetCsvAndNdjsonAsFromLocalFiles) {
  const std::string local = Dataset().string();
  const std::string remote = "s3://lake/dataset";
  auto db = OpenDux();
  const std::string everything =
      "SELECT k, count(*), sum(id), min(name) FROM read_parquet('{root}/**/*.parquet', "
      "union_by_name=true) GROUP BY k";
  const std::string hive_year =
      "SELECT year, month, count(*), sum(w) FROM read_parquet('{root}/hive/*/*/*.parquet', "
      "hive_partitioning=true) WHERE year = 2021 GROUP BY ALL";
  const std::vector<std::string> queries = {
      "SELECT * FROM read_parquet('{root}/data/p1.parquet')",
      "SELECT * FROM read_parquet('{root}/data/*.parquet')",
      "SELECT * FROM read_parquet(['{root}/data/p0.parquet', '{root}/data/p2.parquet'])",
      everything,
      "SELECT * FROM read_parquet('{root}/hive/**/*.parquet', hive_partitioning=true)",
      hive_year,
      "SELECT * FROM read_csv('{root}/csv/c0.csv')",
      "SELECT * FROM read_csv('{root}/csv/c?.csv')",
      "SELECT * FROM read_json('{root}/json/j2.json', format='newline_delimited')",
      "SELECT * FROM read_json('{root}/json/*.json', format='newline_delimited')",
  };
  for (const std::string& query : queries) {
    std::vector<std::string> expected = Rows(db->connection, Replace(query, "{root}", local));
    ASSERT_FALSE(expected.empty()) << query;
    EXPECT_EQ(Rows(db->connection, Replace(query, "{root}", remote)), expected) << query;
  }
}

TEST(S3FileSystemTest, GlobsMatchWhatDuckDBMatchesOnLocalFiles) {
  const fs::path tree = *local_root / "globtree";
  const std::vector<std::string> files = {"a.csv",
                                          "b.parquet",
                                          ".hidden.csv",
                                          "x1.csv",
                                          "x2.csv",
                                          "x10.csv",
                                          "[br].csv",
                                          "sub/c.csv",
                                          "sub/deeper/d.csv",
                                          "sub/deeper/e.parquet",
                                          "year=2024/month=1/part-0.parquet",
                                          "year=2024/month=1/part-1.parquet",
                                          "year=2024/month=12/part-0.parquet",
                                          "year=2025/month=2/part-0.parquet",
                                          "with space/e f.csv",
                                          "ünï/çödé.csv",
                                          "k=v=w/x=1.csv"};
  for (const std::string& file : files) {
    fs::create_directories((tree / file).parent_path());
    std::ofstream(tree / file) << "x\n";
  }
  Upload(tree, "globtree");
  const std::vector<std::string> patterns = {"*",
                                             "*.csv",
                                             "*.parquet",
                                             "?.csv",
                                             "x?.csv",
                                             "x*.csv",
                                             "x[0-9].csv",
                                             "x[!1].csv",
                                             "[ab].*",
                                             "**",
                                             "**/*.csv",
                                             "**/*.parquet",
                                             "sub/**",
                                             "sub/**/*.csv",
                                             "*/*.csv",
                                             "*/*/*.csv",
                                             "*/*/*",
                                             "year=*/*/*.parquet",
                                             "year=2024/*/*",
                                             "year=2024/month=1*/*.parquet",
                                             "year=202[45]/month=?/part-0.parquet",
                                             "*/month=1/*",
                                             "**/month=12/*",
                                             "**/month=1",
                                             "*/deeper",
                                             "with space/*",
                                             "with*/e f.csv",
                                             "ünï/*",
                                             "*/çödé.csv",
                                             "k=v=w/*",
                                             "*=*/*",
                                             "**/x=1.csv",
                                             "[br].csv",
                                             "nothing*",
                                             "sub/*/d.csv",
                                             "year=2024/*",
                                             ".hidden*",
                                             "*hidden*",
                                             "sub/deeper/*.parquet",
                                             "sub/deeper/e.parquet",
                                             "missing/*.csv"};
  auto db = OpenDux();
  auto matched = [&](const std::string& root, const std::string& pattern) {
    std::vector<std::string> out;
    for (const std::string& path :
         Rows(db->connection, "SELECT file FROM glob('" + root + "/" + pattern + "')")) {
      EXPECT_EQ(path.rfind(root + "/", 0), 0U) << path;
      out.push_back(path.substr(root.size() + 1));
    }
    return out;
  };
  int nonempty = 0;
  for (const std::string& pattern : patterns) {
    std::vector<std::string> local = matched(tree.string(), pattern);
    nonempty += local.empty() ? 0 : 1;
    EXPECT_EQ(matched("s3://lake/globtree", pattern), local) << pattern;
  }
  EXPECT_GE(nonempty, 33);  // the comparison is not between two empty sets
}

TEST(S3FileSystemTest, TheParquetReaderFetchesOnlyTheColumnItReads) {
  const fs::path file = *local_root / "wide.parquet";
  auto stats = std::make_shared<TransferStats>();
  auto db = OpenCounting(stats);
  ASSERT_TRUE(CountBytesRead(db->db.get()).ok());
  // Six row groups; `k` is a tiny column beside a wide incompressible one.
  Exec(db->connection,
       "COPY (SELECT i AS id, (i % 10)::TINYINT AS k, md5(i::VARCHAR) || md5((i + 1)::VARCHAR) "
       "AS payload FROM range(300000) t(i)) TO '" +
           file.string() + "' (FORMAT parquet, ROW_GROUP_SIZE 50000)");
  const uint64_t size = fs::file_size(file);
  ASSERT_GT(size, uint64_t{8} << 20);
  ASSERT_TRUE(MakeClient()->Put(kBucket, "wide.parquet", ReadFile(file)).ok());
  const std::string query = "SELECT sum(k), count(*) FROM read_parquet('{}')";
  std::vector<std::string> expected = Rows(db->connection, Replace(query, "{}", file.string()));
  const uint64_t read_locally = TakeBytesRead(db->connection.get());
  EXPECT_EQ(Rows(db->connection, Replace(query, "{}", "s3://lake/wide.parquet")), expected);
  const uint64_t fetched = stats->bytes_fetched.load();
  // A fragment's bytes read count what the file system fetched, as DuckDB's own local reads.
  EXPECT_EQ(TakeBytesRead(db->connection.get()), fetched);
  EXPECT_GT(read_locally, 0U);
  EXPECT_LT(read_locally * 20, size);
  std::cout << "parquet: one TINYINT column of " << size << " bytes: fetched " << fetched
            << " bytes in " << stats->get_requests.load() << " GETs, "
            << stats->head_requests.load() << " HEADs\n";
  EXPECT_GT(fetched, 0U);
  EXPECT_LT(fetched * 20, size);  // under 5% of the object
  // HEADs come from globbing the literal path (DuckDB globs it at bind and again at scan);
  // the four opens that follow carry the glob's size and ETag and ask nothing.
  EXPECT_LE(stats->head_requests.load(), 2U);
}

TEST(S3FileSystemTest, ARunAsksForEachObjectOnce) {
  auto stats = std::make_shared<TransferStats>();
  auto db = OpenCounting(stats);
  for (const char* key : {"run/a.csv", "run/b.csv"}) {
    ASSERT_TRUE(MakeClient()->Put(kBucket, key, "x\n1\n").ok());
  }
  const std::string literal = "SELECT sum(x) FROM read_csv('s3://lake/run/a.csv')";
  // Outside a run, every literal open asks (DuckDB globs the path at bind and at scan).
  EXPECT_EQ(Rows(db->connection, literal), std::vector<std::string>{"1"});
  const uint64_t outside = stats->head_requests.load();
  EXPECT_GE(outside, 1U);
  // In a run, a glob's listing answers the later opens by URL, and a HEAD answers the rest
  // of the run.
  ASSERT_TRUE(UseS3Run(db->connection.get(), "r1").ok());
  EXPECT_EQ(Rows(db->connection, "SELECT count(*) FROM glob('s3://lake/run/*.csv')"),
            std::vector<std::string>{"2"});
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Rows(db->connection, literal), std::vector<std::string>{"1"});
    EXPECT_EQ(Rows(db->connection, "SELECT sum(x) FROM read_csv('s3://lake/run/b.csv')"),
              std::vector<std::string>{"1"});
  }
  EXPECT_EQ(stats->head_requests.load(), outside);
  // Replaced by another writer: the next run sees the new object.
  ASSERT_TRUE(MakeClient()->Put(kBucket, "run/a.csv", "x\n41\n").ok());
  ASSERT_TRUE(UseS3Run(db->connection.get(), "r2").ok());
  EXPECT_EQ(Rows(db->connection, literal), std::vector<std::string>{"41"});
  EXPECT_GT(stats->head_requests.load(), outside);
  // Within the old run, the replacement fails clearly rather than mixing versions.
  ASSERT_TRUE(UseS3Run(db->connection.get(), "r1").ok());
  Result<sql::TextRows> stale = db->connection.QueryText(literal);
  ASSERT_FALSE(stale.ok());
  EXPECT_NE(stale.status().message().find("changed during the query"), std::string::npos)
      << stale.status().ToString();
}

// One handle read from many threads at once, small reads (the read-ahead buffer) and large
// ones (direct GETs) mixed, sequential runs and random jumps: every byte as in the local file.
TEST(S3FileSystemTest, OneHandleServesConcurrentPositionalReads) {
  std::string bytes(6 << 20, '\0');
  std::mt19937_64 random(42);
  for (char& b : bytes) b = static_cast<char>(random());
  ASSERT_TRUE(MakeClient()->Put(kBucket, "random.bin", bytes).ok());
  auto stats = std::make_shared<TransferStats>();
  auto db = OpenCounting(stats);
  // The C handle wraps the C++ database (duckdb/main/capi/capi_internal.hpp).
  duckdb::DatabaseInstance& instance =
      *reinterpret_cast<duckdb::DatabaseWrapper*>(db->db.get())->database->instance;
  duckdb::FileSystem& fs = instance.GetFileSystem();
  duckdb::unique_ptr<duckdb::FileHandle> handle =
      fs.OpenFile("s3://lake/random.bin", duckdb::FileFlags::FILE_FLAGS_READ);
  ASSERT_EQ(fs.GetFileSize(*handle), static_cast<int64_t>(bytes.size()));
  std::atomic<int> wrong{0};
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 pick(t);
      uint64_t offset = pick() % bytes.size();
      for (int i = 0; i < 60; ++i) {
        uint64_t size = (i % 7 == 0) ? (1 << 20) + pick() % (1 << 20) : 1 + pick() % 20000;
        if (i % 5 == 0) offset = pick() % bytes.size();  // a jump; otherwise sequential
        size = std::min<uint64_t>(size, bytes.size() - offset);
        std::string out(size, '\0');
        fs.Read(*handle, out.data(), static_cast<int64_t>(size), offset);
        if (out != bytes.substr(offset, size)) ++wrong;
        offset = (offset + size) % bytes.size();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(stats->head_requests.load(), 1U);
  // A read past the end is an error, not a short read.
  std::string out(10, '\0');
  EXPECT_THROW(fs.Read(*handle, out.data(), 10, bytes.size() - 5), duckdb::IOException);
}

// The calls DuckDB makes around reads and writes, one by one through DuckDB's own
// FileSystem (the virtual file system hands s3:// paths to dux's).
TEST(S3FileSystemTest, ExistenceDirectoriesAndRefusals) {
  std::shared_ptr<s3::Client> client = MakeClient();
  for (const char* key : {"calls/a.csv", "calls/sub/b.csv", "calls/sub/deeper/c.csv"}) {
    ASSERT_TRUE(client->Put(kBucket, key, "x\n1\n").ok());
  }
  auto db = OpenDux();
  duckdb::FileSystem& fs =
      reinterpret_cast<duckdb::DatabaseWrapper*>(db->db.get())->database->instance->GetFileSystem();
  EXPECT_TRUE(fs.FileExists("s3://lake/calls/a.csv"));
  EXPECT_FALSE(fs.FileExists("s3://lake/calls/missing.csv"));
  EXPECT_FALSE(fs.FileExists("s3://lake/calls/sub"));  // a "directory"
  EXPECT_TRUE(fs.DirectoryExists("s3://lake/calls/sub"));
  EXPECT_TRUE(fs.DirectoryExists("s3://lake/calls/sub/"));
  EXPECT_TRUE(fs.DirectoryExists("s3://lake"));
  EXPECT_FALSE(fs.DirectoryExists("s3://lake/calls/su"));
  EXPECT_FALSE(fs.DirectoryExists("s3://no-such-bucket/x"));
  fs.CreateDirectory("s3://lake/calls/new");  // nothing to do in S3
  EXPECT_FALSE(fs.DirectoryExists("s3://lake/calls/new"));

  std::vector<std::string> listed;
  fs.ListFiles("s3://lake/calls", [&](const std::string& name, bool is_directory) {
    listed.push_back(name + (is_directory ? "/" : ""));
  });
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, (std::vector<std::string>{"a.csv", "sub/"}));

  auto message = [&](const std::function<void()>& call) -> std::string {
    try {
      call();
    } catch (const std::exception& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message([&] {
              fs.MoveFile("s3://lake/calls/a.csv", "s3://lake/calls/z.csv");
            }).find("S3 has no rename"),
            std::string::npos);
  EXPECT_NE(message([&] {
              fs.OpenFile("s3://lake/calls/a.csv", duckdb::FileFlags::FILE_FLAGS_WRITE |
                                                       duckdb::FileFlags::FILE_FLAGS_APPEND);
            }).find("cannot append"),
            std::string::npos);
  EXPECT_NE(message([&] {
              fs.OpenFile("s3://lake/calls/", duckdb::FileFlags::FILE_FLAGS_READ);
            }).find("names no object"),
            std::string::npos);
  EXPECT_NE(message([&] {
              fs.OpenFile("s3://lake/calls/missing.csv", duckdb::FileFlags::FILE_FLAGS_READ);
            }).find("s3://lake/calls/missing.csv: 404"),
            std::string::npos);
  EXPECT_EQ(fs.OpenFile("s3://lake/calls/missing.csv",
                        duckdb::FileFlags::FILE_FLAGS_READ |
                            duckdb::FileFlags::FILE_FLAGS_NULL_IF_NOT_EXISTS),
            nullptr);
  {
    auto write =
        fs.OpenFile("s3://lake/calls/w.csv", duckdb::FileFlags::FILE_FLAGS_WRITE |
                                                 duckdb::FileFlags::FILE_FLAGS_FILE_CREATE_NEW);
    std::string text = "x\n2\n";
    fs.Write(*write, text.data(), static_cast<int64_t>(text.size()));
    EXPECT_EQ(fs.GetFileSize(*write), 4);
    EXPECT_NE(message([&] {
                write->Write(duckdb::QueryContext(), text.data(), 1, 0);
              }).find("written from start to end"),
              std::string::npos);
    EXPECT_NE(message([&] { fs.Truncate(*write, 1); }).find("cannot be truncated"),
              std::string::npos);
    EXPECT_FALSE(fs.FileExists("s3://lake/calls/w.csv"));  // not before the close
    write->Close();
  }
  EXPECT_TRUE(fs.FileExists("s3://lake/calls/w.csv"));
  fs.RemoveFile("s3://lake/calls/w.csv");
  EXPECT_FALSE(fs.FileExists("s3://lake/calls/w.csv"));
  EXPECT_TRUE(fs.TryRemoveFile("s3://lake/calls/w.csv"));  // S3 deletes missing keys too
  fs.RemoveDirectory("s3://lake/calls/sub");
  EXPECT_FALSE(fs.DirectoryExists("s3://lake/calls/sub"));
  EXPECT_TRUE(fs.FileExists("s3://lake/calls/a.csv"));
}

TEST(S3FileSystemTest, CopyToS3WritesObjectsThatReadBackEqual) {
  auto stats = std::make_shared<TransferStats>();
  auto db = OpenCounting(stats);
  exec::Connection& c = db->connection;
  const std::string source = "SELECT i AS id, i % 5 AS p, 'v' || i AS s FROM range(0, 100000) t(i)";
  Exec(c, "COPY (" + source + ") TO 's3://lake/out/one.parquet' (FORMAT parquet)");
  Exec(c, "COPY (" + source + ") TO 's3://lake/out/one.csv' (HEADER)");
  std::vector<std::string> expected = Rows(c, source);
  EXPECT_EQ(Rows(c, "SELECT * FROM read_parquet('s3://lake/out/one.parquet')"), expected);
  EXPECT_EQ(Rows(c, "SELECT * FROM read_csv('s3://lake/out/one.csv')"), expected);

  // One object over 20 MB: several parts, uploaded while the next one fills.
  const uint64_t parts_before = stats->parts_uploaded.load();
  const std::string big = "SELECT i, md5(i::VARCHAR) AS h FROM range(700000) t(i)";
  Exec(c, "COPY (" + big + ") TO 's3://lake/out/big.csv' (HEADER)");
  Result<s3::ObjectInfo> info = MakeClient()->Head(kBucket, "out/big.csv");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_GT(info->size, uint64_t{20} << 20);
  EXPECT_GE(stats->parts_uploaded.load() - parts_before, 3U);
  const uint64_t fetched_before = stats->bytes_fetched.load();
  const uint64_t gets_before = stats->get_requests.load();
  EXPECT_EQ(Rows(c, "SELECT count(*), sum(i), max(h) FROM read_csv('s3://lake/out/big.csv')"),
            Rows(c, "SELECT count(*), sum(i), max(h) FROM (" + big + ")"));
  const uint64_t fetched = stats->bytes_fetched.load() - fetched_before;
  std::cout << "csv: " << info->size << " bytes read with " << fetched << " bytes fetched in "
            << stats->get_requests.load() - gets_before << " GETs\n";
  // DuckDB's CSV reader asks for a file below its buffer size twice, whole: once to sniff
  // the dialect, once to scan. Nothing beyond that.
  EXPECT_GE(fetched, info->size);
  EXPECT_LE(fetched, 2 * info->size);

  // Compressed: DuckDB's gzip and zstd wrappers write their trailer and drop the handle
  // without closing it, on success as on failure.
  Exec(c, "COPY (" + source + ") TO 's3://lake/out/one.csv.gz' (HEADER)");
  Exec(c, "COPY (" + source + ") TO 's3://lake/out/one.csv.zst' (HEADER)");
  Exec(c, "COPY (" + source + ") TO 's3://lake/out/gzip-no-suffix.csv' (HEADER, COMPRESSION gzip)");
  EXPECT_EQ(Rows(c, "SELECT * FROM read_csv('s3://lake/out/one.csv.gz')"), expected);
  EXPECT_EQ(Rows(c, "SELECT * FROM read_csv('s3://lake/out/one.csv.zst')"), expected);
  EXPECT_EQ(
      Rows(c, "SELECT * FROM read_csv('s3://lake/out/gzip-no-suffix.csv', compression='gzip')"),
      expected);

  // The gzip reader pulls an object through in small sequential reads: the read-ahead turns
  // them into 4 MiB GETs.
  Exec(c, "COPY (" + big + ") TO 's3://lake/out/big.csv.gz' (HEADER)");
  Result<s3::ObjectInfo> gz = MakeClient()->Head(kBucket, "out/big.csv.gz");
  ASSERT_TRUE(gz.ok()) << gz.status().ToString();
  const uint64_t gz_gets = stats->get_requests.load();
  const uint64_t gz_bytes = stats->bytes_fetched.load();
  EXPECT_EQ(Rows(c, "SELECT count(*), sum(i), max(h) FROM read_csv('s3://lake/out/big.csv.gz')"),
            Rows(c, "SELECT count(*), sum(i), max(h) FROM (" + big + ")"));
  const uint64_t gets = stats->get_requests.load() - gz_gets;
  const uint64_t bytes = stats->bytes_fetched.load() - gz_bytes;
  std::cout << "csv.gz: " << gz->size << " bytes: " << bytes << " fetched in " << gets
            << " GETs (DuckDB reads the stream more than once)\n";
  EXPECT_GT(gz->size, uint64_t{8} << 20);
  ASSERT_GT(gets, 0U);
  EXPECT_GE(bytes / gets, uint64_t{3} << 20);  // not the reader's 32 KiB pieces

  // PARTITION_BY: a "directory" of objects, read back through a hive glob.
  Exec(c, "COPY (" + source + ") TO 's3://lake/out/parts' (FORMAT parquet, PARTITION_BY (p))");
  EXPECT_EQ(Rows(c,
                 "SELECT id, p, s FROM read_parquet('s3://lake/out/parts/**/*.parquet', "
                 "hive_partitioning=true)"),
            expected);
  EXPECT_EQ(Rows(c, "SELECT count(*) FROM glob('s3://lake/out/parts/p=*/*.parquet')"),
            std::vector<std::string>{"5"});
}

TEST(S3FileSystemTest, AFailedCopyLeavesNoObject) {
  auto stats = std::make_shared<TransferStats>();
  auto db = OpenCounting(stats);
  // Fails after writing more than a part (the upload is then aborted; s3rver cannot abort,
  // but no object may appear either way).
  for (const std::string target : {"failed.csv", "failed.csv.gz"}) {
    Result<int64_t> copy = db->connection.Execute(
        "COPY (SELECT i, CASE WHEN i < 900000 THEN md5(i::VARCHAR) ELSE error('boom') END AS h "
        "FROM range(1000000) t(i)) TO 's3://lake/out/" +
        target + "'");
    ASSERT_FALSE(copy.ok()) << target;
    EXPECT_NE(copy.status().message().find("boom"), std::string::npos) << copy.status().ToString();
    Result<s3::ObjectInfo> info = MakeClient()->Head(kBucket, "out/" + target);
    EXPECT_EQ(info.status().code(), StatusCode::kNotFound) << target << info.status().ToString();
  }
  // Both had started multipart uploads (more than a part written), and gave them up.
  EXPECT_GE(stats->parts_uploaded.load(), 2U);
  EXPECT_EQ(stats->uploads_aborted.load(), 2U);
  EXPECT_EQ(stats->objects_written.load(), 0U);
}

TEST(S3FileSystemTest, AnObjectReplacedMidQueryFailsItClearly) {
  const fs::path file = *local_root / "replaced.parquet";
  auto db = OpenDux();
  exec::Connection& c = db->connection;
  Exec(c, "SET threads = 1");
  Exec(c, "COPY (SELECT i, md5(i::VARCHAR) AS h FROM range(400000) t(i)) TO '" + file.string() +
              "' (FORMAT parquet, ROW_GROUP_SIZE 20000)");
  std::shared_ptr<s3::Client> client = MakeClient();
  ASSERT_TRUE(client->Put(kBucket, "replaced.parquet", ReadFile(file)).ok());
  bool replaced = false;
  Result<int64_t> rows =
      exec::ForEachChunk(c, "SELECT * FROM read_parquet('s3://lake/replaced.parquet')",
                         [&](duckdb_data_chunk) -> Status {
                           if (!replaced) {
                             replaced = true;
                             Result<std::string> put =
                                 client->Put(kBucket, "replaced.parquet", "not parquet any more");
                             if (!put.ok()) return put.status();
                           }
                           return Status::OK();
                         });
  ASSERT_TRUE(replaced);
  ASSERT_FALSE(rows.ok()) << "read " << *rows << " rows of a replaced object";
  const std::string& message = rows.status().message();
  EXPECT_NE(message.find("s3://lake/replaced.parquet changed during the query"), std::string::npos)
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(S3FileSystemTest, MissingKeysAndBucketsAreNamedInOneLine) {
  auto db = OpenDux();
  exec::Connection& c = db->connection;
  for (const char* query : {"SELECT * FROM read_parquet('s3://lake/missing.parquet')",
                            "SELECT * FROM read_csv('s3://lake/missing/*.csv')"}) {
    std::string message = ErrorOf(c, query);
    EXPECT_NE(message.find("s3://lake/missing"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_EQ(message.find(kSecret), std::string::npos) << message;
  }
  for (const char* query : {"SELECT * FROM read_parquet('s3://no-such-bucket/a.parquet')",
                            "SELECT * FROM read_csv('s3://no-such-bucket/*.csv')"}) {
    std::string message = ErrorOf(c, query);
    EXPECT_NE(message.find("s3://no-such-bucket/"), std::string::npos) << message;
    EXPECT_NE(message.find("NoSuchBucket"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_EQ(message.find(kSecret), std::string::npos) << message;
  }
  std::string write = ErrorOf(c, "SELECT * FROM read_csv('s3:/lake/a.csv')");
  EXPECT_NE(write.find("s3:/lake/a.csv"), std::string::npos) << write;
}

// What a worker started with `--allow-dir s3://lake/allowed --allow-dir DIR` gets
// (worker.cc builds the same two settings): DuckDB checks s3:// paths against the prefix,
// dux's file system refuses the keys that check would misread, and relative local paths
// that look like the prefix to DuckDB never reach the local file system.
TEST(S3FileSystemTest, AConfinedDatabaseReachesOnlyItsAllowedPrefixes) {
  std::shared_ptr<s3::Client> client = MakeClient();
  ASSERT_TRUE(client->Put(kBucket, "allowed/a.csv", "x\n1\n").ok());
  ASSERT_TRUE(client->Put(kBucket, "secret/a.csv", "x\n2\n").ok());
  ASSERT_TRUE(client->Put(kBucket, "allowedx/a.csv", "x\n3\n").ok());
  const fs::path work = *local_root / "confined";
  fs::create_directories(work / "s3:" / "lake" / "allowed");
  std::ofstream(work / "s3:" / "lake" / "allowed" / "a.csv") << "x\nLOCAL\n";
  Result<std::string> entry = S3AllowedDirectory("s3://lake/allowed");
  ASSERT_TRUE(entry.ok()) << entry.status().ToString();

  auto db = OpenDux();
  exec::Connection& c = db->connection;
  Exec(c, "SET allowed_directories = ['" + *entry + "/', '" + work.string() + "/']");
  Exec(c, "SET enable_external_access = false");
  EXPECT_EQ(Rows(c, "SELECT * FROM read_csv('s3://lake/allowed/a.csv')"),
            std::vector<std::string>{"1"});
  EXPECT_EQ(Rows(c, "SELECT * FROM read_csv('s3://lake/allowed/*.csv')"),
            std::vector<std::string>{"1"});
  Exec(c, "COPY (SELECT 5 AS x) TO 's3://lake/allowed/new.csv'");
  EXPECT_EQ(Rows(c, "SELECT * FROM read_csv('s3://lake/allowed/new.csv')"),
            std::vector<std::string>{"5"});

  for (const char* refused :
       {"s3://lake/secret/a.csv", "s3://lake/allowedx/a.csv", "s3://lake/allowed/../secret/a.csv",
        "s3://lake/*/a.csv", "s3://other-bucket/allowed/a.csv"}) {
    std::string message = ErrorOf(c, std::string("SELECT * FROM read_csv('") + refused + "')");
    EXPECT_NE(message.find("Cannot access"), std::string::npos) << refused << ": " << message;
  }
  // DuckDB resolves ".." and lets this pass as s3://lake/allowed/a.csv; S3 would read the
  // key "x/../allowed/a.csv", below x/. (s3rver cannot store such a key: the request is
  // refused before it is sent.)
  std::string dots = ErrorOf(c, "SELECT * FROM read_csv('s3://lake/x/../allowed/a.csv')");
  EXPECT_NE(dots.find("outside the S3 prefixes"), std::string::npos) << dots;
  // So does the object named like the prefix (DuckDB checks "s3:/lake/allowed/"), which is
  // not below it.
  std::string itself = ErrorOf(c, "SELECT * FROM read_csv('s3://lake/allowed')");
  EXPECT_NE(itself.find("outside the S3 prefixes"), std::string::npos) << itself;
  // A partitioned write below the prefix: its directory checks pass.
  Exec(c,
       "COPY (SELECT i, i % 2 AS p FROM range(10) t(i)) TO 's3://lake/allowed/parts' "
       "(FORMAT csv, PARTITION_BY (p))");
  EXPECT_EQ(Rows(c, "SELECT count(*) FROM read_csv('s3://lake/allowed/parts/*/*.csv')"),
            std::vector<std::string>{"10"});
  Result<int64_t> copy = c.Execute("COPY (SELECT 1) TO 's3://lake/secret/new.csv'");
  ASSERT_FALSE(copy.ok());
  EXPECT_NE(copy.status().message().find("Cannot access"), std::string::npos)
      << copy.status().message();

  // "s3:/lake/allowed/a.csv" relative to the working directory is a local file DuckDB's
  // check would allow: it must not be read (nor written) locally.
  const fs::path before = fs::current_path();
  fs::current_path(work);
  for (const char* local : {"s3:/lake/allowed/a.csv", "./s3:/lake/allowed/a.csv"}) {
    Result<sql::TextRows> rows =
        c.QueryText(std::string("SELECT x::VARCHAR FROM read_csv('") + local + "')");
    EXPECT_FALSE(rows.ok()) << local << " was read from the local disk";
    if (!rows.ok()) {
      EXPECT_NE(rows.status().message().find("s3://"), std::string::npos)
          << rows.status().message();
    }
  }
  EXPECT_FALSE(c.Execute("COPY (SELECT 1) TO 's3:/lake/allowed/b.csv'").ok());
  fs::current_path(before);
  EXPECT_FALSE(fs::exists(work / "s3:" / "lake" / "allowed" / "b.csv"));

  // Local directories only: nothing in S3.
  auto local_only = OpenDux();
  Exec(local_only->connection, "SET allowed_directories = ['" + work.string() + "/']");
  Exec(local_only->connection, "SET enable_external_access = false");
  EXPECT_NE(ErrorOf(local_only->connection, "SELECT * FROM read_csv('s3://lake/allowed/a.csv')")
                .find("Cannot access"),
            std::string::npos);
}

}  // namespace
}  // namespace dux::s3_filesystem
