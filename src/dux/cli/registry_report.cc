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

// A report's texts are cut to this (a plan lists every file of a large glob); gRPC takes
// messages of 4 MiB.
constexpr size_t kMaxText = size_t{64} * 1024;

// `text` with every byte that is not part of a valid UTF-8 sequence replaced by '?': protobuf
// refuses a string field that is not UTF-8, and with it the whole report.
std::string Utf8(std::string text) {
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    size_t length = byte < 0x80           ? 1
                    : (byte >> 5) == 0x6  ? 2
                    : (byte >> 4) == 0xE  ? 3
                    : (byte >> 3) == 0x1E ? 4
                                          : 0;
    for (size_t k = 1; k < length; ++k) {
      if (i + k >= text.size() || (static_cast<unsigned char>(text[i + k]) >> 6) != 0x2) {
        length = 0;
      }
    }
    if (length == 0) {
      text[i++] = '?';
    } else {
      i += length;
    }
  }
  return text;
}

// At most kMaxText bytes of `text`, cut between two characters, as valid UTF-8.
std::string Bounded(std::string text) {
  if (text.size() <= kMaxText) return Utf8(std::move(text));
  size_t keep = kMaxText;
  while (keep > 0 && (static_cast<unsigned char>(text[keep]) >> 6) == 0x2) --keep;
  const size_t cut = text.size() - keep;
  text.resize(keep);
  return Utf8(std::move(text)) + "\n... (" + std::to_string(cut) + " more bytes)\n";
}

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
  description.set_pipeline(Bounded(pg::RedactText(text)));
  Result<std::string> plan = session.Explain(pipeline);
  if (plan.ok()) description.set_plan(Bounded(pg::RedactText(*plan)));
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
    for (auto& [key, value] : redacted.metadata) value = Bounded(pg::RedactText(value));
    to->Add(redacted);
  });
}

RegistryReport::~RegistryReport() { session_.telemetry().Unsubscribe(subscription_); }

void RegistryReport::Finish(const Status& status) {
  reporter_->Finish(Status(status.code(), Bounded(pg::RedactText(status.message()))), kFinishWait);
}

}  // namespace dux::cli
