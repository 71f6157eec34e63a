#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "dux/status_page/query_json_internal.h"
#include "dux/status_page/query_metrics.h"

namespace dux::status_page {

using nlohmann::json;

namespace {

std::optional<double> Measurement(const v1::QueryEvent& event, const std::string& key) {
  auto it = event.measurements().find(key);
  if (it == event.measurements().end()) return std::nullopt;
  return it->second;
}

std::string Metadata(const v1::QueryEvent& event, const std::string& key) {
  auto it = event.metadata().find(key);
  return it == event.metadata().end() ? std::string() : it->second;
}

double Seconds(const v1::QueryEvent& event) { return static_cast<double>(event.at_us()) / 1e6; }

// A count or a byte total as an integer (events carry doubles), other values as they are.
json Number(double value) {
  if (value == std::floor(value) && std::abs(value) < 9e15) return static_cast<int64_t>(value);
  return value;
}

json OrNull(const std::optional<double>& value) { return value ? Number(*value) : json(nullptr); }

// One attempt of a partition on a worker: a distributed.worker.stop event, placed in time by
// when it was emitted (its end) and its duration.
json PartitionJson(const v1::QueryEvent& stop) {
  const double end = Seconds(stop);
  const double seconds = Measurement(stop, "duration").value_or(0);
  return {{"stage", Metadata(stop, "stage")},
          {"task", Metadata(stop, "task")},
          {"worker", Metadata(stop, "address")},
          {"status", Metadata(stop, "status")},
          {"start_seconds", std::max(0.0, end - seconds)},
          {"seconds", seconds},
          {"bytes", Number(Measurement(stop, "ipc_bytes").value_or(0))},
          {"rows", OrNull(Measurement(stop, "rows"))}};
}

// The figures of a query that its events add up to.
struct Figures {
  json partitions = json::array();
  json stages = json::array();  ///< in the order they first appear
  EventFigures totals;
  std::optional<double> rows;  ///< query.stop's
  int partitions_done = 0;
};

// Widens `s`'s span from its first start to its last end to [start, end].
void Span(json& s, double start, double end) {
  if (s["start_seconds"].is_null() || start < s["start_seconds"].get<double>()) {
    s["start_seconds"] = start;
  }
  if (s["end_seconds"].is_null() || end > s["end_seconds"].get<double>()) {
    s["end_seconds"] = end;
  }
}

// `elapsed`: the query's seconds so far, where a partition still running reaches.
Figures FiguresOf(const QueryRecord& query, double elapsed) {
  Figures f;
  std::map<std::string, size_t> stage_index;
  auto stage = [&](const std::string& name) -> json& {
    auto [it, added] = stage_index.emplace(name, f.stages.size());
    if (added) {
      f.stages.push_back({{"name", name},
                          {"partitions", 0},
                          {"failed", 0},
                          {"start_seconds", nullptr},
                          {"end_seconds", nullptr},
                          {"bytes", 0},
                          {"rows", nullptr}});
    }
    return f.stages[it->second];
  };
  std::set<std::string> stopped;  // stages whose stage.stop gave their figures
  // Attempts started and not yet stopped (partition.start), by stage, task and worker.
  std::map<std::tuple<std::string, std::string, std::string>, const v1::QueryEvent*> open;
  for (const v1::QueryEvent& event : query.events) {
    EventFigures e = status_page::FiguresOf(event);
    f.totals.read_bytes += e.read_bytes;
    f.totals.gathered_bytes += e.gathered_bytes;
    f.totals.exchanged_bytes += e.exchanged_bytes;
    f.totals.broadcast_bytes += e.broadcast_bytes;
    f.totals.retries += e.retries;
    const std::string& name = event.name();
    const std::string stage_name = Metadata(event, "stage");
    const auto attempt =
        std::make_tuple(stage_name, Metadata(event, "task"), Metadata(event, "address"));
    if (name == "query.stop") f.rows = Measurement(event, "rows");
    if (name == "stage.start" && !stage_name.empty()) stage(stage_name);
    if (name == "stage.stop" && !stage_name.empty()) {
      json& s = stage(stage_name);
      const double end = Seconds(event);
      Span(s, std::max(0.0, end - Measurement(event, "duration").value_or(0)), end);
      s["bytes"] = Number(Measurement(event, "bytes").value_or(0));
      s["rows"] = OrNull(Measurement(event, "rows"));
      stopped.insert(stage_name);
    }
    if (name == "partition.start") open[attempt] = &event;
    if (name != "distributed.worker.stop") continue;
    open.erase(attempt);
    json partition = PartitionJson(event);
    json& s = stage(stage_name);
    const bool ok = partition["status"] == "ok";
    f.partitions_done += ok ? 1 : 0;
    s[ok ? "partitions" : "failed"] = s[ok ? "partitions" : "failed"].get<int>() + 1;
    const double start = partition["start_seconds"].get<double>();
    Span(s, start, start + partition["seconds"].get<double>());
    if (stopped.count(stage_name) == 0) {
      s["bytes"] = Number(s["bytes"].get<double>() + partition["bytes"].get<double>());
      if (!partition["rows"].is_null()) {
        s["rows"] = Number((s["rows"].is_null() ? 0.0 : s["rows"].get<double>()) +
                           partition["rows"].get<double>());
      }
    }
    f.partitions.push_back(std::move(partition));
  }
  for (const auto& [key, start] : open) {
    const double at = Seconds(*start);
    f.partitions.push_back({{"stage", std::get<0>(key)},
                            {"task", std::get<1>(key)},
                            {"worker", std::get<2>(key)},
                            {"status", "running"},
                            {"start_seconds", at},
                            {"seconds", std::max(0.0, elapsed - at)},
                            {"bytes", nullptr},
                            {"rows", nullptr}});
  }
  return f;
}

// The query's seconds from its start to its end, or to now while it runs. Without its
// description (lost in transit) a query has no start: no time either.
double Elapsed(const QueryRecord& query, int64_t now_unix_ms) {
  const int64_t end = query.end_unix_ms != 0 ? query.end_unix_ms : now_unix_ms;
  const int64_t start = query.start_unix_ms != 0 ? query.start_unix_ms : end;
  return static_cast<double>(std::max<int64_t>(0, end - start)) / 1e3;
}

json SummaryOf(const QueryRecord& query, const Figures& f, int64_t now_unix_ms) {
  json stages = json::array();
  for (const json& s : f.stages) stages.push_back(s["name"]);
  return {{"id", query.id},
          {"pipeline", query.pipeline},
          {"coordinator", query.coordinator},
          {"status", query.status},
          {"error", query.error},
          {"start_unix_ms", query.start_unix_ms},
          {"end_unix_ms", query.end_unix_ms != 0 ? json(query.end_unix_ms) : json(nullptr)},
          {"seconds", Elapsed(query, now_unix_ms)},
          {"rows", OrNull(f.rows)},
          {"partitions_done", f.partitions_done},
          {"stages", std::move(stages)}};
}

}  // namespace

int64_t UnixMillisNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string JsonText(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json QuerySummaryJson(const QueryRecord& query, int64_t now_unix_ms) {
  return SummaryOf(query, FiguresOf(query, Elapsed(query, now_unix_ms)), now_unix_ms);
}

json QueryDetailJson(const QueryRecord& query, int64_t now_unix_ms) {
  Figures f = FiguresOf(query, Elapsed(query, now_unix_ms));
  json detail = SummaryOf(query, f, now_unix_ms);
  detail["plan"] = query.plan;
  detail["stages"] = std::move(f.stages);
  detail["partitions"] = std::move(f.partitions);
  detail["read_bytes"] = Number(f.totals.read_bytes);
  detail["gathered_bytes"] = Number(f.totals.gathered_bytes);
  detail["exchanged_bytes"] = Number(f.totals.exchanged_bytes);
  detail["broadcast_bytes"] = Number(f.totals.broadcast_bytes);
  detail["retries"] = f.totals.retries;
  detail["dropped_events"] = query.dropped_by_coordinator + query.dropped_here;
  json events = json::array();
  for (const v1::QueryEvent& event : query.events) {
    json measurements = json::object();
    for (const auto& [key, value] : event.measurements()) measurements[key] = value;
    json metadata = json::object();
    for (const auto& [key, value] : event.metadata()) metadata[key] = value;
    events.push_back({{"name", event.name()},
                      {"at_seconds", Seconds(event)},
                      {"measurements", std::move(measurements)},
                      {"metadata", std::move(metadata)}});
  }
  detail["events"] = std::move(events);
  return detail;
}

json WorkersJson(const std::vector<v1::RegisteredWorker>& workers, int64_t now_unix_ms) {
  json list = json::array();
  for (const v1::RegisteredWorker& w : workers) {
    const v1::InfoReply& info = w.info();
    const bool reported = w.has_info() && !info.duckdb_version().empty();
    json running = json::array();
    for (const auto& id : info.running_queries()) running.push_back(id);
    list.push_back({{"address", w.address()},
                    {"dux_version", reported ? json(info.dux_version()) : json(nullptr)},
                    {"duckdb_version", reported ? json(info.duckdb_version()) : json(nullptr)},
                    {"threads", reported ? json(info.threads()) : json(nullptr)},
                    {"memory_limit", reported ? json(info.memory_limit()) : json(nullptr)},
                    {"running_queries", std::move(running)},
                    {"uptime_seconds", reported ? json(info.uptime_seconds()) : json(nullptr)},
                    {"last_heartbeat_unix_ms", w.last_heartbeat_unix_ms()},
                    {"seconds_since_heartbeat", static_cast<double>(std::max<int64_t>(
                                                    0, now_unix_ms - w.last_heartbeat_unix_ms())) /
                                                    1e3}});
  }
  return {{"workers", std::move(list)}};
}

}  // namespace dux::status_page
