#include "dux/cli/registry_report.h"

#include <unistd.h>

#include <chrono>

#include "dux/common/unique_id.h"
#include "dux/pg/conninfo.h"

namespace dux::cli {

namespace {

// How long the end of a run may wait for the registry (it answers in a millisecond when up;
// one that is down refuses at once).
constexpr auto kFinishWait = std::chrono::seconds(1);

std::string CoordinatorName() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host) + " " + std::to_string(getpid());
}

}  // namespace

std::unique_ptr<RegistryReport> RegistryReport::Start(const Cluster& cluster, Session& session,
                                                      const std::string& text,
                                                      const pipeline::Pipeline& pipeline) {
  if (cluster.registry().empty()) return nullptr;
  v1::QueryReport description;
  description.set_query_id(UniqueId('q'));
  description.set_coordinator(CoordinatorName());
  description.set_pipeline(pg::RedactText(text));
  Result<std::string> plan = session.Explain(pipeline);
  if (plan.ok()) description.set_plan(pg::RedactText(*plan));
  description.set_start_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
  std::unique_ptr<rpc::QueryReporter> reporter =
      rpc::QueryReporter::Start(cluster.registry(), cluster.client_options(), description);
  if (!reporter) return nullptr;
  return std::unique_ptr<RegistryReport>(new RegistryReport(session, std::move(reporter)));
}

RegistryReport::RegistryReport(Session& session, std::unique_ptr<rpc::QueryReporter> reporter)
    : session_(session), reporter_(std::move(reporter)) {
  rpc::QueryReporter* to = reporter_.get();
  subscription_ = session_.telemetry().Subscribe([to](const Event& event) {
    Event redacted = event;
    for (auto& [key, value] : redacted.metadata) value = pg::RedactText(value);
    to->Add(redacted);
  });
}

RegistryReport::~RegistryReport() { session_.telemetry().Unsubscribe(subscription_); }

void RegistryReport::Finish(const Status& status) {
  reporter_->Finish(Status(status.code(), pg::RedactText(status.message())), kFinishWait);
}

}  // namespace dux::cli
