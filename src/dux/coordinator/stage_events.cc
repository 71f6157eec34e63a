#include "dux/coordinator/stage_events.h"

#include <utility>

namespace dux::coordinator {

StageEvents::StageEvents(const Telemetry* telemetry, std::string stage, std::string kind,
                         size_t partitions)
    : telemetry_(telemetry), stage_(std::move(stage)), kind_(std::move(kind)) {
  if (telemetry_) {
    telemetry_->Emit({"stage.start",
                      {{"partitions", static_cast<double>(partitions)}},
                      {{"stage", stage_}, {"kind", kind_}}});
  }
}

StageEvents::~StageEvents() {
  if (!stopped_) Emit("failed", {}, {});
}

void StageEvents::Stop(const std::map<std::string, double>& measurements,
                       const std::map<std::string, std::string>& metadata) {
  if (stopped_) return;
  Emit("ok", measurements, metadata);
}

void StageEvents::Emit(const char* status, const std::map<std::string, double>& measurements,
                       const std::map<std::string, std::string>& metadata) {
  stopped_ = true;
  if (!telemetry_) return;
  Event event{"stage.stop", measurements, metadata};
  event.measurements["duration"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  event.metadata["stage"] = stage_;
  event.metadata["kind"] = kind_;
  event.metadata["status"] = status;
  telemetry_->Emit(event);
}

}  // namespace dux::coordinator
