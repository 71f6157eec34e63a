#include "dux/common/telemetry.h"

#include <nlohmann/json.hpp>

namespace dux {

std::string ToJsonLine(const Event& event) {
  nlohmann::json j;
  j["event"] = event.name;
  j["measurements"] = event.measurements;
  j["metadata"] = event.metadata;
  // Worker messages are UTF-8 (DuckDB's), but a path could hold any byte: never throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int Telemetry::Subscribe(Handler handler) {
  std::lock_guard lock(mutex_);
  handlers_.emplace_back(next_id_, std::move(handler));
  return next_id_++;
}

void Telemetry::Unsubscribe(int id) {
  std::lock_guard lock(mutex_);
  std::erase_if(handlers_, [id](const auto& h) { return h.first == id; });
}

void Telemetry::Emit(const Event& event) const {
  std::lock_guard lock(mutex_);
  for (const auto& [id, handler] : handlers_) handler(event);
}

}  // namespace dux
