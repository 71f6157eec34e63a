// libFuzzer target: the names and paths a caller gives the worker (sources, file sinks,
// attachments, table names, exchange ids), each handed to worker::Worker as
// rpc/worker_service.cc does. The harness checks that nothing is read from or written
// outside --allow-dir. See docs/fuzzing.md, "The worker's RPC inputs".
//
// Input: byte 0 picks where the rest (the name or path) goes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "dux/protocol/worker_client.h"
#include "dux/sql/quote.h"
#include "worker_fuzz_harness.h"

namespace {

using dux::v1::ExecuteRequest;
using dux::v1::WriteRequest;

dux::v1::Pipeline* NewPipeline(dux::v1::Fragment* fragment) {
  fragment->set_query_id("q-path");
  return fragment->mutable_script()->mutable_pipeline();
}

void SelectOne(dux::v1::Pipeline* p) {
  p->mutable_source()->mutable_query()->set_sql("SELECT 1 AS a");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 512) return -1;
  const int use = data[0] % 14;
  const std::string s(reinterpret_cast<const char*>(data + 1), size - 1);
  auto& worker = dux::fuzz::FuzzWorker::Get();
  ExecuteRequest execute;
  WriteRequest write;
  dux::v1::Pipeline* read = NewPipeline(execute.mutable_fragment());
  dux::v1::Pipeline* sink = NewPipeline(write.mutable_fragment());
  switch (use) {
    case 0:
      read->mutable_source()->mutable_parquet()->set_path(s);
      break;
    case 1:
      read->mutable_source()->mutable_parquet()->set_path(s);
      read->mutable_source()->mutable_parquet()->set_hive_partitioning(true);
      break;
    case 2:
      read->mutable_source()->mutable_csv()->set_path(s);
      break;
    case 3:
      read->mutable_source()->mutable_ndjson()->set_path(s);
      break;
    case 4:
      read->mutable_source()->mutable_arrow()->set_path(s);
      break;
    case 5: {  // a DuckDB file attached, then a query that names it
      auto* a = execute.mutable_fragment()->mutable_script()->add_attachments();
      a->set_alias("db");
      a->set_path(s);
      a->set_read_only(true);
      read->mutable_source()->mutable_query()->set_sql("SELECT 1 AS a");
      break;
    }
    case 6:  // a partition of a distributed write: a directory
      SelectOne(sink);
      sink->mutable_sink()->mutable_to_parquet()->set_path(s);
      write.set_write_id("w-path");
      break;
    case 7:
      SelectOne(sink);
      sink->mutable_sink()->mutable_to_parquet()->set_path(s);
      break;
    case 8:
      SelectOne(sink);
      sink->mutable_sink()->mutable_to_csv()->set_path(s);
      break;
    case 9:
      SelectOne(sink);
      sink->mutable_sink()->mutable_to_arrow()->set_path(s);
      break;
    case 10: {  // a table registered under that name, read back and dropped
      dux::v1::RegisterTableChunk chunk;
      chunk.set_table(s);
      chunk.set_data(worker.sample_ipc());
      (void)worker.RegisterTable({chunk});
      read->mutable_source()->mutable_query()->set_sql("SELECT * FROM " +
                                                       dux::sql::QuoteIdentifier(s));
      break;
    }
    case 11: {
      dux::v1::AppendChunkRequest append;
      append.set_table(s);
      append.set_data(worker.sample_ipc());
      (void)worker.AppendChunk(append);
      dux::v1::DropTableRequest drop;
      drop.set_table(s);
      (void)worker.DropTable(drop);
      worker.Reset();
      return 0;
    }
    case 12: {  // an exchange id: stored, then read
      dux::v1::BucketChunk chunk;
      chunk.set_exchange_id(s);
      chunk.set_data(worker.sample_ipc());
      chunk.set_last(true);
      (void)worker.PushBuckets({chunk});
      read->mutable_source()->mutable_query()->set_sql(
          "SELECT * FROM " + dux::sql::QuoteIdentifier(dux::protocol::BucketTable(s, 0)));
      break;
    }
    default:  // a query text: whatever SQL a fragment's query source may hold
      read->mutable_source()->mutable_query()->set_sql(s);
      break;
  }
  if (use >= 6 && use <= 9) {
    (void)worker.Write(write);
  } else {
    (void)worker.Execute(execute);
  }
  worker.Reset();
  return 0;
}
