#include "dux/status_page/query_log.h"

#include <algorithm>

#include "dux/status_page/query_json_internal.h"

namespace dux::status_page {

QueryLog::QueryLog(QueryMetrics* metrics, size_t keep_finished, std::chrono::seconds silence)
    : metrics_(metrics), keep_finished_(keep_finished), silence_(silence) {}

void QueryLog::Apply(const v1::QueryReport& report) {
  std::lock_guard lock(mu_);
  const auto now = Clock::now();
  ExpireLocked(now);
  auto it = running_.find(report.query_id());
  if (it == running_.end()) {
    for (const QueryRecord& done : finished_) {
      if (done.id == report.query_id()) return;  // late: the query ended (or was lost)
    }
    it = running_.emplace(report.query_id(), QueryRecord{}).first;
    it->second.id = report.query_id();
  }
  QueryRecord& query = it->second;
  query.last_report = now;
  // The description comes in every report until one was acknowledged: the first wins.
  if (query.start_unix_ms == 0 && report.start_unix_ms() != 0) {
    query.pipeline = report.pipeline();
    query.plan = report.plan();
    query.coordinator = report.coordinator();
    query.start_unix_ms = report.start_unix_ms();
  }
  for (const v1::QueryEvent& event : report.events()) {
    metrics_->CountEvent(event);
    if (query.events.size() < kMaxEvents) {
      query.events.push_back(event);
    } else {
      ++query.dropped_here;
    }
  }
  query.dropped_by_coordinator = std::max(query.dropped_by_coordinator, report.dropped_events());
  if (!report.finished()) return;
  query.end_unix_ms = report.end_unix_ms();
  query.status = report.status().empty() ? "ok" : report.status();
  query.error = report.error();
  EndLocked(query.id);
}

void QueryLog::EndLocked(const std::string& id) const {
  auto it = running_.find(id);
  QueryRecord query = std::move(it->second);
  running_.erase(it);
  const int64_t start = query.start_unix_ms != 0 ? query.start_unix_ms : query.end_unix_ms;
  metrics_->CountEnd(query.status,
                     static_cast<double>(std::max<int64_t>(0, query.end_unix_ms - start)) / 1e3);
  finished_.push_front(std::move(query));
  while (finished_.size() > keep_finished_) finished_.pop_back();
}

void QueryLog::ExpireLocked(Clock::time_point now) const {
  std::vector<std::string> lost;
  for (const auto& [id, query] : running_) {
    if (now - query.last_report > silence_) lost.push_back(id);
  }
  for (const std::string& id : lost) {
    QueryRecord& query = running_[id];
    query.status = "lost";
    query.error = "the coordinator stopped reporting this query";
    query.end_unix_ms = UnixMillisNow();
    EndLocked(id);
  }
}

size_t QueryLog::running() const {
  std::lock_guard lock(mu_);
  ExpireLocked(Clock::now());
  return running_.size();
}

std::string QueryLog::ListJson() const {
  std::lock_guard lock(mu_);
  ExpireLocked(Clock::now());
  const int64_t now = UnixMillisNow();
  nlohmann::json running = nlohmann::json::array();
  std::vector<const QueryRecord*> newest_first;
  for (const auto& [id, query] : running_) newest_first.push_back(&query);
  std::sort(newest_first.begin(), newest_first.end(),
            [](const auto* a, const auto* b) { return a->start_unix_ms > b->start_unix_ms; });
  for (const QueryRecord* query : newest_first) running.push_back(QuerySummaryJson(*query, now));
  nlohmann::json finished = nlohmann::json::array();
  for (const QueryRecord& query : finished_) finished.push_back(QuerySummaryJson(query, now));
  return JsonText(
      nlohmann::json{{"running", std::move(running)}, {"finished", std::move(finished)}});
}

std::optional<std::string> QueryLog::DetailJson(const std::string& id) const {
  std::lock_guard lock(mu_);
  ExpireLocked(Clock::now());
  const int64_t now = UnixMillisNow();
  if (auto it = running_.find(id); it != running_.end()) {
    return JsonText(QueryDetailJson(it->second, now));
  }
  for (const QueryRecord& query : finished_) {
    if (query.id == id) return JsonText(QueryDetailJson(query, now));
  }
  return std::nullopt;
}

}  // namespace dux::status_page
