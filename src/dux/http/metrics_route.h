// GET /metrics: a MetricsRegistry rendered for Prometheus.
#pragma once

#include "dux/common/metrics.h"
#include "dux/http/server.h"

namespace dux::http {

/// The route `GET /metrics` answering `registry`'s text exposition (format 0.0.4) with
/// Prometheus' content type. `registry` must outlive the server that serves the route.
Route MetricsRoute(const MetricsRegistry& registry);

}  // namespace dux::http
