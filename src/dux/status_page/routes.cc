#include "dux/status_page/routes.h"

#include <memory>
#include <string>

#include "dux/http/metrics_route.h"
#include "dux/status_page/page_internal.h"
#include "dux/status_page/query_json_internal.h"

namespace dux::status_page {

namespace {

constexpr const char* kJson = "application/json; charset=utf-8";

http::Response Json(std::string body, int status = 200) {
  http::Response response;
  response.status = status;
  response.content_type = kJson;
  response.body = std::move(body);
  // The page polls: a cached answer would freeze it.
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

}  // namespace

std::vector<http::Route> RegistryRoutes(const QueryLog* log, const WorkerSource& workers,
                                        MetricsRegistry* metrics) {
  Gauge& live = metrics->AddGauge("dux_workers_live", "Workers joined and heartbeating").Get();
  Gauge& running =
      metrics->AddGauge("dux_queries_running", "Reported queries that have not ended").Get();
  metrics->OnRender([log, workers, &live, &running] {
    live.Set(static_cast<double>(workers().size()));
    running.Set(static_cast<double>(log->running()));
  });
  std::vector<http::Route> routes;
  routes.push_back({http::Method::kGet, "/", [](const http::Request&) {
                      http::Response page;
                      page.content_type = "text/html; charset=utf-8";
                      page.body = std::string(StatusPageHtml());
                      return page;
                    }});
  routes.push_back({http::Method::kGet, "/api/workers", [workers](const http::Request&) {
                      return Json(JsonText(WorkersJson(workers(), UnixMillisNow())));
                    }});
  routes.push_back({http::Method::kGet, "/api/queries",
                    [log](const http::Request&) { return Json(log->ListJson()); }});
  routes.push_back(
      {http::Method::kGet, "/api/queries/([^/]+)", [log](const http::Request& request) {
         std::optional<std::string> detail = log->DetailJson(request.path_params.at(0));
         if (!detail) {
           return Json(JsonText(nlohmann::json{
                           {"error", "no query \"" + request.path_params.at(0) +
                                         "\" among the running and the last finished"}}),
                       404);
         }
         return Json(*std::move(detail));
       }});
  routes.push_back(http::MetricsRoute(*metrics));
  return routes;
}

}  // namespace dux::status_page
