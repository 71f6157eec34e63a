#include "dux/worker/shuffle.h"

#include <fmt/format.h>

#include <map>

#include "dux/exec/arrow_bridge.h"
#include "dux/ipc/streams.h"
#include "dux/sql/quote.h"

namespace dux::worker {

namespace {

constexpr const char* kStageTable = "__dux_shuffle_stage";
constexpr const char* kBucketColumn = "__dux_bucket";

// Pushes one bucket's rows as one IPC stream cut into BucketChunks of about
// dist::kIpcChunkBytes, the last marked so.
class BucketOutput : public ipc::OutputStream {
 public:
  BucketOutput(dist::BucketPusher* pusher, const std::string& exchange, int bucket)
      : pusher_(pusher) {
    chunk_.set_exchange_id(exchange);
    chunk_.set_bucket(bucket);
  }
  Status Write(const void* data, size_t size) override {
    buffer_.append(static_cast<const char*>(data), size);
    return buffer_.size() >= dist::kIpcChunkBytes ? Send(false) : Status::OK();
  }
  /// Sends what is left as the last chunk.
  Status Finish() { return Send(true); }
  int64_t bytes() const { return bytes_; }

 private:
  Status Send(bool last) {
    bytes_ += static_cast<int64_t>(buffer_.size());
    chunk_.set_data(std::move(buffer_));
    buffer_.clear();
    chunk_.set_last(last);
    return pusher_->Push(chunk_);
  }

  dist::BucketPusher* pusher_;
  v1::BucketChunk chunk_;
  std::string buffer_;
  int64_t bytes_ = 0;
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

Result<std::vector<BucketStats>> Shuffle(exec::Connection& connection,
                                         const std::string& select_sql,
                                         const v1::ShuffleTarget& target, const std::string& self,
                                         const ipc::WriteOptions& options,
                                         const PeerConnector& peers,
                                         const LocalBucketStore& store) {
  DUX_RETURN_NOT_OK(CheckTarget(target));
  std::string keys;
  for (int i = 0; i < target.keys_size(); ++i) {
    std::string key = sql::QuoteIdentifier(target.keys(i));
    if (target.key_types_size() > 0) key = "CAST(" + key + " AS " + target.key_types(i) + ")";
    keys += (keys.empty() ? "" : ", ") + key;
  }
  // Run once, routed once: DuckDB's hash() is the same on every worker of one version, so
  // equal keys meet in the same bucket whichever worker produced them.
  DUX_RETURN_NOT_OK(
      connection
          .Execute(fmt::format("CREATE OR REPLACE TEMPORARY TABLE {} AS SELECT *, "
                               "CAST(hash({}) % {} AS INTEGER) AS {} FROM ({}\n)",
                               kStageTable, keys, target.n_buckets(), kBucketColumn, select_sql))
          .status());
  auto bucket_rows = [&](int b) {
    return fmt::format("SELECT * EXCLUDE ({}) FROM temp.{} WHERE {} = {}", kBucketColumn,
                       kStageTable, kBucketColumn, b);
  };
  std::map<std::string, std::vector<int>> by_owner;
  for (int b = 0; b < target.n_buckets(); ++b) by_owner[target.owners(b)].push_back(b);
  std::vector<BucketStats> stats(static_cast<size_t>(target.n_buckets()));
  for (const auto& [owner, buckets] : by_owner) {
    if (owner == self) {
      for (int b : buckets) {
        DUX_ASSIGN_OR_RETURN(int64_t rows,
                             store(connection, target.exchange_id(), b, bucket_rows(b)));
        stats[static_cast<size_t>(b)] = {b, rows, 0};
      }
      continue;
    }
    DUX_ASSIGN_OR_RETURN(std::shared_ptr<dist::WorkerClient> peer, peers(owner));
    DUX_ASSIGN_OR_RETURN(std::unique_ptr<dist::BucketPusher> pusher, peer->PushBuckets());
    for (int b : buckets) {
      BucketOutput out(pusher.get(), target.exchange_id(), b);
      DUX_ASSIGN_OR_RETURN(int64_t rows,
                           exec::WriteQueryIpc(connection, bucket_rows(b), &out, options));
      DUX_RETURN_NOT_OK(out.Finish());
      stats[static_cast<size_t>(b)] = {b, rows, out.bytes()};
    }
    DUX_RETURN_NOT_OK(pusher->Finish().status());
  }
  connection.DropTemporaryTable(kStageTable);
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
