#include "dux/worker/shuffle.h"

#include <fmt/format.h>

#include <algorithm>

#include "dux/arrow_ipc/streams.h"
#include "dux/exec/route_rows.h"
#include "dux/exec/row_sink.h"
#include "dux/sql/quote.h"

namespace dux::worker {

namespace {

constexpr const char* kHashColumn = "__dux_hash";

// What a producer buffers per bucket before a chunk goes out: a bucket's stream is cut into
// BucketChunks of about protocol::kIpcChunkBytes, less when there are many buckets, so that the
// producer holds at most about kRoutingBufferBytes in all.
constexpr size_t kRoutingBufferBytes = size_t{64} << 20;
constexpr size_t kMinChunkBytes = size_t{64} << 10;

// Pushes one bucket's rows as one IPC stream cut into BucketChunks of about `chunk_bytes`,
// the last marked so. The bytes are written straight into the chunk's data, whose capacity,
// reserved once, is kept from one chunk to the next (Push does not keep the chunk): growing
// a fresh string for every chunk cost more than the copies themselves, in page faults.
class BucketOutput : public arrow_ipc::OutputStream {
 public:
  BucketOutput(protocol::BucketPusher* pusher, const std::string& exchange,
               const std::string& lease, int bucket, size_t chunk_bytes)
      : pusher_(pusher), chunk_bytes_(chunk_bytes), buffer_(chunk_.mutable_data()) {
    chunk_.set_exchange_id(exchange);
    chunk_.set_lease_id(lease);
    chunk_.set_bucket(bucket);
    buffer_->reserve(chunk_bytes_);
  }
  /// Cuts at `chunk_bytes` even inside one write (a batch of long strings), so that no
  /// message outgrows the transport's limit.
  Status Write(const void* data, size_t size) override {
    const char* bytes = static_cast<const char*>(data);
    while (size > 0) {
      size_t n = std::min(size, chunk_bytes_ - buffer_->size());
      buffer_->append(bytes, n);
      bytes += n;
      size -= n;
      if (buffer_->size() >= chunk_bytes_) DUX_RETURN_NOT_OK(Send(false));
    }
    return Status::OK();
  }
  /// Sends what is left as the last chunk.
  Status Finish() { return Send(true); }
  int64_t bytes() const { return bytes_; }

 private:
  Status Send(bool last) {
    bytes_ += static_cast<int64_t>(buffer_->size());
    chunk_.set_last(last);
    Status pushed = pusher_->Push(chunk_);
    buffer_->clear();
    return pushed;
  }

  protocol::BucketPusher* pusher_;
  size_t chunk_bytes_;
  v1::BucketChunk chunk_;
  std::string* buffer_;  // chunk_'s data
  int64_t bytes_ = 0;
};

// A bucket owned by another worker: its rows as IPC on a PushBuckets stream of its own, so
// that every bucket can take rows at once. Finish ends the stream and waits for the owner
// to have stored the bucket; `bytes` then holds the IPC bytes sent.
class RemoteBucketSink : public exec::RowSink {
 public:
  static Result<std::unique_ptr<exec::RowSink>> Open(
      std::shared_ptr<protocol::WorkerClient> peer, const std::string& exchange,
      const std::string& lease, int bucket, size_t chunk_bytes, const exec::RoutedColumns& columns,
      const arrow_ipc::WriteOptions& options, int64_t* bytes) {
    auto sink = std::unique_ptr<RemoteBucketSink>(new RemoteBucketSink(std::move(peer), bytes));
    DUX_ASSIGN_OR_RETURN(sink->pusher_, sink->peer_->PushBuckets());
    sink->out_ =
        std::make_unique<BucketOutput>(sink->pusher_.get(), exchange, lease, bucket, chunk_bytes);
    DUX_ASSIGN_OR_RETURN(sink->ipc_, exec::OpenIpcRowSink(columns, sink->out_.get(), options));
    return std::unique_ptr<exec::RowSink>(std::move(sink));
  }
  Status Append(duckdb_data_chunk chunk) override { return ipc_->Append(chunk); }
  Status Finish() override {
    DUX_RETURN_NOT_OK(ipc_->Finish());
    DUX_RETURN_NOT_OK(out_->Finish());
    *bytes_ = out_->bytes();
    return pusher_->Finish().status();
  }

 private:
  RemoteBucketSink(std::shared_ptr<protocol::WorkerClient> peer, int64_t* bytes)
      : peer_(std::move(peer)), bytes_(bytes) {}
  std::shared_ptr<protocol::WorkerClient> peer_;  // outlives its stream
  int64_t* bytes_;
  std::unique_ptr<protocol::BucketPusher> pusher_;  // outlives the output that pushes to it
  std::unique_ptr<BucketOutput> out_;
  std::unique_ptr<exec::RowSink> ipc_;
};

Status CheckTarget(const v1::ShuffleTarget& t) {
  if (t.exchange_id().empty()) return Status::InvalidArgument("a shuffle needs an exchange id");
  if (t.keys().empty()) return Status::InvalidArgument("a shuffle needs at least one key");
  if (t.key_types_size() != 0 && t.key_types_size() != t.keys_size()) {
    return Status::InvalidArgument(
        fmt::format("a shuffle needs no key types or one per key, got {} for {} keys",
                    t.key_types_size(), t.keys_size()));
  }
  if (t.n_buckets() < 1 || t.owners_size() != t.n_buckets()) {
    return Status::InvalidArgument(
        fmt::format("a shuffle needs one owner per bucket, got {} buckets and {} owners",
                    t.n_buckets(), t.owners_size()));
  }
  return Status::OK();
}

}  // namespace

Result<std::vector<BucketStats>> Shuffle(
    exec::Connection& connection, const std::string& select_sql, const v1::ShuffleTarget& target,
    const std::string& lease, const std::string& self, const arrow_ipc::WriteOptions& options,
    const PeerConnector& peers, const LocalBucketStore& store) {
  DUX_RETURN_NOT_OK(CheckTarget(target));
  std::string keys;
  for (int i = 0; i < target.keys_size(); ++i) {
    std::string key = sql::QuoteIdentifier(target.keys(i));
    if (target.key_types_size() > 0) key = "CAST(" + key + " AS " + target.key_types(i) + ")";
    keys += (keys.empty() ? "" : ", ") + key;
  }
  // Run once, routed as the rows come: DuckDB's hash() is the same on every worker of one
  // version, so equal keys meet in the same bucket whichever worker produced them.
  std::string routed =
      fmt::format("SELECT *, hash({}) AS {} FROM ({}\n)", keys, kHashColumn, select_sql);
  size_t chunk_bytes = std::clamp(kRoutingBufferBytes / static_cast<size_t>(target.n_buckets()),
                                  kMinChunkBytes, protocol::kIpcChunkBytes);
  std::vector<int64_t> bytes(static_cast<size_t>(target.n_buckets()), 0);
  auto open = [&](int b,
                  const exec::RoutedColumns& columns) -> Result<std::unique_ptr<exec::RowSink>> {
    const std::string& owner = target.owners(b);
    if (owner == self) return store(target.exchange_id(), b, columns);
    DUX_ASSIGN_OR_RETURN(std::shared_ptr<protocol::WorkerClient> peer, peers(owner));
    return RemoteBucketSink::Open(std::move(peer), target.exchange_id(), lease, b, chunk_bytes,
                                  columns, options, &bytes[static_cast<size_t>(b)]);
  };
  DUX_ASSIGN_OR_RETURN(std::vector<int64_t> rows,
                       exec::RouteRows(connection, routed, target.n_buckets(), open));
  std::vector<BucketStats> stats;
  stats.reserve(static_cast<size_t>(target.n_buckets()));
  for (int b = 0; b < target.n_buckets(); ++b) {
    stats.push_back({b, rows[static_cast<size_t>(b)], bytes[static_cast<size_t>(b)]});
  }
  return stats;
}

std::string BucketStatsQuery(const std::vector<BucketStats>& stats) {
  // Never empty: a checked target has a bucket at least.
  std::string values;
  for (const auto& s : stats) {
    values +=
        fmt::format("{}({}, {}, {})", values.empty() ? "" : ", ", s.bucket, s.rows, s.ipc_bytes);
  }
  return "SELECT CAST(bucket AS INTEGER) AS bucket, CAST(rows AS BIGINT) AS rows, "
         "CAST(ipc_bytes AS BIGINT) AS ipc_bytes FROM (VALUES " +
         values + ") t(bucket, rows, ipc_bytes)";
}

}  // namespace dux::worker
