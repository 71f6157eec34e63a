// When a session may run a distributed pipeline on the plan it made for an earlier run
// (docs/serve.md, "Plan cache"), and the key it keeps that plan under.
#pragma once

#include <optional>
#include <string>

#include "dux/coordinator/planner.h"
#include "dux/pipeline/pipeline.h"
#include "dux/sql/binder.h"

namespace dux::coordinator {

/// The key of `script`'s plan on `cluster`: the script as sent to a worker, the workers'
/// addresses, the options PlanScript reads, and the identity (path, size, modification time)
/// of every file that each parquet source's glob lists now (listed by DuckDB through
/// `binder`, as the planner lists them). A plan is a function of these alone when every
/// source, nested ones included, is local parquet without hive partitioning and the script
/// has no attachments, S3 settings or sink; nullopt for any other script. Hive partitioning
/// is left out because its filters prune files by expressions evaluated at planning, which
/// may not give the same answer again (now(), random()).
std::optional<std::string> PlanCacheKey(const pipeline::Script& script,
                                        const ClusterOptions& cluster, sql::Binder* binder);

}  // namespace dux::coordinator
