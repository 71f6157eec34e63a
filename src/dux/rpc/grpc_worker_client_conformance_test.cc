// The protocol conformance suite: written once against protocol::WorkerClient and run over every
// transport (in-process, and real gRPC on 127.0.0.1 with a worker server in this process).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <limits>
#include <thread>

#include "dux/api/session.h"
#include "dux/arrow_ipc/ipc_reader.h"
#include "dux/exec/arrow_export.h"
#include "dux/pipeline/language.h"
#include "dux/pipeline/proto_mapping.h"
#include "dux/rpc/grpc_worker_client.h"
#include "dux/rpc/worker_service.h"
#include "dux/worker/in_process_client.h"
#include "slowdown.h"

namespace dux {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

SessionOptions AtPath(const std::string& path) {
  SessionOptions o;
  o.database_path = path;
  return o;
}

// A worker behind one transport.
struct Transport {
  std::unique_ptr<worker::Worker> worker;
  std::unique_ptr<grpc::Service> service;
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<protocol::WorkerClient> client;
  rpc::ResultChannelListener* result_channel = nullptr;  // owned by the service
  ~Transport() {
    client.reset();
    if (server) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
};

// Short, so that a test sees a lease expire; only requests that name a lease are affected.
// 0.5 s, times the sanitizers' slowdown: under TSan a thread may wait longer than 0.5 s to run.
std::chrono::milliseconds LeaseTimeout() {
  return std::chrono::milliseconds(static_cast<int64_t>(500 * test::TestSlowdown()));
}

using TransportFactory = std::function<std::unique_ptr<Transport>(const std::string& token)>;

std::unique_ptr<Transport> InProcess(const std::string&) {
  static int next = 0;
  auto t = std::make_unique<Transport>();
  worker::WorkerOptions options;
  options.threads = 1;
  options.lease_timeout = LeaseTimeout();
  t->worker = std::move(worker::Worker::Open(options)).value();
  t->client = worker::MakeInProcessClient(t->worker.get(), "in-process:" + std::to_string(next++));
  return t;
}

// Lets the workers of `transports` push buckets to each other.
void ConnectPeers(const std::vector<Transport*>& transports) {
  std::vector<std::pair<worker::Worker*, std::string>> in_process;
  for (Transport* t : transports) {
    if (t->server) {
      t->worker->SetPeerConnector(rpc::MakePeerConnector({}));
    } else {
      in_process.emplace_back(t->worker.get(), t->client->address());
    }
  }
  if (!in_process.empty()) worker::ConnectInProcessPeers(in_process);
}

// A gRPC worker; with `result_channel_host`, it also offers a result channel listening there.
std::unique_ptr<Transport> GrpcServing(const std::string& token,
                                       const std::string& result_channel_host) {
  auto t = std::make_unique<Transport>();
  worker::WorkerOptions options;
  options.threads = 1;
  options.lease_timeout = LeaseTimeout();
  t->worker = std::move(worker::Worker::Open(options)).value();
  std::unique_ptr<rpc::ResultChannelListener> listener;
  if (!result_channel_host.empty()) {
    listener = std::move(rpc::ResultChannelListener::Start(result_channel_host)).value();
    t->result_channel = listener.get();
  }
  t->service = rpc::MakeWorkerService(t->worker.get(), token, std::move(listener));
  std::string bound;
  rpc::ServerOptions server_options;
  server_options.token = token;
  t->server = std::move(rpc::StartServer(server_options, {t->service.get()}, &bound)).value();
  t->worker->SetAddress(bound);
  rpc::ClientOptions client_options;
  client_options.token = token;
  t->client = std::move(rpc::ConnectWorker(bound, client_options)).value();
  return t;
}

std::unique_ptr<Transport> Grpc(const std::string& token) { return GrpcServing(token, ""); }

std::unique_ptr<Transport> GrpcResultChannel(const std::string& token) {
  return GrpcServing(token, "127.0.0.1");
}

struct Param {
  const char* name;
  TransportFactory make;
};

v1::Fragment Fragment(const std::string& text, const std::string& query_id = "q1") {
  auto script = pipeline::ParseScript(text);
  EXPECT_TRUE(script.ok()) << script.status().message();
  v1::Fragment f;
  f.set_query_id(query_id);
  pipeline::ToProto(*script, f.mutable_script());
  return f;
}

v1::ExecuteRequest Execute(const std::string& text, const std::string& query_id = "q1") {
  v1::ExecuteRequest r;
  *r.mutable_fragment() = Fragment(text, query_id);
  return r;
}

// Everything a result stream holds, decoded: rows per batch summed and the first column's
// int64 values (enough for these tests).
struct Decoded {
  int64_t rows = 0;
  std::vector<int64_t> first_column;
};

Result<Decoded> Drain(protocol::ResultStream* stream) {
  DUX_ASSIGN_OR_RETURN(auto reader, arrow_ipc::Reader::Open(stream));
  Decoded out;
  for (;;) {
    arrow_ipc::ArrayOwner batch;
    DUX_ASSIGN_OR_RETURN(bool more, reader->Next(batch.out()));
    if (!more) return out;
    out.rows += batch->length;
    const ArrowArray* col = batch->children[0];
    if (col->n_buffers == 2) {
      auto* values = static_cast<const int64_t*>(col->buffers[1]);
      for (int64_t i = 0; i < col->length; ++i) out.first_column.push_back(values[col->offset + i]);
    }
  }
}

// An IPC stream of `sql`'s result, made by a separate DuckDB.
std::string IpcOf(const std::string& sql) {
  auto session = std::move(Session::Open()).value();
  arrow_ipc::StringOutputStream out;
  EXPECT_TRUE(exec::WriteQueryIpc(session->connection(), sql, &out, {}).ok());
  return out.bytes();
}

bool Eventually(const std::function<bool()>& condition, std::chrono::seconds limit) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

bool Running(protocol::WorkerClient& c, const std::string& id) {
  auto info = c.Info();
  if (!info.ok()) return false;
  for (const auto& q : info->running_queries()) {
    if (q == id) return true;
  }
  return false;
}

// A query that takes many seconds on one thread and returns nothing until the end.
constexpr const char* kSlow =
    "from_query(\"SELECT count(*) AS n FROM range(0, 20000000000) t(i) WHERE i % 7 = 3\")";

class Conformance : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    transport_ = GetParam().make("");
    client_ = transport_->client.get();
    dir_ = fs::temp_directory_path() /
           ("dux-conformance-" + std::to_string(getpid()) + "-" + GetParam().name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    transport_.reset();
    fs::remove_all(dir_);
  }
  std::unique_ptr<Transport> transport_;
  protocol::WorkerClient* client_ = nullptr;
  fs::path dir_;
};

TEST_P(Conformance, HealthAndInfo) {
  EXPECT_TRUE(client_->Health().ok());
  auto info = client_->Info();
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->duckdb_version(), "v1.4.4");
  EXPECT_EQ(info->threads(), 1);
  EXPECT_FALSE(info->memory_limit().empty());
  EXPECT_EQ(info->running_queries_size(), 0);
}

TEST_P(Conformance, ExecuteReturnsTheRows) {
  auto stream = client_->Execute(
      Execute("from_query(\"SELECT range AS i FROM range(0, 100000)\") |> filter(i % 10 = 0)"));
  ASSERT_TRUE(stream.ok());
  auto decoded = Drain(stream->get());
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  ASSERT_EQ(decoded->rows, 10000);
  int64_t sum = 0;
  for (int64_t v : decoded->first_column) sum += v;
  EXPECT_EQ(sum, 10 * (9999 * 10000 / 2));
}

// The reports a stream carried, collected by its OnReport handler.
struct Reports {
  std::vector<v1::FragmentProgress> progress;
  std::vector<v1::FragmentStats> stats;
  void Listen(protocol::ResultStream* stream) {
    stream->OnReport([this](const v1::IpcChunk& report) {
      if (report.has_progress()) progress.push_back(report.progress());
      if (report.has_stats()) stats.push_back(report.stats());
    });
  }
};

// Reads what a stream holds after its IPC stream's end (the stats, then the status).
Status ReadToEnd(protocol::ResultStream* stream) {
  char rest[256];
  for (;;) {
    DUX_ASSIGN_OR_RETURN(size_t n, stream->Read(rest, sizeof rest));
    if (n == 0) return Status::OK();
  }
}

TEST_P(Conformance, ExecuteReportsTheFragmentsStatsAfterItsRows) {
  auto stream = client_->Execute(
      Execute("from_query(\"SELECT range AS i FROM range(0, 100000)\") |> filter(i % 10 = 0)"));
  ASSERT_TRUE(stream.ok());
  Reports reports;
  reports.Listen(stream->get());
  auto decoded = Drain(stream->get());
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_TRUE(reports.stats.empty());  // they come after the rows' last byte
  ASSERT_TRUE(ReadToEnd(stream->get()).ok());
  ASSERT_EQ(reports.stats.size(), 1u);
  const v1::FragmentStats& stats = reports.stats[0];
  EXPECT_EQ(stats.rows(), 10000);
  EXPECT_TRUE(stats.has_peak_memory_bytes());
  EXPECT_TRUE(stats.has_spill_bytes());
  EXPECT_EQ(stats.spill_bytes(), 0);
  EXPECT_GT(stats.seconds(), 0);
}

TEST_P(Conformance, AShuffleReportsTheRowsItRouted) {
  auto other = GetParam().make("");
  ConnectPeers({transport_.get(), other.get()});
  v1::ExecuteRequest request =
      Execute("from_query(\"SELECT i % 10 AS k FROM range(0, 5000) t(i)\")");
  auto* target = request.mutable_fragment()->mutable_shuffle();
  target->set_exchange_id("reported");
  target->add_keys("k");
  target->set_n_buckets(2);
  target->add_owners(client_->address());
  target->add_owners(other->client->address());
  auto stream = client_->Execute(request);
  ASSERT_TRUE(stream.ok());
  Reports reports;
  reports.Listen(stream->get());
  auto decoded = Drain(stream->get());
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->rows, 2);  // the reply: one row per bucket
  ASSERT_TRUE(ReadToEnd(stream->get()).ok());
  ASSERT_EQ(reports.stats.size(), 1u);
  EXPECT_EQ(reports.stats[0].rows(), 5000);
}

TEST_P(Conformance, ALongFragmentReportsItsProgress) {
  // A table scan DuckDB knows the size of, slow enough to run past several reports.
  auto stream = client_->Execute(Execute(
      "from_query(\"SELECT count(*) AS n FROM range(0, 20000000000) t(i) WHERE i % 7 = 3\")",
      "progress"));
  ASSERT_TRUE(stream.ok());
  std::atomic<int> seen{0};
  std::atomic<double> percentage{-1};
  (*stream)->OnReport([&](const v1::IpcChunk& report) {
    if (!report.has_progress()) return;
    percentage = report.progress().percentage();
    ++seen;
  });
  std::thread reader([&] { (void)Drain(stream->get()); });
  bool reported = Eventually([&] { return seen.load() >= 2; }, std::chrono::seconds(30));
  (*stream)->Cancel();
  reader.join();
  EXPECT_TRUE(reported);
  EXPECT_GE(percentage.load(), 0);
  EXPECT_LE(percentage.load(), 100);
}

TEST_P(Conformance, ExecuteWithCompression) {
  for (const char* codec : {"lz4", "zstd"}) {
    // The same query id each time: it is free again once a stream's last bytes have arrived.
    auto request = Execute("from_query(\"SELECT range AS i FROM range(0, 5000)\")");
    request.set_compression(codec);
    auto stream = client_->Execute(request);
    ASSERT_TRUE(stream.ok());
    auto decoded = Drain(stream->get());
    ASSERT_TRUE(decoded.ok()) << codec << ": " << decoded.status().message();
    EXPECT_EQ(decoded->rows, 5000) << codec;
  }
}

TEST_P(Conformance, ResultStreamsBeforeTheQueryEnds) {
  // ~400 MB of int64s: the first bytes must arrive while the worker still runs the query.
  auto stream = client_->Execute(
      Execute("from_query(\"SELECT range AS i FROM range(0, 50000000)\")", "streaming"));
  ASSERT_TRUE(stream.ok());
  char byte;
  auto n = (*stream)->Read(&byte, 1);
  ASSERT_TRUE(n.ok()) << n.status().message();
  ASSERT_EQ(*n, 1u);
  EXPECT_TRUE(Running(*client_, "streaming"));
  (*stream)->Cancel();
  EXPECT_TRUE(
      Eventually([&] { return !Running(*client_, "streaming"); }, std::chrono::seconds(10)));
}

TEST_P(Conformance, ExecuteErrorNamesTheWorkerAndTheVerb) {
  auto stream = client_->Execute(Execute("from_query(\"SELECT 1 AS a\") |> select(nope)"));
  ASSERT_TRUE(stream.ok());
  auto decoded = Drain(stream->get());
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  const std::string& m = decoded.status().message();
  EXPECT_NE(m.find("worker " + client_->address()), std::string::npos) << m;
  EXPECT_NE(m.find("select"), std::string::npos) << m;
  EXPECT_NE(m.find("nope"), std::string::npos) << m;
}

TEST_P(Conformance, ExecuteRefusesAFragmentWithASink) {
  auto stream = client_->Execute(Execute("from_query(\"SELECT 1 AS a\") |> to_parquet(\"" +
                                         (dir_ / "x.parquet").string() + "\")"));
  ASSERT_TRUE(stream.ok());
  auto decoded = Drain(stream->get());
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("Write"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "x.parquet"));
}

TEST_P(Conformance, CancelStopsARunningQuery) {
  auto stream = client_->Execute(Execute(kSlow, "slow"));
  ASSERT_TRUE(stream.ok());
  ASSERT_TRUE(Eventually([&] { return Running(*client_, "slow"); }, std::chrono::seconds(10)));
  auto found = client_->Cancel("slow");
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(*found);
  auto start = Clock::now();
  auto decoded = Drain(stream->get());
  EXPECT_FALSE(decoded.ok());
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  auto unknown = client_->Cancel("no-such-query");
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(*unknown);
}

TEST_P(Conformance, AbandonedStreamStopsTheQuery) {
  {
    auto stream = client_->Execute(Execute(kSlow, "abandoned"));
    ASSERT_TRUE(stream.ok());
    ASSERT_TRUE(
        Eventually([&] { return Running(*client_, "abandoned"); }, std::chrono::seconds(10)));
  }  // destroyed mid-query
  EXPECT_TRUE(
      Eventually([&] { return !Running(*client_, "abandoned"); }, std::chrono::seconds(10)));
}

TEST_P(Conformance, RegisterAppendAndDropTables) {
  std::string first = IpcOf("SELECT range AS x FROM range(0, 3000)");
  arrow_ipc::StringInputStream in(first);
  auto rows = client_->RegisterTable("dim table", "", &in);
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(*rows, 3000);
  v1::AppendChunkRequest append;
  append.set_table("dim table");
  append.set_data(IpcOf("SELECT range + 3000 AS x FROM range(0, 1000)"));
  auto appended = client_->AppendChunk(append);
  ASSERT_TRUE(appended.ok()) << appended.status().message();
  EXPECT_EQ(*appended, 1000);

  auto stream = client_->Execute(
      Execute("from_query(\"SELECT sum(x)::BIGINT AS s FROM \\\"dim table\\\"\")"));
  ASSERT_TRUE(stream.ok());
  auto decoded = Drain(stream->get());
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  ASSERT_EQ(decoded->first_column.size(), 1u);
  EXPECT_EQ(decoded->first_column[0], 3999 * 4000 / 2);

  auto info = client_->Info();
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->tables_size(), 1);
  EXPECT_EQ(info->tables(0), "dim table");

  v1::DropTableRequest drop;
  drop.set_table("dim table");
  EXPECT_TRUE(client_->DropTable(drop).ok());
  Status again = client_->DropTable(drop);
  EXPECT_FALSE(again.ok());
  EXPECT_NE(again.message().find(client_->address()), std::string::npos);
  drop.set_if_exists(true);
  EXPECT_TRUE(client_->DropTable(drop).ok());
  EXPECT_EQ(client_->Info()->tables_size(), 0);
}

TEST_P(Conformance, DropsSeveralTablesInOneCallOrNone) {
  for (const char* name : {"a", "b", "c"}) {
    std::string bytes = IpcOf("SELECT 1 AS x");
    arrow_ipc::StringInputStream in(bytes);
    ASSERT_TRUE(client_->RegisterTable(name, "", &in).ok());
  }
  // Without if_exists, a missing table fails the call and drops none of the others.
  v1::DropTableRequest drop;
  drop.set_table("a");
  drop.add_more_tables("missing");
  Status failed = client_->DropTable(drop);
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("missing"), std::string::npos) << failed.message();
  EXPECT_EQ(client_->Info()->tables_size(), 3);

  drop.set_if_exists(true);
  drop.add_more_tables("b");
  EXPECT_TRUE(client_->DropTable(drop).ok());
  auto info = client_->Info();
  ASSERT_EQ(info->tables_size(), 1);
  EXPECT_EQ(info->tables(0), "c");

  v1::DropTableRequest empty;
  empty.add_more_tables("");
  EXPECT_EQ(client_->DropTable(empty).code(), StatusCode::kInvalidArgument);
}

TEST_P(Conformance, RegisterTableRejectsABrokenStream) {
  std::string bytes = IpcOf("SELECT range AS x FROM range(0, 10)");
  bytes.resize(bytes.size() / 2);
  arrow_ipc::StringInputStream in(bytes);
  auto rows = client_->RegisterTable("broken", "", &in);
  EXPECT_FALSE(rows.ok());
  EXPECT_EQ(client_->Info()->tables_size(), 0);
}

TEST_P(Conformance, PushBucketsStoresEachBucket) {
  auto pusher = client_->PushBuckets();
  ASSERT_TRUE(pusher.ok());
  for (int round = 0; round < 2; ++round) {
    for (int bucket = 0; bucket < 2; ++bucket) {
      v1::BucketChunk chunk;
      chunk.set_exchange_id("x1");
      chunk.set_bucket(bucket);
      chunk.set_data(
          IpcOf("SELECT range AS k FROM range(0, " + std::to_string(100 * (bucket + 1)) + ")"));
      chunk.set_last(true);
      ASSERT_TRUE((*pusher)->Push(chunk).ok());
    }
  }
  // One bucket's stream cut into three chunks.
  std::string stream = IpcOf("SELECT range AS k FROM range(0, 1000)");
  size_t third = stream.size() / 3;
  for (size_t at = 0; at < 3; ++at) {
    v1::BucketChunk chunk;
    chunk.set_exchange_id("x1");
    chunk.set_bucket(2);
    chunk.set_data(stream.substr(at * third, at == 2 ? std::string::npos : third));
    chunk.set_last(at == 2);
    ASSERT_TRUE((*pusher)->Push(chunk).ok());
  }
  auto reply = (*pusher)->Finish();
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_EQ(reply->rows(), 1600);
  EXPECT_GT(reply->bytes(), static_cast<int64_t>(stream.size()));
  auto count = [&](int bucket) {
    auto stream = client_->Execute(Execute("from_query(\"SELECT count(*) AS n FROM " +
                                           protocol::BucketTable("x1", bucket) + "\")"));
    auto decoded = Drain(stream->get());
    return decoded.ok() && decoded->first_column.size() == 1 ? decoded->first_column[0] : -1;
  };
  EXPECT_EQ(count(0), 200);
  EXPECT_EQ(count(1), 400);
  EXPECT_EQ(count(2), 1000);
}

TEST_P(Conformance, ShuffleRoutesEveryRowToItsBucketOwner) {
  auto other = GetParam().make("");
  ConnectPeers({transport_.get(), other.get()});
  std::string a = client_->address(), b = other->client->address();
  v1::ExecuteRequest request =
      Execute("from_query(\"SELECT i % 10 AS k, i AS v FROM range(0, 5000) t(i)\")");
  auto* target = request.mutable_fragment()->mutable_shuffle();
  target->set_exchange_id("s1");
  target->add_keys("k");
  target->set_n_buckets(4);
  for (const auto& owner : {a, b, a, b}) target->add_owners(owner);
  auto stream = client_->Execute(request);
  ASSERT_TRUE(stream.ok());
  // The reply: one row per bucket, its first column the bucket number.
  auto stats = Drain(stream->get());
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->rows, 4);
  // Each owner holds exactly its buckets, every key in the bucket of its hash, all rows once.
  auto count = [&](protocol::WorkerClient* owner, const std::vector<int>& buckets,
                   const char* where) {
    std::string sql;
    for (int bucket : buckets) {
      sql += std::string(sql.empty() ? "" : " UNION ALL ") + "SELECT " + std::to_string(bucket) +
             " AS b, k FROM " + protocol::BucketTable("s1", bucket);
    }
    auto rows = owner->Execute(
        Execute("from_query(\"SELECT count(*) AS n FROM (" + sql + ") WHERE " + where + "\")"));
    auto decoded = Drain(rows->get());
    EXPECT_TRUE(decoded.ok()) << decoded.status().message();
    return decoded.ok() && decoded->first_column.size() == 1 ? decoded->first_column[0] : -1;
  };
  int64_t on_a = count(client_, {0, 2}, "true"), on_b = count(other->client.get(), {1, 3}, "true");
  EXPECT_EQ(on_a + on_b, 5000);
  EXPECT_GT(on_a, 0);
  EXPECT_GT(on_b, 0);
  // exec::BucketOfHash in SQL: the hash's high bits pick the bucket.
  const char* elsewhere = "(hash(k)::UHUGEINT * 4) >> 64 <> b";
  EXPECT_EQ(count(client_, {0, 2}, elsewhere), 0);
  EXPECT_EQ(count(other->client.get(), {1, 3}, elsewhere), 0);
}

TEST_P(Conformance, ShuffleRefusesABadTarget) {
  v1::ExecuteRequest request = Execute("from_query(\"SELECT 1 AS k\")");
  auto* target = request.mutable_fragment()->mutable_shuffle();
  target->set_exchange_id("s2");
  target->add_keys("k");
  target->set_n_buckets(2);
  target->add_owners(client_->address());
  auto stream = client_->Execute(request);
  ASSERT_TRUE(stream.ok());
  auto drained = Drain(stream->get());
  ASSERT_FALSE(drained.ok());
  EXPECT_EQ(drained.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(drained.status().message().find("one owner per bucket, got 2 buckets and 1 owners"),
            std::string::npos)
      << drained.status().message();
}

TEST_P(Conformance, BucketStreamsMustEndAndNotInterleave) {
  std::string stream = IpcOf("SELECT range AS k FROM range(0, 1000)");
  auto push = [&](std::vector<std::pair<int, bool>> chunks) {
    auto pusher = client_->PushBuckets();
    EXPECT_TRUE(pusher.ok());
    size_t half = stream.size() / 2;
    for (size_t i = 0; i < chunks.size(); ++i) {
      v1::BucketChunk chunk;
      chunk.set_exchange_id("x2");
      chunk.set_bucket(chunks[i].first);
      chunk.set_data(i == 0 ? stream.substr(0, half) : stream.substr(half));
      chunk.set_last(chunks[i].second);
      (void)(*pusher)->Push(chunk);
    }
    return (*pusher)->Finish().status();
  };
  Status unfinished = push({{0, false}});
  EXPECT_EQ(unfinished.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unfinished.message().find("ended without its last chunk"), std::string::npos)
      << unfinished.message();
  Status interleaved = push({{0, false}, {1, true}});
  EXPECT_EQ(interleaved.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(interleaved.message().find("interleaved with another's"), std::string::npos)
      << interleaved.message();
}

TEST_P(Conformance, ShuffleToAnUnreachablePeerFailsNamingIt) {
  v1::ExecuteRequest request = Execute("from_query(\"SELECT range AS k FROM range(0, 100)\")");
  auto* target = request.mutable_fragment()->mutable_shuffle();
  target->set_exchange_id("s3");
  target->add_keys("k");
  target->set_n_buckets(2);
  target->add_owners(client_->address());
  target->add_owners("127.0.0.1:1");
  ConnectPeers({transport_.get()});
  auto stream = client_->Execute(request);
  ASSERT_TRUE(stream.ok());
  auto drained = Drain(stream->get());
  ASSERT_FALSE(drained.ok());
  EXPECT_NE(drained.status().message().find("127.0.0.1:1"), std::string::npos)
      << drained.status().message();
}

TEST_P(Conformance, WriteWritesTheFile) {
  std::string path = (dir_ / "out.parquet").string();
  v1::WriteRequest request;
  *request.mutable_fragment() = Fragment(
      "from_query(\"SELECT range AS i FROM range(0, 1234)\") |> to_parquet(\"" + path + "\")");
  auto reply = client_->Write(request);
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_EQ(reply->rows(), 1234);
  ASSERT_EQ(reply->files_size(), 1);
  auto check = std::move(Session::Open()).value();
  auto t = check->connection().Query("SELECT count(*) FROM read_parquet('" + path + "')");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->rows[0][0].int_value(), 1234);
}

TEST_P(Conformance, InsertIntoAnAttachedDatabase) {
  std::string db = (dir_ / "target.duckdb").string();
  {
    auto setup = std::move(Session::Open(AtPath(db))).value();
    ASSERT_TRUE(setup->connection().Execute("CREATE TABLE t (i BIGINT, s VARCHAR)").ok());
  }
  v1::InsertIntoRequest request;
  *request.mutable_fragment() =
      Fragment("attach(\"db\", \"" + db +
               "\")\nfrom_query(\"SELECT range AS i, 'x' || range AS s FROM range(0, 50)\") |> "
               "insert_into(\"db.t\")");
  auto reply = client_->InsertInto(request);
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_EQ(reply->rows(), 50);
  transport_.reset();  // the worker holds the file open
  auto check = std::move(Session::Open(AtPath(db))).value();
  auto t = check->connection().Query("SELECT count(*), sum(i) FROM t");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->rows[0][0].int_value(), 50);
}

TEST_P(Conformance, ConcurrentQueries) {
  std::vector<std::thread> threads;
  threads.reserve(4);
  std::vector<int64_t> rows(4, -1);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto stream = client_->Execute(Execute("from_query(\"SELECT range AS i FROM range(0, " +
                                                 std::to_string(10000 * (i + 1)) + ")\")",
                                             "c" + std::to_string(i)));
      if (!stream.ok()) return;
      auto decoded = Drain(stream->get());
      if (decoded.ok()) rows[i] = decoded->rows;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(rows[i], 10000 * (i + 1));
}

TEST_P(Conformance, MalformedRequestsAreRefused) {
  auto refused = [&](const Status& s, const std::string& part) {
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("worker " + client_->address() + ": "), std::string::npos)
        << s.message();
    EXPECT_NE(s.message().find(part), std::string::npos) << s.message();
  };
  // No query id: nothing could cancel it.
  auto stream = client_->Execute(Execute("from_query(\"SELECT 1 AS a\")", ""));
  ASSERT_TRUE(stream.ok());
  refused(Drain(stream->get()).status(), "no query id");
  // Write and InsertInto need the matching sink.
  v1::WriteRequest write;
  *write.mutable_fragment() = Fragment("from_query(\"SELECT 1 AS a\")");
  refused(client_->Write(write).status(), "needs a fragment that ends in a file sink");
  v1::InsertIntoRequest insert;
  *insert.mutable_fragment() = Fragment("from_query(\"SELECT 1 AS a\") |> to_parquet(\"" +
                                        (dir_ / "x.parquet").string() + "\")");
  refused(client_->InsertInto(insert).status(), "needs a fragment that ends in insert_into");
  EXPECT_FALSE(fs::exists(dir_ / "x.parquet"));
  // A table needs a name; a bucket chunk an exchange and a bucket.
  std::string bytes = IpcOf("SELECT 1 AS a");
  arrow_ipc::StringInputStream in(bytes);
  refused(client_->RegisterTable("", "", &in).status(), "a table needs a name");
  auto pusher = client_->PushBuckets();
  ASSERT_TRUE(pusher.ok());
  v1::BucketChunk chunk;
  chunk.set_bucket(-1);
  chunk.set_data(bytes);
  (void)(*pusher)->Push(chunk);
  refused((*pusher)->Finish().status(), "needs an exchange id and a bucket");
}

TEST_P(Conformance, ALeaseKeepsWhatIsHeldForItUntilItIsNoLongerRenewed) {
  v1::RenewLeaseRequest renew;
  renew.set_lease_id("L1");
  auto renewed = client_->RenewLease(renew);
  ASSERT_TRUE(renewed.ok()) << renewed.status().message();
  EXPECT_DOUBLE_EQ(renewed->timeout_seconds(), LeaseTimeout().count() / 1000.0);
  // Renewed every 100 ms, as a coordinator would, until `renewing` ends (the steps below may
  // take longer than a lease); `last_renewal` is when the last call began: the lease cannot
  // end sooner than a lease after it.
  std::atomic<bool> renewing{true};
  std::atomic<Clock::rep> last_renewal{Clock::now().time_since_epoch().count()};
  std::thread renewer([&] {
    while (renewing.load()) {
      last_renewal = Clock::now().time_since_epoch().count();
      auto renewal = client_->RenewLease(renew);
      EXPECT_TRUE(renewal.ok()) << renewal.status().message();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  // A broadcast table, a bucket pushed by a peer and a running fragment, all under L1; a
  // table under no lease.
  std::string bytes = IpcOf("SELECT range AS x FROM range(0, 10)");
  arrow_ipc::StringInputStream in(bytes), plain(bytes);
  EXPECT_TRUE(client_->RegisterTable("leased", "L1", &in).ok());
  EXPECT_TRUE(client_->RegisterTable("unleased", "", &plain).ok());
  auto pusher = client_->PushBuckets();
  v1::BucketChunk chunk;
  chunk.set_exchange_id("e1");
  chunk.set_bucket(0);
  chunk.set_data(bytes);
  chunk.set_last(true);
  chunk.set_lease_id("L1");
  EXPECT_TRUE(pusher.ok() && (*pusher)->Push(chunk).ok() && (*pusher)->Finish().ok());
  v1::ExecuteRequest slow = Execute(kSlow, "leased-query");
  slow.mutable_fragment()->set_lease_id("L1");
  auto stream = client_->Execute(slow);
  bool started = stream.ok() && Eventually([&] { return Running(*client_, "leased-query"); },
                                           std::chrono::seconds(10));
  EXPECT_TRUE(started);
  // Renewed for three timeouts more: everything stays.
  if (started) std::this_thread::sleep_for(3 * LeaseTimeout());
  renewing = false;
  renewer.join();
  ASSERT_TRUE(started);
  EXPECT_TRUE(Running(*client_, "leased-query"));
  EXPECT_EQ(client_->Info()->tables_size(), 3);
  // Silent: the fragment stops and the lease's tables go, the other stays.
  auto stopped = Drain(stream->get());
  EXPECT_FALSE(stopped.ok());
  EXPECT_NE(stopped.status().message().find("nterrupt"), std::string::npos)
      << stopped.status().message();
  EXPECT_GE(Clock::now() - Clock::time_point(Clock::duration(last_renewal.load())),
            0.9 * LeaseTimeout());
  ASSERT_TRUE(
      Eventually([&] { return client_->Info()->tables_size() == 1; }, std::chrono::seconds(5)));
  EXPECT_EQ(client_->Info()->tables(0), "unleased");
  EXPECT_FALSE(Running(*client_, "leased-query"));
  // Nothing comes back under the expired lease.
  auto refused = [&](const Status& s) {
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.message();
    EXPECT_NE(s.message().find("worker " + client_->address() + ": lease L1 has expired"),
              std::string::npos)
        << s.message();
  };
  refused(client_->RenewLease(renew).status());
  arrow_ipc::StringInputStream again(bytes);
  refused(client_->RegisterTable("leased", "L1", &again).status());
  auto late = client_->PushBuckets();
  ASSERT_TRUE(late.ok());
  (void)(*late)->Push(chunk);
  refused((*late)->Finish().status());
  v1::ExecuteRequest leased_late = Execute("from_query(\"SELECT 1 AS a\")", "late");
  leased_late.mutable_fragment()->set_lease_id("L1");
  auto refused_stream = client_->Execute(leased_late);
  ASSERT_TRUE(refused_stream.ok());
  refused(Drain(refused_stream->get()).status());
  EXPECT_EQ(client_->Info()->tables_size(), 1);
}

TEST_P(Conformance, QueryIdsAreUniqueWhileRunning) {
  auto first = client_->Execute(Execute(kSlow, "twice"));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(Eventually([&] { return Running(*client_, "twice"); }, std::chrono::seconds(10)));
  auto second = client_->Execute(Execute("from_query(\"SELECT 1 AS a\")", "twice"));
  ASSERT_TRUE(second.ok());
  auto refused = Drain(second->get());
  EXPECT_EQ(refused.status().code(), StatusCode::kAlreadyExists) << refused.status().message();
  (*first)->Cancel();
}

INSTANTIATE_TEST_SUITE_P(Transports, Conformance,
                         ::testing::Values(Param{"in_process", InProcess}, Param{"grpc", Grpc},
                                           Param{"grpc_result_channel", GrpcResultChannel}),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- gRPC only: what the in-process transport has no notion of -----------------------------

TEST(GrpcTransport, TokenIsRequired) {
  auto t = Grpc("s3cret");
  EXPECT_TRUE(t->client->Health().ok());
  auto anonymous = std::move(rpc::ConnectWorker(t->client->address(), {})).value();
  Status refused = anonymous->Health();
  EXPECT_EQ(refused.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(refused.message().find(t->client->address()), std::string::npos);
  rpc::ClientOptions wrong;
  wrong.token = "guess";
  auto guessing = std::move(rpc::ConnectWorker(t->client->address(), wrong)).value();
  EXPECT_EQ(guessing->Info().status().code(), StatusCode::kUnauthenticated);
  auto stream = guessing->Execute(Execute("from_query(\"SELECT 1 AS a\")"));
  ASSERT_TRUE(stream.ok());
  EXPECT_EQ(Drain(stream->get()).status().code(), StatusCode::kUnauthenticated);
}

TEST(GrpcTransport, UnreachableWorkerIsNamed) {
  // A port nothing listens on: bind one, then close it.
  auto t = Grpc("");
  std::string address = t->client->address();
  t.reset();
  auto client = std::move(rpc::ConnectWorker(address, {})).value();
  Status s = client->Health();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("worker " + address), std::string::npos) << s.message();
}

TEST(GrpcTransport, WorkerOwnErrorIsNotALostConnection) {
  // An error the worker returns is its own, named after it and never taken for a broken
  // connection (the worker marks its replies); an IO error is not UNAVAILABLE, the code of
  // a lost worker, so it is not retried either.
  auto t = Grpc("");
  v1::WriteRequest request;
  *request.mutable_fragment() =
      Fragment("from_query(\"SELECT 1 AS a\") |> to_arrow(\"/nonexistent-dux-dir/x.arrow\")");
  auto reply = t->client->Write(request);
  ASSERT_FALSE(reply.ok());
  const std::string& m = reply.status().message();
  EXPECT_EQ(m.rfind("worker " + t->client->address() + ": ", 0), 0u) << m;
  EXPECT_EQ(m.find("unreachable"), std::string::npos) << m;
  EXPECT_NE(reply.status().code(), StatusCode::kUnavailable) << m;
}

TEST(GrpcTransport, ResultsTravelOverTheResultChannelWhenTheWorkerOffersIt) {
  auto t = GrpcResultChannel("");
  for (int i = 0; i < 2; ++i) {
    auto stream = t->client->Execute(
        Execute("from_query(\"SELECT range AS a FROM range(100000)\")", "q" + std::to_string(i)));
    ASSERT_TRUE(stream.ok());
    auto decoded = Drain(stream->get());
    ASSERT_TRUE(decoded.ok()) << decoded.status().message();
    EXPECT_EQ(decoded->rows, 100000);
  }
  EXPECT_EQ(t->result_channel->claimed(), 2);
  // A client told not to use it reads over gRPC.
  rpc::ClientOptions no_channel;
  no_channel.result_channel = false;
  auto plain = std::move(rpc::ConnectWorker(t->client->address(), no_channel)).value();
  auto stream = plain->Execute(Execute("from_query(\"SELECT 1 AS a\")", "plain"));
  ASSERT_TRUE(stream.ok());
  ASSERT_TRUE(Drain(stream->get()).ok());
  EXPECT_EQ(t->result_channel->claimed(), 2);
}

TEST(GrpcTransport, AResultChannelTheCallerCannotReachFallsBackToGrpc) {
  // The channel listens on 127.0.0.2, the caller dials the gRPC host 127.0.0.1: refused, as
  // behind a firewall that lets only the gRPC port through. The call starts again on gRPC,
  // and later calls to the worker do not try the channel.
  auto t = GrpcServing("", "127.0.0.2");
  for (int i = 0; i < 2; ++i) {
    auto stream = t->client->Execute(
        Execute("from_query(\"SELECT range AS a FROM range(1000)\")", "q" + std::to_string(i)));
    ASSERT_TRUE(stream.ok());
    auto decoded = Drain(stream->get());
    ASSERT_TRUE(decoded.ok()) << decoded.status().message();
    EXPECT_EQ(decoded->rows, 1000);
    EXPECT_EQ(decoded->first_column.back(), 999);
  }
  EXPECT_EQ(t->result_channel->claimed(), 0);
  EXPECT_EQ(t->result_channel->offered(), 1);
}

// A gRPC worker whose server and client take messages of at most `max_message_bytes`.
std::unique_ptr<Transport> GrpcLimited(int max_message_bytes) {
  auto t = std::make_unique<Transport>();
  worker::WorkerOptions options;
  options.threads = 1;
  t->worker = std::move(worker::Worker::Open(options)).value();
  t->service = rpc::MakeWorkerService(t->worker.get(), "");
  std::string bound;
  rpc::ServerOptions server_options;
  server_options.max_message_bytes = max_message_bytes;
  t->server = std::move(rpc::StartServer(server_options, {t->service.get()}, &bound)).value();
  t->worker->SetAddress(bound);
  rpc::ClientOptions client_options;
  client_options.max_message_bytes = max_message_bytes;
  t->client = std::move(rpc::ConnectWorker(bound, client_options)).value();
  return t;
}

TEST(GrpcTransport, AnOversizedMessageIsRefusedAndTheWorkerKeepsServing) {
  auto t = GrpcLimited(2 << 20);
  // A client that would send anything, to a server that takes 2 MiB.
  rpc::ClientOptions unlimited;
  unlimited.max_message_bytes = std::numeric_limits<int>::max();
  auto sender = std::move(rpc::ConnectWorker(t->client->address(), unlimited)).value();
  v1::AppendChunkRequest big;
  big.set_table("big");
  big.set_data(IpcOf("SELECT repeat('x', 3000000) AS s"));
  auto refused = sender->AppendChunk(big);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  const std::string& m = refused.status().message();
  EXPECT_EQ(m.rfind("worker " + t->client->address() + ": ", 0), 0u) << m;
  EXPECT_NE(m.find("larger than the limit of 2097152 bytes"), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  // The same message from a client with the same limit fails before it is sent.
  auto unsent = t->client->AppendChunk(big);
  ASSERT_FALSE(unsent.ok());
  EXPECT_EQ(unsent.status().code(), StatusCode::kResourceExhausted) << unsent.status().message();
  // A bucket chunk too big on a stream: the stream is refused.
  auto pusher = sender->PushBuckets();
  ASSERT_TRUE(pusher.ok());
  v1::BucketChunk chunk;
  chunk.set_exchange_id("x");
  chunk.set_data(big.data());
  chunk.set_last(true);
  (void)(*pusher)->Push(chunk);
  EXPECT_EQ((*pusher)->Finish().status().code(), StatusCode::kResourceExhausted);
  // The worker goes on serving, and holds nothing of what it refused.
  EXPECT_TRUE(t->client->Health().ok());
  auto info = t->client->Info();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->tables_size(), 0);
  auto stream = t->client->Execute(Execute("from_query(\"SELECT range AS a FROM range(5)\")"));
  ASSERT_TRUE(stream.ok());
  auto decoded = Drain(stream->get());
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->rows, 5);
}

TEST(GrpcTransport, LargeRowsStreamInChunksBelowTheLimit) {
  // Rows far bigger than the limit travel: the worker cuts every stream (results, tables,
  // buckets) into chunks of protocol::kIpcChunkBytes, whatever the size of one batch.
  static_assert(rpc::kDefaultMaxMessageBytes > 2 * protocol::kIpcChunkBytes);
  auto t = GrpcLimited(2 << 20);
  auto stream =
      t->client->Execute(Execute("from_query(\"SELECT repeat('x', 5000000) AS s FROM range(3)\")"));
  ASSERT_TRUE(stream.ok());
  auto decoded = Drain(stream->get());
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->rows, 3);
  std::string bytes = IpcOf("SELECT repeat('y', 5000000) AS s FROM range(2)");
  arrow_ipc::StringInputStream in(bytes);
  auto rows = t->client->RegisterTable("wide", "", &in);
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(*rows, 2);
  // A shuffle whose buckets go over gRPC: the owner is this worker under another name.
  t->worker->SetPeerConnector(rpc::MakePeerConnector({}));
  const std::string address = t->client->address();
  const std::string other_name = "localhost" + address.substr(address.rfind(':'));
  v1::ExecuteRequest shuffle =
      Execute("from_query(\"SELECT i, repeat('z', 4000000) AS s FROM range(4) t(i)\")");
  auto* target = shuffle.mutable_fragment()->mutable_shuffle();
  target->set_exchange_id("widex");
  target->add_keys("i");
  target->set_n_buckets(1);
  target->add_owners(other_name);
  auto routed = t->client->Execute(shuffle);
  ASSERT_TRUE(routed.ok());
  auto buckets = Drain(routed->get());
  ASSERT_TRUE(buckets.ok()) << buckets.status().message();
  auto count = t->client->Execute(Execute("from_query(\"SELECT count(*) AS n FROM " +
                                          protocol::BucketTable("widex", 0) + "\")"));
  ASSERT_TRUE(count.ok());
  auto n = Drain(count->get());
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(n->first_column, std::vector<int64_t>{4});
}

TEST(GrpcTransport, ALimitMustBePositive) {
  std::string bound;
  rpc::ServerOptions options;
  options.max_message_bytes = 0;
  EXPECT_EQ(rpc::StartServer(options, {}, &bound).status().code(), StatusCode::kInvalidArgument);
  rpc::ClientOptions client;
  client.max_message_bytes = -1;
  EXPECT_EQ(rpc::ConnectWorker("127.0.0.1:1", client).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(GrpcTransport, NonLoopbackNeedsAToken) {
  std::string bound;
  rpc::ServerOptions options;
  options.listen = "0.0.0.0:0";
  auto server = rpc::StartServer(options, {}, &bound);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("token"), std::string::npos);
}

}  // namespace
}  // namespace dux
