// The events around a stage of a distributed run (docs/observability.md, "Events of a
// distributed run"): stage.start when it begins, stage.stop when it ends.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>

#include "dux/common/telemetry.h"

namespace dux::coordinator {

/// The kinds a stage.start names: partitions reading a source (their rows gathered or sent
/// into an exchange), the tasks that read an exchange's buckets, a broadcast side computed
/// and registered, the coordinator's finishing SQL, and partitions that write the result.
inline constexpr const char* kScanStage = "scan";
inline constexpr const char* kExchangeStage = "exchange";
inline constexpr const char* kBroadcastStage = "broadcast";
inline constexpr const char* kFinalStage = "final";
inline constexpr const char* kWriteStage = "write";

/// Emits stage.start (measurement `partitions`; metadata `stage`, `kind`) when made and
/// stage.stop (measurement `duration` in seconds, and what Stop adds; metadata `stage`,
/// `kind`, `status` "ok" or "failed") at Stop, or when destroyed without Stop (a failed
/// stage). Nothing without telemetry. Stage names are unique within a run.
class StageEvents {
 public:
  StageEvents(const Telemetry* telemetry, std::string stage, std::string kind, size_t partitions);
  ~StageEvents();
  StageEvents(const StageEvents&) = delete;
  StageEvents& operator=(const StageEvents&) = delete;

  /// Ends the stage (once; later calls do nothing).
  void Stop(const std::map<std::string, double>& measurements = {},
            const std::map<std::string, std::string>& metadata = {});
  const std::string& stage() const { return stage_; }

 private:
  void Emit(const char* status, const std::map<std::string, double>& measurements,
            const std::map<std::string, std::string>& metadata);
  const Telemetry* telemetry_;
  std::string stage_, kind_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  bool stopped_ = false;
};

}  // namespace dux::coordinator
