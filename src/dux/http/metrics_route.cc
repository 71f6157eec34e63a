#include "dux/http/metrics_route.h"

namespace dux::http {

Route MetricsRoute(const MetricsRegistry& registry) {
  return {Method::kGet, "/metrics", [&registry](const Request&) {
            return Response{200, kPrometheusContentType, registry.Render(), {}};
          }};
}

}  // namespace dux::http
