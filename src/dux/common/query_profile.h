// QueryProfile: a distributed run seen through its telemetry events (docs/observability.md,
// "explain --analyze"): its stages in the order they started, each with its partitions and
// workers, and its exchanges with their bucket sizes and skew.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dux/common/telemetry.h"

namespace dux {

/// One attempt of one task of a stage on one worker. Times are seconds since the run's first
/// event.
struct PartitionProfile {
  std::string task;  ///< "partition 2", "buckets of worker 0", ...
  std::string address;
  int attempt = 0;  ///< 0, 1 for a retry, 2 for a speculative attempt
  double start = 0, end = 0;
  bool ended = false;
  std::string status;  ///< "ok" or the failure's code name
  /// Rows the fragment produced (returned, routed to buckets, or written).
  std::optional<int64_t> rows_out;
  /// Rows its DuckDB reported processing (absent when it ended before its first report).
  std::optional<int64_t> rows_in;
  /// Arrow IPC bytes it sent: to the coordinator, and for a shuffle to other workers.
  int64_t bytes = 0;
  std::optional<int64_t> peak_memory_bytes, spill_bytes;
  std::optional<double> percentage;  ///< its last progress report
  /// Adaptive partial aggregation: "kept" or "skipped" by the worker, with the partition's
  /// rows per group it estimated; empty for other tasks.
  std::string partial_aggregation;
  std::optional<double> rows_per_group;
};

/// A stage's tasks on one worker, summed (peaks: the largest).
struct WorkerProfile {
  std::string address;
  int partitions = 0;  ///< attempts, retries included
  double busy_seconds = 0;
  std::optional<int64_t> rows_in, rows_out;
  int64_t bytes = 0;
  std::optional<int64_t> peak_memory_bytes, spill_bytes;
};

/// The rows and bytes of a hash exchange by bucket, with its skew: the largest bucket's rows
/// over the median bucket's (the upper median, as the runner's skew check takes it); absent
/// when the median bucket is empty.
struct BucketSizes {
  std::vector<int64_t> rows, bytes;  ///< by bucket; `bytes` empty when unknown
  int64_t largest = 0, median = 0;
  std::optional<double> skew;
};

/// One side's rows pushed into an exchange: the stage `from` produced them, the stage
/// `into` reads them.
struct ExchangeProfile {
  std::string from, into;
  int64_t rows = 0, bytes = 0;
  BucketSizes buckets;
};

/// A bucket the runner found skewed (distributed.shuffle.skew_detected).
struct SkewedBucket {
  int64_t bucket = 0, rows = 0, median_rows = 0;
  int64_t split_into = 1;  ///< workers its rows were spread over (1: not split)
};

struct StageProfile {
  std::string name;  ///< unique in the run: "scan", "scan right", "exchange", "broadcast 1", ...
  std::string kind;  ///< scan, exchange, broadcast, final, write
  int64_t partitions = 0;  ///< as announced by stage.start
  double start = 0, end = 0;
  bool ended = false;
  std::string status;  ///< "ok", "failed", or "" while running
  std::optional<int64_t> rows_in, rows_out;
  /// Bytes the stage moved: to the coordinator (the last stage), between workers (a stage
  /// producing into an exchange), or to every worker (a broadcast).
  int64_t bytes = 0;
  int retries = 0;
  /// Speculative attempts of stragglers started, and how many of them completed first.
  int speculated = 0, speculation_won = 0;
  /// Its successful tasks that kept and that skipped their partial aggregate (adaptive
  /// partial aggregation).
  int partial_aggregation_kept = 0, partial_aggregation_skipped = 0;
  std::optional<int64_t> peak_memory_bytes, spill_bytes;
  std::vector<PartitionProfile> tasks;  ///< in start order
  std::vector<WorkerProfile> workers;   ///< by address
  /// For a stage that reads an exchange: its keys and its buckets, both sides together.
  std::string keys;
  std::optional<BucketSizes> buckets;
  std::vector<SkewedBucket> skewed;
};

struct RunProfile {
  double seconds = 0;  ///< from the first event to the last
  std::optional<int64_t> rows;
  std::vector<StageProfile> stages;  ///< in start order
  std::vector<ExchangeProfile> exchanges;
  /// Distinct worker addresses that ran a task.
  std::vector<std::string> addresses;
};

/// Collects the events of runs into a RunProfile. Thread-safe: events arrive from the
/// gather's threads.
class QueryProfile {
 public:
  /// Records `event` as received now.
  void Record(const Event& event);
  /// Records `event` as received `seconds` after the first one (for tests).
  void RecordAt(const Event& event, double seconds);
  /// The profile so far, aggregated (stages' rows, workers, peaks).
  RunProfile Profile() const;

 private:
  StageProfile* FindStage(const std::string& name);
  PartitionProfile* FindRunning(StageProfile* stage, const std::string& task,
                                const std::string& address);
  mutable std::mutex mu_;
  std::optional<std::chrono::steady_clock::time_point> first_;
  RunProfile run_;
  double last_ = 0;
  /// An exchange's buckets and skewed buckets, reported before the stage that reads them
  /// starts, by that stage's name.
  struct ExchangeRead {
    std::string keys;
    std::optional<BucketSizes> buckets;
    std::vector<SkewedBucket> skewed;
  };
  std::map<std::string, ExchangeRead> reads_;
};

/// Subscribes a QueryProfile to a Telemetry for its own lifetime.
class ProfileSubscription {
 public:
  ProfileSubscription(Telemetry* telemetry, QueryProfile* profile);
  ~ProfileSubscription();
  ProfileSubscription(const ProfileSubscription&) = delete;
  ProfileSubscription& operator=(const ProfileSubscription&) = delete;

 private:
  Telemetry* telemetry_;
  int id_;
};

/// The rows of `bucket_rows` (and the bytes of `bucket_bytes`, may be empty), comma-separated
/// as the events carry them, with their largest, median and skew.
BucketSizes ParseBucketSizes(const std::string& bucket_rows, const std::string& bucket_bytes);

}  // namespace dux
