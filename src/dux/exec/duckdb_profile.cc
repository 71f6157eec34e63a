#include "dux/exec/duckdb_profile.h"

#include <duckdb.h>
#include <fmt/format.h>

#include <cstdlib>

#include "dux/arrow_ipc/streams.h"
#include "dux/exec/arrow_export.h"

namespace dux::exec {

namespace {

using ValueHandle = Handle<duckdb_value, duckdb_destroy_value>;

std::string Text(duckdb_value value) {
  if (!value) return "";
  char* text = duckdb_get_varchar(value);
  if (!text) return "";
  std::string out(text);
  duckdb_free(text);
  return out;
}

// Profiling nodes belong to the connection's last query: they are not freed one by one.
DuckDbProfileNode ReadNode(duckdb_profiling_info info) {
  DuckDbProfileNode node;
  ValueHandle metrics(duckdb_profiling_info_get_metrics(info));
  if (metrics) {
    idx_t n = duckdb_get_map_size(metrics.get());
    for (idx_t i = 0; i < n; ++i) {
      ValueHandle key(duckdb_get_map_key(metrics.get(), i));
      ValueHandle value(duckdb_get_map_value(metrics.get(), i));
      node.metrics[Text(key.get())] = Text(value.get());
    }
  }
  idx_t children = duckdb_profiling_info_get_child_count(info);
  for (idx_t i = 0; i < children; ++i) {
    node.children.push_back(ReadNode(duckdb_profiling_info_get_child(info, i)));
  }
  return node;
}

// Discards what it is given.
class NullOutput : public arrow_ipc::OutputStream {
 public:
  Status Write(const void*, size_t) override { return Status::OK(); }
};

std::string Metric(const DuckDbProfileNode& node, const char* key) {
  auto it = node.metrics.find(key);
  return it == node.metrics.end() ? "" : it->second;
}

// DuckDB's extra information (file names, expressions, estimates) on one line.
std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  constexpr size_t kMax = 160;
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  return text;
}

// DuckDB's seconds ("2.81e-07") as "0.000000 s".
std::string Seconds(const std::string& text) {
  char* end = nullptr;
  double seconds = std::strtod(text.c_str(), &end);
  if (text.empty() || !end || *end != '\0') return text + " s";
  return fmt::format("{:.6f} s", seconds);
}

std::string Trimmed(const std::string& text) {
  size_t first = text.find_first_not_of(' ');
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(' ') - first + 1);
}

void FormatOperators(const DuckDbProfileNode& node, int depth, std::string* out) {
  std::string name = Trimmed(Metric(node, "OPERATOR_NAME"));
  if (name.empty()) name = Trimmed(Metric(node, "OPERATOR_TYPE"));
  std::string line = fmt::format("{:{}}{}", "", depth * 2, name);
  std::string rows = Metric(node, "OPERATOR_CARDINALITY");
  if (!rows.empty()) line += "  rows " + rows;
  std::string timing = Metric(node, "OPERATOR_TIMING");
  if (!timing.empty()) line += "  time " + Seconds(timing);
  std::string extra = OneLine(Metric(node, "EXTRA_INFO"));
  if (!extra.empty() && extra != "{}") line += "  " + extra;
  *out += line + "\n";
  for (const auto& child : node.children) FormatOperators(child, depth + 1, out);
}

}  // namespace

Result<ProfiledQuery> ProfileQuery(Connection& connection, const std::string& select_sql) {
  DUX_RETURN_NOT_OK(connection.Execute("PRAGMA enable_profiling = 'no_output'").status());
  struct Off {
    Connection& c;
    ~Off() { (void)c.Execute("PRAGMA disable_profiling"); }
  } off{connection};
  DUX_RETURN_NOT_OK(connection.Execute("SET profiling_mode = 'standard'").status());
  NullOutput discard;
  ProfiledQuery out;
  DUX_ASSIGN_OR_RETURN(out.rows, WriteQueryIpc(connection, select_sql, &discard, {}));
  duckdb_profiling_info root = duckdb_get_profiling_info(connection.get());
  if (root) out.profile = ReadNode(root);
  return out;
}

std::string FormatDuckDbProfile(const DuckDbProfileNode& root) {
  std::string out;
  std::string latency = Metric(root, "LATENCY");
  std::string rows = Metric(root, "ROWS_RETURNED");
  out += "query";
  if (!latency.empty()) out += "  latency " + Seconds(latency);
  if (!rows.empty()) out += "  rows " + rows;
  out += "\n";
  for (const auto& child : root.children) FormatOperators(child, 1, &out);
  return out;
}

}  // namespace dux::exec
