// explain --analyze's renderings of an AnalyzedRun: text for people, JSON for tools.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iterator>
#include <nlohmann/json.hpp>

#include "dux/api/session.h"

namespace dux {

namespace {

using nlohmann::json;

// 1536 -> "1.5 KiB"; below 1 KiB in bytes.
std::string Bytes(int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, units[unit]);
}

std::string Rows(const std::optional<int64_t>& rows) {
  return rows ? std::to_string(*rows) : std::string("-");
}

std::string OptionalBytes(const std::optional<int64_t>& bytes) {
  return bytes ? Bytes(*bytes) : std::string("-");
}

std::string Skew(const std::optional<double>& skew) {
  return skew ? fmt::format("{:.2f}", *skew) : std::string("- (the median bucket is empty)");
}

// Bucket sizes, largest and median, and the skew on one line.
std::string BucketLine(const BucketSizes& b) {
  return fmt::format("{} buckets, rows by bucket [{}], largest {}, median {}, skew {}",
                     b.rows.size(), fmt::join(b.rows, ", "), b.largest, b.median, Skew(b.skew));
}

void FormatStage(const StageProfile& s, const std::vector<ExchangeProfile>& exchanges,
                 std::string* out) {
  *out += fmt::format("stage {} ({}): ", s.name, s.kind);
  if (s.kind != "final") {
    *out += fmt::format("{} {}, ", s.partitions, s.partitions == 1 ? "partition" : "partitions");
  }
  *out += fmt::format(
      "{:.3f} s (at {:.3f}-{:.3f} s), rows in {}, rows out {}, moved {}, retries {}{}, peak "
      "memory {}, spill {}{}\n",
      s.end - s.start, s.start, s.end, Rows(s.rows_in), Rows(s.rows_out), Bytes(s.bytes), s.retries,
      s.speculated == 0 ? std::string()
                        : fmt::format(", speculated {} (won {})", s.speculated, s.speculation_won),
      OptionalBytes(s.peak_memory_bytes), OptionalBytes(s.spill_bytes),
      s.status == "ok" || s.status.empty() ? "" : ", " + s.status);
  if (s.buckets) {
    *out += fmt::format("  reads the exchange on {}: {}\n", s.keys.empty() ? "-" : s.keys,
                        BucketLine(*s.buckets));
  }
  if (s.partial_aggregation_kept + s.partial_aggregation_skipped > 0) {
    std::vector<std::string> tasks;
    for (const auto& t : s.tasks) {
      if (t.partial_aggregation.empty()) continue;
      tasks.push_back(fmt::format("{} {}{}", t.task, t.partial_aggregation,
                                  t.rows_per_group
                                      ? fmt::format(" at {:.2f} rows per group", *t.rows_per_group)
                                      : std::string()));
    }
    *out += fmt::format("  partial aggregation: skipped by {}, kept by {} ({})\n",
                        s.partial_aggregation_skipped, s.partial_aggregation_kept,
                        fmt::join(tasks, ", "));
  }
  for (const auto& k : s.skewed) {
    *out +=
        fmt::format("  skewed bucket {}: {} rows, median {}, {}\n", k.bucket, k.rows, k.median_rows,
                    k.split_into > 1 ? fmt::format("split over {} workers", k.split_into)
                                     : std::string("not split"));
  }
  for (const auto& e : exchanges) {
    if (e.from != s.name) continue;
    *out += fmt::format("  exchange into stage {}: {} rows, moved {} between workers, {}\n", e.into,
                        e.rows, Bytes(e.bytes), BucketLine(e.buckets));
  }
  for (const auto& w : s.workers) {
    *out += fmt::format(
        "  worker {}: {} {}, busy {:.3f} s, rows in {}, rows out {}, moved {}, peak memory {}, "
        "spill {}\n",
        w.address, w.partitions, w.partitions == 1 ? "task" : "tasks", w.busy_seconds,
        Rows(w.rows_in), Rows(w.rows_out), Bytes(w.bytes), OptionalBytes(w.peak_memory_bytes),
        OptionalBytes(w.spill_bytes));
  }
}

json Optional(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }
json Optional(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json BucketsJson(const BucketSizes& b) {
  return {{"rows", b.rows},
          {"bytes", b.bytes},
          {"largest_rows", b.largest},
          {"median_rows", b.median},
          {"skew", Optional(b.skew)}};
}

json DuckDbProfileJson(const exec::DuckDbProfileNode& node) {
  json children = json::array();
  for (const auto& child : node.children) children.push_back(DuckDbProfileJson(child));
  return {{"metrics", node.metrics}, {"children", children}};
}

// The figures stages, workers and tasks share, with `fields` before them.
json Figures(json fields, const std::optional<int64_t>& rows_in,
             const std::optional<int64_t>& rows_out, int64_t bytes,
             const std::optional<int64_t>& peak_memory_bytes,
             const std::optional<int64_t>& spill_bytes) {
  fields["rows_in"] = Optional(rows_in);
  fields["rows_out"] = Optional(rows_out);
  fields["bytes"] = bytes;
  fields["peak_memory_bytes"] = Optional(peak_memory_bytes);
  fields["spill_bytes"] = Optional(spill_bytes);
  return fields;
}

json StageJson(const StageProfile& s) {
  json tasks = json::array();
  for (const auto& t : s.tasks) {
    tasks.push_back(
        Figures({{"task", t.task},
                 {"address", t.address},
                 {"attempt", t.attempt},
                 {"start", t.start},
                 {"end", t.end},
                 {"seconds", t.end - t.start},
                 {"status", t.status},
                 {"partial_aggregation",
                  t.partial_aggregation.empty() ? json(nullptr) : json(t.partial_aggregation)},
                 {"rows_per_group", Optional(t.rows_per_group)}},
                t.rows_in, t.rows_out, t.bytes, t.peak_memory_bytes, t.spill_bytes));
  }
  json workers = json::array();
  for (const auto& w : s.workers) {
    workers.push_back(
        Figures({{"address", w.address}, {"tasks", w.partitions}, {"busy_seconds", w.busy_seconds}},
                w.rows_in, w.rows_out, w.bytes, w.peak_memory_bytes, w.spill_bytes));
  }
  json skewed = json::array();
  for (const auto& k : s.skewed) {
    skewed.push_back({{"bucket", k.bucket},
                      {"rows", k.rows},
                      {"median_rows", k.median_rows},
                      {"split_into", k.split_into}});
  }
  json stage = Figures({{"name", s.name},
                        {"kind", s.kind},
                        {"partitions", s.partitions},
                        {"start", s.start},
                        {"end", s.end},
                        {"seconds", s.end - s.start},
                        {"status", s.status},
                        {"retries", s.retries},
                        {"speculated", s.speculated},
                        {"speculation_won", s.speculation_won},
                        {"partial_aggregation_kept", s.partial_aggregation_kept},
                        {"partial_aggregation_skipped", s.partial_aggregation_skipped},
                        {"keys", s.keys}},
                       s.rows_in, s.rows_out, s.bytes, s.peak_memory_bytes, s.spill_bytes);
  stage["buckets"] = s.buckets ? BucketsJson(*s.buckets) : json(nullptr);
  stage["skewed_buckets"] = skewed;
  stage["workers"] = workers;
  stage["tasks"] = tasks;
  return stage;
}

}  // namespace

std::string FormatAnalyzedRun(const AnalyzedRun& run) {
  std::string out = fmt::format(
      "explain --analyze: {} rows in {:.3f} s, {}\n", run.rows, run.seconds,
      run.distributed ? fmt::format("distributed on {} {}", run.profile.addresses.size(),
                                    run.profile.addresses.size() == 1 ? "worker" : "workers")
                      : std::string("on this process"));
  for (const auto& stage : run.profile.stages) FormatStage(stage, run.profile.exchanges, &out);
  if (run.duckdb_profile) {
    out += run.distributed ? "DuckDB's profile of the coordinator's finishing query:\n"
                           : "DuckDB's profile of the query:\n";
    out += exec::FormatDuckDbProfile(*run.duckdb_profile);
  }
  return out;
}

std::string AnalyzedRunJson(const AnalyzedRun& run) {
  json stages = json::array();
  for (const auto& s : run.profile.stages) stages.push_back(StageJson(s));
  json exchanges = json::array();
  for (const auto& e : run.profile.exchanges) {
    exchanges.push_back({{"from", e.from},
                         {"into", e.into},
                         {"rows", e.rows},
                         {"bytes", e.bytes},
                         {"buckets", BucketsJson(e.buckets)}});
  }
  json out = {{"distributed", run.distributed},
              {"rows", run.rows},
              {"seconds", run.seconds},
              {"workers", run.profile.addresses},
              {"stages", stages},
              {"exchanges", exchanges},
              {"duckdb_profile",
               run.duckdb_profile ? DuckDbProfileJson(*run.duckdb_profile) : json(nullptr)}};
  // Paths and DuckDB's texts could hold any byte: never throw.
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace dux
