#include "dux/cli/registry_status_page.h"

#include <iostream>

#include "dux/status_page/routes.h"

namespace dux::cli {

rpc::RegistryService::ReportHandler RegistryStatusPage::ReportHandler() {
  return [this](const v1::QueryReport& report) { queries_.Apply(report); };
}

Status RegistryStatusPage::Serve(const std::string& http_address, const std::string& token,
                                 rpc::RegistryService* service) {
  if (http_address.empty()) return Status::OK();
  http::ServerOptions options;
  options.listen = http_address;
  options.token = token;
  auto workers = [service] { return service->Workers(); };
  DUX_ASSIGN_OR_RETURN(http_, http::Server::Start(options, status_page::RegistryRoutes(
                                                               &queries_, workers, &metrics_)));
  std::cout << "http " << http_->address() << std::endl;
  return Status::OK();
}

}  // namespace dux::cli
