// Private to api/: what the files implementing Session share (session.cc runs pipelines,
// session_write.cc writes them, session_explain.cc explains them).
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "dux/api/session.h"
#include "dux/common/lru_cache.h"
#include "dux/coordinator/planner.h"
#include "dux/coordinator/stage_events.h"
#include "dux/engine/local_engine.h"
#include "dux/sql/binder.h"

namespace dux {

/// The table a plan's gathered rows go to on the coordinator.
inline constexpr const char* kGatheredTable = "__dux_gathered";

/// A pipeline bound here, and the plan that runs it on the cluster (none: `local` runs here).
struct Session::Prepared {
  sql::CompiledQuery local;
  std::optional<coordinator::Plan> plan;
};

/// What a session keeps of the distributed pipelines it ran, to run them again without
/// compiling and planning (docs/serve.md, "Plan cache"): at most 64, the least recently used
/// dropped first.
class Session::PlanCache : public LruCache<Prepared> {
 public:
  PlanCache() : LruCache(64) {}
};

/// One distributed call's planning: the local compile and PlanOnCluster bind and ask through
/// a shared cache (sql::BindCache), while other connections, a thread each, prefetch what the
/// planning will read about each parquet source (coordinator::PlanningPrefetches): some 10 ms
/// of footer reads per query, which then overlap the binds and each other. The prefetch
/// ends, and those threads with it, before anything runs on the workers.
class Session::PlanningPrefetch {
 public:
  PlanningPrefetch(Session* session, const pipeline::Pipeline& pipeline);
  ~PlanningPrefetch();
  sql::Binder* binder() { return &binder_; }

 private:
  Session* session_;
  sql::BindCache cache_;
  sql::CachingBinder binder_;
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<exec::Connection>> ahead_;
  std::vector<std::thread> threads_;
};

/// Ends the session's final stage, if one is open, when the call that runs the finishing
/// query returns: stage.stop with the result's `rows` once set (the call succeeded), else as
/// failed.
struct Session::FinalStageEnd {
  explicit FinalStageEnd(Session* s) : session(s) {}
  ~FinalStageEnd() {
    if (!session->final_stage_) return;
    if (rows >= 0) session->final_stage_->Stop({{"rows", static_cast<double>(rows)}});
    session->final_stage_.reset();
  }
  FinalStageEnd(const FinalStageEnd&) = delete;
  FinalStageEnd& operator=(const FinalStageEnd&) = delete;
  Session* session;
  int64_t rows = -1;
};

/// Runs one distributed query between the events query.start and query.stop (with the rows
/// `rows_of` counts in its result), or query.exception.
template <typename Run, typename RowsOf>
auto Traced(const Telemetry& telemetry, Run run, RowsOf rows_of) -> decltype(run()) {
  telemetry.Emit({"query.start", {}, {{"mode", "distributed"}}});
  auto result = run();
  if (!result.ok()) {
    telemetry.Emit({"query.exception", {}, {{"error", result.status().message()}}});
    return result;
  }
  telemetry.Emit({"query.stop", {{"rows", static_cast<double>(rows_of(*result))}}, {}});
  return result;
}

}  // namespace dux
