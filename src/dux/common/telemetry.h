// Telemetry (docs/architecture.md section 6): named events with measurements and metadata,
// delivered synchronously to every subscriber. Subscribers run on the emitting thread (fan-out runs
// several) and must be quick and thread-safe.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace dux {

struct Event {
  std::string name;  ///< e.g. "distributed.worker.stop"
  std::map<std::string, double> measurements;
  std::map<std::string, std::string> metadata;
};

/// {"event":..., "measurements":{...}, "metadata":{...}} on one line, no newline.
std::string ToJsonLine(const Event& event);

class Telemetry {
 public:
  using Handler = std::function<void(const Event&)>;
  /// Returns an id for Unsubscribe.
  int Subscribe(Handler handler);
  void Unsubscribe(int id);
  void Emit(const Event& event) const;

 private:
  mutable std::mutex mutex_;
  int next_id_ = 0;
  std::vector<std::pair<int, Handler>> handlers_;
};

}  // namespace dux
