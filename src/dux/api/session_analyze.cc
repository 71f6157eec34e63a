// Session::ExplainAnalyze: a pipeline run with its telemetry collected into a profile.
#include <chrono>

#include "dux/api/session.h"

namespace dux {

Result<AnalyzedRun> Session::ExplainAnalyze(const pipeline::Pipeline& pipeline) {
  AnalyzedRun run;
  QueryProfile profile;
  auto start = std::chrono::steady_clock::now();
  {
    ProfileSubscription subscription(&telemetry_, &profile);
    if (pipeline.sink()) {
      DUX_ASSIGN_OR_RETURN(exec::WriteReport report, Write(pipeline));
      run.rows = report.rows;
    } else {
      // Gathered first (not live), so that DuckDB's profile covers the whole finishing query.
      auto profiled = [&](const std::string& select, const pipeline::Schema&,
                          bool) -> Result<int64_t> {
        DUX_ASSIGN_OR_RETURN(exec::ProfiledQuery query, exec::ProfileQuery(connection(), select));
        run.duckdb_profile = std::move(query.profile);
        return query.rows;
      };
      DUX_ASSIGN_OR_RETURN(run.rows, Stream(pipeline, profiled, /*live=*/false));
    }
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.profile = profile.Profile();
  run.distributed = !run.profile.stages.empty();
  return run;
}

}  // namespace dux
