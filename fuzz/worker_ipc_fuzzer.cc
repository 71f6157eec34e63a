// libFuzzer target: Arrow IPC bytes pushed into the worker as a caller may send them (into an
// exchange bucket by PushBuckets, into a table by AppendChunk or RegisterTable), cut into
// chunks, then read back by a fragment as the next stage would. See docs/fuzzing.md, "The
// worker's RPC inputs".
//
// Input: byte 0 picks the call (low 2 bits) and the bucket (next 2 bits), byte 1 the chunk
// size (1 + byte * 97 bytes), the rest are the IPC bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dux/protocol/worker_client.h"
#include "dux/sql/quote.h"
#include "worker_fuzz_harness.h"

namespace {

dux::v1::ExecuteRequest ReadTable(const std::string& table) {
  dux::v1::ExecuteRequest request;
  request.mutable_fragment()->set_query_id("q-ipc");
  request.mutable_fragment()
      ->mutable_script()
      ->mutable_pipeline()
      ->mutable_source()
      ->mutable_query()
      ->set_sql("SELECT * FROM " + dux::sql::QuoteIdentifier(table));
  return request;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return -1;
  const int call = data[0] & 3;
  const int bucket = (data[0] >> 2) & 3;
  const size_t chunk_size = 1 + static_cast<size_t>(data[1]) * 97;
  std::string bytes(reinterpret_cast<const char*>(data + 2), size - 2);
  std::vector<std::string> pieces;
  for (size_t at = 0; at < bytes.size(); at += chunk_size)
    pieces.push_back(bytes.substr(at, chunk_size));
  if (pieces.empty()) pieces.emplace_back();

  auto& worker = dux::fuzz::FuzzWorker::Get();
  std::string table;
  dux::Status stored;
  if (call == 0 || call == 3) {
    std::vector<dux::v1::BucketChunk> chunks;
    for (size_t i = 0; i < pieces.size(); ++i) {
      dux::v1::BucketChunk c;
      c.set_exchange_id("q-ipc-x");
      c.set_bucket(bucket);
      c.set_data(pieces[i]);
      c.set_last(i + 1 == pieces.size());
      chunks.push_back(std::move(c));
    }
    // Call 3: the stream ends without its last chunk, as when the sender dies.
    if (call == 3) chunks.back().set_last(false);
    stored = worker.PushBuckets(chunks);
    table = dux::protocol::BucketTable("q-ipc-x", bucket);
  } else if (call == 1) {
    table = "__dux_broadcast_q-ipc_0";
    for (const auto& piece : pieces) {
      dux::v1::AppendChunkRequest append;
      append.set_table(table);
      append.set_data(piece);
      stored = worker.AppendChunk(append);
    }
  } else {
    std::vector<dux::v1::RegisterTableChunk> chunks;
    for (const auto& piece : pieces) {
      dux::v1::RegisterTableChunk c;
      c.set_data(piece);
      chunks.push_back(std::move(c));
    }
    table = "__dux_broadcast_q-ipc_1";
    chunks.front().set_table(table);
    stored = worker.RegisterTable(chunks);
  }
  (void)stored;
  (void)worker.Execute(ReadTable(table));
  worker.Reset();
  return 0;
}
