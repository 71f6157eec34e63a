// What a registry keeps of the queries coordinators report to it, and its HTTP endpoints
// (the status page, /api/, /metrics) when --http is given: shared by `dux registry` and
// `dux pool`, which is a registry too (docs/observability.md).
#pragma once

#include <memory>
#include <string>

#include "dux/common/metrics.h"
#include "dux/common/status.h"
#include "dux/http/server.h"
#include "dux/rpc/registry.h"
#include "dux/status_page/query_log.h"
#include "dux/status_page/query_metrics.h"

namespace dux::cli {

class RegistryStatusPage {
 public:
  RegistryStatusPage() = default;
  RegistryStatusPage(const RegistryStatusPage&) = delete;
  RegistryStatusPage& operator=(const RegistryStatusPage&) = delete;

  /// What the RegistryService does with each report; valid while this object lives.
  rpc::RegistryService::ReportHandler ReportHandler();
  /// Serves the page of `service` on `http_address` (nothing when empty) and prints
  /// "http HOST:PORT" on stdout. `service` must outlive the server: call Stop first.
  Status Serve(const std::string& http_address, const std::string& token,
               rpc::RegistryService* service);
  void Stop() { http_.reset(); }

 private:
  MetricsRegistry metrics_;
  status_page::QueryMetrics query_metrics_{&metrics_};
  status_page::QueryLog queries_{&query_metrics_};
  std::unique_ptr<http::Server> http_;
};

}  // namespace dux::cli
