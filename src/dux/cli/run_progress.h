// RunProgress: where a distributed run is, folded from its telemetry events into the one
// line `dux run` shows (docs/observability.md, "Progress line").
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "dux/common/telemetry.h"

namespace dux::cli {

/// Reads the events of one run: stage.start / stage.stop (a stage, its kind and partition
/// count), partition.progress (a worker's own DuckDB progress on a partition while it runs),
/// distributed.worker.stop (a partition done, with its rows and bytes), partition.retry,
/// partition.speculate,
/// distributed.broadcast.stop and distributed.shuffle.stop (bytes moved), and, for
/// coordinators that emit no stage events, distributed.fan_out.start (the partitions of the
/// first stage). Not thread-safe: the caller serialises Add and Line.
class RunProgress {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RunProgress(Clock::time_point start) : start_(start) {}

  void Add(const Event& event, Clock::time_point now);

  /// E.g. "dux: exchange (stage 2): 3/4 partitions, 120000 rows, 1.5 MiB, 4s elapsed, ~1s
  /// left"; empty before the first stage. The time left is the current stage's, from its
  /// finished partitions and the running ones' own progress.
  std::string Line(Clock::time_point now) const;
  /// The line's counts alone (no times): a plain-lines display writes when they change.
  std::string Counts() const;

  /// How many stages have every partition done; a display shows the line at once when this
  /// grows, so that each stage's last count (total / total) is seen.
  int stages_complete() const { return stages_complete_; }

 private:
  struct Stage {
    std::string name, kind;
    int64_t total = -1;  ///< -1: not known
    int64_t done = 0;
    bool complete = false;
    Clock::time_point started;
    std::map<std::string, double> running;  ///< task -> its percentage (0-100)
    /// Speculated tasks (partition.speculate), and those of them that completed: the second
    /// attempt of one to complete counts nothing. (Labels of other tasks may repeat.)
    std::set<std::string> speculated, speculated_done;
  };
  /// The stage of that name, made (with `kind`) when new.
  Stage& StageNamed(const std::string& name, const std::string& kind, Clock::time_point now);
  void Done(Stage& stage);

  Clock::time_point start_;
  std::vector<Stage> stages_;  ///< in the order they started
  int current_ = -1;           ///< index into stages_
  int64_t first_stage_partitions_ = -1;
  double rows_ = 0, bytes_ = 0;
  int retries_ = 0;
  int speculated_ = 0;  ///< partition.speculate: second attempts of stragglers
  int stages_complete_ = 0;
};

}  // namespace dux::cli
