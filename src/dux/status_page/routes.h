// The registry's HTTP port (`dux registry --http`, docs/observability.md): the status page at
// "/", its JSON API under "/api/", and the Prometheus metrics at "/metrics".
#pragma once

#include <functional>
#include <vector>

#include "dux/common/metrics.h"
#include "dux/http/server.h"
#include "dux/status_page/query_log.h"
#include "dux/v1/worker.pb.h"

namespace dux::status_page {

/// The live workers, as the registry knows them now. Thread-safe.
using WorkerSource = std::function<std::vector<v1::RegisteredWorker>()>;

/// The routes for http::Server. Registers in `metrics` the gauges read when it renders
/// (dux_workers_live, dux_queries_running). `log`, `metrics` and what `workers` reads must
/// outlive the server.
std::vector<http::Route> RegistryRoutes(const QueryLog* log, const WorkerSource& workers,
                                        MetricsRegistry* metrics);

}  // namespace dux::status_page
