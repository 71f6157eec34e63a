// Writes seed inputs for the worker fuzz targets (docs/fuzzing.md, "The worker's RPC
// inputs"): OUT/worker_call, OUT/worker_ipc and OUT/worker_path, each a directory of files.
// The fragments are pipelines of the language, mapped to protobuf as a coordinator sends
// them; paths are relative to the fuzzing worker's allowed directory (t.parquet, ...).
//
// Usage: worker_make_seed_corpus OUT
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dux/arrow_ipc/streams.h"
#include "dux/exec/arrow_export.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/pipeline/language.h"
#include "dux/pipeline/proto_mapping.h"
#include "worker_fuzz_input.pb.h"

namespace fs = std::filesystem;
using dux::fuzz::WorkerCall;
using dux::fuzz::WorkerCalls;

namespace {

int written = 0;

// "@/" in a seed stands for the fuzzing worker's allowed directory (worker_fuzz_harness.h).
std::string At(std::string text) {
  const std::string allowed = "/tmp/dux-worker-fuzz/allowed";
  for (size_t at = text.find("@/"); at != std::string::npos; at = text.find("@/", at)) {
    text.replace(at, 1, allowed);
    at += allowed.size();
  }
  return text;
}

void Save(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
  ++written;
}

dux::v1::Fragment Fragment(const std::string& text, const std::string& query_id = "q1") {
  auto script = dux::pipeline::ParseScript(At(text));
  if (!script.ok()) {
    std::fprintf(stderr, "seed \"%s\": %s\n", text.c_str(), script.status().ToString().c_str());
    std::exit(1);
  }
  dux::v1::Fragment f;
  f.set_query_id(query_id);
  dux::pipeline::ToProto(*script, f.mutable_script());
  return f;
}

WorkerCall Execute(const std::string& text, const std::string& compression = "") {
  WorkerCall call;
  *call.mutable_execute()->mutable_fragment() = Fragment(text);
  call.mutable_execute()->set_compression(compression);
  return call;
}

std::string Ipc(dux::exec::Connection& c, const std::string& query) {
  dux::arrow_ipc::StringOutputStream out;
  auto rows = dux::exec::WriteQueryIpc(c, query, &out, {});
  if (!rows.ok()) {
    std::fprintf(stderr, "IPC of \"%s\": %s\n", query.c_str(), rows.status().ToString().c_str());
    std::exit(1);
  }
  return out.bytes();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  auto db = dux::exec::Database::Open();
  auto c = dux::exec::Connection::Open(*db);
  if (!db.ok() || !c.ok()) return 1;
  const std::string small =
      Ipc(*c, "SELECT * FROM (VALUES (1, 'a', 1.5), (2, 'b', NULL)) v(id, s, x)");
  const std::vector<std::string> ipcs = {
      small,
      Ipc(*c, "SELECT range AS id, range % 7 AS g, 'v' || range AS s FROM range(3000)"),
      Ipc(*c, "SELECT * FROM test_all_types()"),
      Ipc(*c, "SELECT [1, 2] AS l, {'a': 1} AS st, MAP {'k': 2} AS m"),
  };

  // worker_call: fragments and sequences of calls.
  const std::vector<std::string> reads = {
      "from_parquet(\"@/t.parquet\") |> filter(id > 1) |> mutate(y: id * 2)",
      "from_parquet(\"@/*.parquet\") |> group_by(s) |> summarise(n: count(*), m: median(x))",
      "from_csv(\"@/t.csv\") |> sort_by(id) |> head(2)",
      "from_arrow(\"@/t.arrow\") |> select(id, s)",
      "from_ndjson(\"@/t.json\")",
      "from_values(a: [1, 2], b: ['x', null]) |> join(from_parquet(\"@/t.parquet\") |> rename(id: "
      "a), on: a)",
      "from_query(\"SELECT range AS a FROM range(10)\") |> distinct(a)",
      "from_parquet(\"@/../outside/secret.parquet\")",
      "from_parquet(\"@/link.parquet\")",
      "from_parquet(\"@/linkdir/secret.parquet\")",
      "from_arrow(\"@/linkdir/secret.arrow\")",
      "from_query(\"SELECT * FROM read_csv('@/linkdir/secret.csv')\")",
      "from_parquet(\"/etc/passwd\")",
      "from_parquet(\"file://@/../outside/secret.parquet\")",
      "from_parquet(\"@/l*/*.parquet\")",
      "attach(\"d\", \"@/../outside/x.duckdb\", read_only: true)\nfrom_query(\"SELECT 1 AS a\")",
      "from_parquet(\"@/t.parquet\") |> pivot_longer(id, x, names_to: k)",
  };
  int k = 0;
  for (const auto& text : reads) {
    WorkerCalls calls;
    *calls.add_calls() = Execute(text, k % 3 == 1 ? "lz4" : "");
    Save(out / "worker_call", "read-" + std::to_string(k++), calls.SerializeAsString());
  }
  const std::vector<std::string> writes = {
      "from_parquet(\"@/t.parquet\") |> to_parquet(\"@/out\")",
      "from_parquet(\"@/t.parquet\") |> to_parquet(\"@/out\", partition_by: [s])",
      "from_parquet(\"@/t.parquet\") |> to_csv(\"@/out.csv\")",
      "from_parquet(\"@/t.parquet\") |> to_arrow(\"@/out.arrow\", compression: \"zstd\")",
      "from_parquet(\"@/t.parquet\") |> to_parquet(\"@/linkdir/out\")",
      "from_parquet(\"@/t.parquet\") |> to_csv(\"@/../outside/out.csv\")",
      "from_parquet(\"@/t.parquet\") |> to_ndjson(\"@/linkdir\")",
  };
  k = 0;
  for (const auto& text : writes) {
    WorkerCalls calls;
    auto* w = calls.add_calls()->mutable_write();
    *w->mutable_fragment() = Fragment(text);
    if (k % 2 == 0) {
      w->set_write_id("w1");
      w->set_partition(k);
    }
    Save(out / "worker_call", "write-" + std::to_string(k++), calls.SerializeAsString());
  }
  {  // a shuffle into local buckets, then the next stage reads and drops them
    WorkerCalls calls;
    auto* e = calls.add_calls()->mutable_execute();
    *e->mutable_fragment() = Fragment("from_parquet(\"@/t.parquet\")");
    auto* s = e->mutable_fragment()->mutable_shuffle();
    s->set_exchange_id("q1-x0");
    s->add_keys("s");
    s->add_key_types("VARCHAR");
    s->set_n_buckets(2);
    s->add_owners("fuzz-worker");
    s->add_owners("fuzz-worker");
    *calls.add_calls() = Execute(
        "from_query(\"SELECT * FROM __dux_exchange_q1-x0_0 UNION ALL SELECT * FROM "
        "__dux_exchange_q1-x0_1\") |> group_by(s) |> summarise(n: count(*))");
    calls.add_calls()->mutable_drop_table()->set_table("__dux_exchange_q1-x0_0");
    calls.mutable_calls()->rbegin()->mutable_drop_table()->add_more_tables(
        "__dux_exchange_q1-x0_1");
    Save(out / "worker_call", "shuffle", calls.SerializeAsString());
  }
  for (size_t i = 0; i < ipcs.size(); ++i) {  // broadcast, append, buckets pushed, then read
    WorkerCalls calls;
    auto* r = calls.add_calls()->mutable_register_table()->add_chunks();
    r->set_table("__dux_broadcast_q1_0");
    r->set_data(ipcs[i]);
    auto* a = calls.add_calls()->mutable_append_chunk();
    a->set_table("__dux_broadcast_q1_0");
    a->set_data(ipcs[i]);
    auto* p = calls.add_calls()->mutable_push_buckets()->add_chunks();
    p->set_exchange_id("q1-x1");
    p->set_bucket(static_cast<int>(i));
    p->set_data(ipcs[i]);
    p->set_last(true);
    *calls.add_calls() = Execute("from_query(\"SELECT * FROM __dux_broadcast_q1_0\")");
    *calls.add_calls() =
        Execute("from_query(\"SELECT * FROM __dux_exchange_q1-x1_" + std::to_string(i) + "\")");
    calls.add_calls()->mutable_drop_table()->set_table("__dux_broadcast_q1_0");
    Save(out / "worker_call", "tables-" + std::to_string(i), calls.SerializeAsString());
  }
  {
    WorkerCalls calls;
    *calls.add_calls() = Execute("from_query(\"SELECT count(*) AS n FROM range(100000000000)\")");
    calls.add_calls()->mutable_cancel()->set_query_id("q1");
    Save(out / "worker_call", "long-then-cancel", calls.SerializeAsString());
  }

  // worker_ipc: [call | bucket << 2, chunk size byte] + IPC.
  k = 0;
  for (const auto& ipc : ipcs) {
    for (int call = 0; call < 4; ++call) {
      std::string input = {static_cast<char>(call | (k % 4) << 2), static_cast<char>(k % 3 * 40)};
      Save(out / "worker_ipc", "ipc-" + std::to_string(k++), input + ipc);
    }
  }

  // worker_path: [use] + name or path.
  const std::vector<std::pair<int, std::string>> paths = {
      {0, "@/t.parquet"},
      {0, "@/../outside/secret.parquet"},
      {0, "@/link.parquet"},
      {0, "@/linkdir/secret.parquet"},
      {0, "@/l*/*.parquet"},
      {0, "@/**/*.parquet"},
      {0, "file://@/linkdir/secret.parquet"},
      {1, "@/./t.parquet"},
      {2, "@/t.csv"},
      {2, "@/linkdir/secret.csv"},
      {3, "@/t.json"},
      {4, "@/t.arrow"},
      {4, "@/linkdir/secret.arrow"},
      {4, "/proc/self/environ"},
      {5, "@/x.duckdb"},
      {5, "@/../outside/x.duckdb"},
      {6, "@/out"},
      {6, "@/linkdir/out"},
      {7, "@/out.parquet"},
      {7, "@/../outside/o.parquet"},
      {8, "@/o.csv"},
      {9, "@/o.arrow"},
      {9, "@/linkdir/o.arrow"},
      {10, "tab"},
      {10, "__dux_exchange_q0_0"},
      {11, "t\"x"},
      {12, "q-path-x"},
      {13, "SELECT * FROM '@/linkdir/secret.parquet'"},
      {13, "SELECT * FROM glob('@/../outside/*')"},
  };
  k = 0;
  for (const auto& [use, s] : paths) {
    Save(out / "worker_path", "path-" + std::to_string(k++),
         std::string(1, static_cast<char>(use)) + At(s));
  }
  std::printf("%d seed inputs written to %s\n", written, out.c_str());
  return 0;
}
