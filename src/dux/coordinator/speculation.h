// Speculative execution of stragglers (docs/cluster.md, "Stragglers"): the rule that decides
// when a running partition has taken so much longer than its finished peers of the same
// stage that another attempt of it should start on an idle worker.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

namespace dux::coordinator {

/// When a partition counts as a straggler. Part of ClusterOptions (`dux run --speculation`).
struct SpeculationPolicy {
  /// Off by default: a speculative attempt spends a second worker's time and reads the
  /// partition's input again, and a hung worker then ends in the result instead of in the
  /// `--timeout` error an operator may rely on (docs/cluster.md, "Stragglers").
  bool enabled = false;
  /// A running attempt is a straggler once it has run longer than this many times the median
  /// duration of the stage's finished partitions...
  double multiplier = 3.0;
  /// ...and longer than this many seconds (short stages never speculate)...
  double min_seconds = 1.0;
  /// ...and at least this fraction of the stage's partitions has finished (the median means
  /// something).
  double min_finished_fraction = 0.5;
};

/// The running and finished partitions of one stage, by task index, with the times they
/// started and finished; decides which running ones are stragglers. Time is passed in, never
/// read, so that tests drive it with a fake clock. Not thread-safe: its owner locks.
class StragglerWatch {
 public:
  using Clock = std::chrono::steady_clock;

  StragglerWatch(SpeculationPolicy policy, size_t n_tasks);

  /// Task `task` started an attempt at `at` (a retry restarts its clock).
  void Started(size_t task, Clock::time_point at);
  /// Task `task` completed at `at`: its duration joins the finished ones.
  void Finished(size_t task, Clock::time_point at);

  /// The median duration of the finished tasks, in seconds; none when none finished.
  std::optional<double> MedianSeconds() const;

  /// Whether the running task `task` is a straggler at `now` under the policy (false when it
  /// is not running, or the policy is off).
  bool IsStraggler(size_t task, Clock::time_point now) const;

  /// How long the running task `task` has run at `now`, in seconds (0 when not running).
  double ElapsedSeconds(size_t task, Clock::time_point now) const;

 private:
  SpeculationPolicy policy_;
  size_t n_tasks_;
  std::vector<std::optional<Clock::time_point>> started_;  // by task, while running
  std::vector<double> finished_;                           // durations, seconds
};

}  // namespace dux::coordinator
