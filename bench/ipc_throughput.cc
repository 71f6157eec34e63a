// ipc_throughput PARQUET_GLOB: encode and decode throughput of dux's Arrow IPC codec on a
// table (the H2O groupby shape from `dux generate groupby`), against memcpy of the same
// buffer bytes in the same run. Prints a markdown table for BENCHMARKS.md.
//
// The table is first exported from DuckDB into Arrow batches held in memory (one per DuckDB
// chunk), so that only the codec is timed: encode = Writer over all batches into a
// preallocated in-memory stream; decode = Reader over those bytes, every batch decoded and
// released; memcpy = every buffer of every batch copied into a preallocated destination.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "dux/arrow_ipc/ipc_reader.h"
#include "dux/arrow_ipc/ipc_writer.h"
#include "dux/exec/arrow_export.h"
#include "dux/exec/duckdb_connection.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Holds the exported batches and their buffer sizes.
class Collector : public dux::exec::ArrowBatchSink {
 public:
  dux::Status Schema(const ArrowSchema& schema) override {
    // Keep a deep copy by round-tripping through an IPC schema message.
    dux::arrow_ipc::StringOutputStream out;
    DUX_ASSIGN_OR_RETURN(auto w, dux::arrow_ipc::Writer::Open(&out, schema));
    DUX_RETURN_NOT_OK(w->Close());
    schema_bytes_ = out.bytes();
    return dux::Status::OK();
  }
  dux::Status Batch(const ArrowArray& batch) override {
    // Batches must outlive the export: copy via an IPC round trip of one batch.
    dux::arrow_ipc::StringOutputStream out;
    dux::arrow_ipc::SchemaOwner schema;
    DUX_RETURN_NOT_OK(SchemaCopy(schema.out()));
    DUX_ASSIGN_OR_RETURN(auto w, dux::arrow_ipc::Writer::Open(&out, *schema.get()));
    DUX_RETURN_NOT_OK(w->WriteBatch(batch));
    DUX_RETURN_NOT_OK(w->Close());
    dux::arrow_ipc::StringInputStream in(out.bytes());
    DUX_ASSIGN_OR_RETURN(auto r, dux::arrow_ipc::Reader::Open(&in));
    dux::arrow_ipc::ArrayOwner copy;
    DUX_ASSIGN_OR_RETURN(bool more, r->Next(copy.out()));
    if (!more) return dux::Status::Internal("batch lost");
    batches_.push_back(std::move(copy));
    return dux::Status::OK();
  }
  dux::Status SchemaCopy(ArrowSchema* out) {
    dux::arrow_ipc::StringInputStream in(schema_bytes_);
    DUX_ASSIGN_OR_RETURN(auto r, dux::arrow_ipc::Reader::Open(&in));
    return r->ExportSchema(out);
  }
  std::vector<dux::arrow_ipc::ArrayOwner>& batches() { return batches_; }

 private:
  std::string schema_bytes_;
  std::vector<dux::arrow_ipc::ArrayOwner> batches_;
};

// Sums the buffer bytes of an array tree (as the C Data Interface lays them out).
void CollectBuffers(const ArrowArray* a, const ArrowSchema* s,
                    std::vector<std::pair<const void*, size_t>>* out) {
  std::string f = s->format;
  int64_t n = a->length + a->offset;
  for (int64_t b = 0; b < a->n_buffers; ++b) {
    if (!a->buffers[b]) continue;
    size_t bytes = 0;
    if (b == 0 || f == "b") {  // a validity bitmap, or the bits of a boolean column
      bytes = static_cast<size_t>((n + 7) / 8);
    } else if (f == "u" || f == "z") {
      if (b == 1) {
        bytes = static_cast<size_t>(n + 1) * 4;
      } else {
        bytes = static_cast<size_t>(static_cast<const int32_t*>(a->buffers[1])[n]);
      }
    } else if (f == "g" || f == "l" || f == "L" || f.rfind("ts", 0) == 0) {
      bytes = static_cast<size_t>(n) * 8;
    } else {
      bytes = static_cast<size_t>(n) * 4;  // the groupby shape: int32 columns
    }
    out->emplace_back(a->buffers[b], bytes);
  }
  for (int64_t c = 0; c < a->n_children; ++c) CollectBuffers(a->children[c], s->children[c], out);
}

// Discards nothing: appends into a buffer reserved up front, like a socket or file would.
class PreallocatedStream : public dux::arrow_ipc::OutputStream {
 public:
  // Touched up front, as memcpy's destination is, so neither side pays page faults.
  explicit PreallocatedStream(size_t capacity) {
    bytes_.resize(capacity);
    bytes_.clear();
  }
  dux::Status Write(const void* data, size_t size) override {
    bytes_.append(static_cast<const char*>(data), size);
    return dux::Status::OK();
  }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

}  // namespace

// An exception (a malformed argument) ends the benchmark with std::terminate's message.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  if (argc != 2) {
    std::fprintf(stderr, "usage: ipc_throughput PARQUET_GLOB\n");
    return 2;
  }
  auto db = dux::exec::Database::Open("", {{"threads", "2"}});
  auto con = dux::exec::Connection::Open(*db);
  Collector collector;
  auto rows = dux::exec::ExportArrow(
      *con, std::string("SELECT * FROM read_parquet('") + argv[1] + "')", &collector);
  if (!rows.ok()) {
    std::fprintf(stderr, "export: %s\n", rows.status().ToString().c_str());
    return 1;
  }
  dux::arrow_ipc::SchemaOwner schema;
  if (!collector.SchemaCopy(schema.out()).ok()) return 1;

  std::vector<std::pair<const void*, size_t>> buffers;
  size_t total = 0;
  for (auto& b : collector.batches()) CollectBuffers(b.get(), schema.get(), &buffers);
  for (auto& [p, n] : buffers) total += n;

  constexpr int kRepeats = 5;
  double best_memcpy = 1e9, best_encode = 1e9, best_decode = 1e9;
  std::vector<char> destination(total);
  std::string encoded;
  for (int r = 0; r < kRepeats; ++r) {
    auto start = Clock::now();
    size_t at = 0;
    for (auto& [p, n] : buffers) {
      std::memcpy(destination.data() + at, p, n);
      at += n;
    }
    best_memcpy = std::min(best_memcpy, Seconds(start));

    PreallocatedStream out(total + total / 8 + (1 << 20));
    start = Clock::now();
    auto writer = dux::arrow_ipc::Writer::Open(&out, *schema.get());
    for (auto& b : collector.batches()) {
      if (!(*writer)->WriteBatch(*b.get()).ok()) return 1;
    }
    if (!(*writer)->Close().ok()) return 1;
    best_encode = std::min(best_encode, Seconds(start));
    encoded = std::move(out.bytes());

    start = Clock::now();
    dux::arrow_ipc::StringInputStream in(encoded);
    auto reader = dux::arrow_ipc::Reader::Open(&in);
    int64_t decoded_rows = 0;
    for (;;) {
      dux::arrow_ipc::ArrayOwner batch;
      auto more = (*reader)->Next(batch.out());
      if (!more.ok()) {
        std::fprintf(stderr, "decode: %s\n", more.status().ToString().c_str());
        return 1;
      }
      if (!*more) break;
      decoded_rows += batch->length;
    }
    best_decode = std::min(best_decode, Seconds(start));
    if (decoded_rows != *rows) return 1;
  }
  double gb = static_cast<double>(total) / 1e9;
  std::printf("rows: %lld, batches: %zu, buffer bytes: %.3f GB, IPC stream: %.3f GB\n\n",
              static_cast<long long>(*rows), collector.batches().size(), gb,
              static_cast<double>(encoded.size()) / 1e9);
  std::printf("| operation | time (s) | GB/s | vs memcpy |\n|---|---|---|---|\n");
  std::printf("| memcpy of the buffers | %.3f | %.2f | 1.00 |\n", best_memcpy, gb / best_memcpy);
  std::printf("| encode (uncompressed) | %.3f | %.2f | %.2f |\n", best_encode, gb / best_encode,
              best_memcpy / best_encode);
  std::printf("| decode (uncompressed) | %.3f | %.2f | %.2f |\n", best_decode, gb / best_decode,
              best_memcpy / best_decode);
  return 0;
}
