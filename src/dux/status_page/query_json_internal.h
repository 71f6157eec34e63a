// Private to status_page/: the JSON of the API (/api/queries, /api/queries/ID, /api/workers),
// derived from the queries' events. docs/observability.md lists the fields.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dux/status_page/query_log.h"
#include "dux/v1/worker.pb.h"

namespace dux::status_page {

/// A query in a list: id, pipeline, status, error, times, rows, partitions done, stages.
nlohmann::json QuerySummaryJson(const QueryRecord& query, int64_t now_unix_ms);
/// The summary, plus the plan, the stages, each partition's attempt (worker, start, duration,
/// bytes, rows when reported), the byte totals and the events.
nlohmann::json QueryDetailJson(const QueryRecord& query, int64_t now_unix_ms);
/// The live workers: address, versions, threads, memory limit, running queries, uptime,
/// last heartbeat.
nlohmann::json WorkersJson(const std::vector<v1::RegisteredWorker>& workers, int64_t now_unix_ms);

int64_t UnixMillisNow();

/// `value` as compact JSON text; bytes that are not UTF-8 become U+FFFD (never an exception).
std::string JsonText(const nlohmann::json& value);

}  // namespace dux::status_page
