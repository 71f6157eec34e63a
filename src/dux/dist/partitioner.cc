#include "dux/dist/partitioner.h"

#include <algorithm>
#include <filesystem>

#include "dux/sql/quote.h"

namespace dux::dist {

namespace {

struct SizedFile {
  std::string path;
  int64_t bytes;
};

Result<std::vector<SizedFile>> ExpandGlob(sql::Binder* binder, const std::string& pattern) {
  DUX_ASSIGN_OR_RETURN(
      sql::TextRows rows,
      binder->QueryText("SELECT file FROM glob(" + sql::QuoteString(pattern) + ") ORDER BY file"));
  std::vector<SizedFile> files;
  for (const auto& row : rows) {
    std::error_code ec;
    std::filesystem::path path = std::filesystem::absolute(*row[0], ec);
    if (ec) return Status::IOError("cannot resolve \"" + *row[0] + "\": " + ec.message());
    auto bytes = std::filesystem::file_size(path, ec);
    if (ec) return Status::IOError("cannot read \"" + path.string() + "\": " + ec.message());
    files.push_back({path.lexically_normal().string(), static_cast<int64_t>(bytes)});
  }
  return files;
}

// Whether every file has the same columns (names and parquet types, in any order). A local
// read takes the first file's schema and casts the others to it; a worker reading a subset
// would take its own first file's, so files that differ cannot be split this way.
Result<bool> SameSchemas(sql::Binder* binder, const std::vector<SizedFile>& files) {
  std::string list;
  for (const auto& f : files) list += (list.empty() ? "" : ", ") + sql::QuoteString(f.path);
  DUX_ASSIGN_OR_RETURN(
      sql::TextRows rows,
      binder->QueryText(
          "SELECT CAST(count(DISTINCT signature) AS VARCHAR) FROM (SELECT "
          "list(concat_ws('|', name, type, repetition_type, converted_type, scale, "
          "precision, logical_type) ORDER BY name) AS signature FROM parquet_schema([" +
          list + "]) GROUP BY file_name)"));
  return rows[0][0].value_or("") == "1";
}

}  // namespace

Result<Partitioning> PartitionSource(sql::Binder* binder, const pipeline::Source& source,
                                     size_t max_partitions) {
  Partitioning out;
  auto* parquet = std::get_if<pipeline::ParquetSource>(&source.body);
  if (!parquet) {
    out.unsplit_reason = std::string(source.Name()) + " is read once, by one worker";
  } else if (parquet->hive_partitioning || parquet->union_by_name) {
    // Both infer the schema from every file (hive key types, the union of columns); a
    // worker reading a subset could infer another one. The planner issue splits these.
    out.unsplit_reason = "hive_partitioning and union_by_name infer the schema from all files";
  }
  if (!out.unsplit_reason.empty() || max_partitions <= 1) {
    out.partitions.push_back({});
    if (out.unsplit_reason.empty()) out.unsplit_reason = "one worker";
    return out;
  }
  std::vector<SizedFile> files;
  if (!parquet->files.empty()) {
    for (const auto& f : parquet->files) {
      DUX_ASSIGN_OR_RETURN(auto expanded, ExpandGlob(binder, f));
      files.insert(files.end(), expanded.begin(), expanded.end());
    }
  } else {
    DUX_ASSIGN_OR_RETURN(files, ExpandGlob(binder, parquet->path));
  }
  if (files.empty()) {
    // A directory: DuckDB reads the files under it; the glob function lists none.
    out.unsplit_reason = "the path names a directory, read whole as DuckDB reads it";
    out.partitions.push_back({});
    return out;
  }
  DUX_ASSIGN_OR_RETURN(bool same, SameSchemas(binder, files));
  if (!same) {
    out.unsplit_reason = "the files' schemas differ (a local read casts them to the first file's)";
    Partition all;
    for (const SizedFile& f : files) {  // in glob order, so the first file stays first
      all.files.push_back(f.path);
      all.bytes += f.bytes;
    }
    out.partitions.push_back(std::move(all));
    return out;
  }
  std::stable_sort(files.begin(), files.end(),
                   [](const SizedFile& a, const SizedFile& b) { return a.bytes > b.bytes; });
  out.partitions.resize(std::min(max_partitions, files.size()));
  for (const SizedFile& f : files) {
    auto lightest =
        std::min_element(out.partitions.begin(), out.partitions.end(),
                         [](const Partition& a, const Partition& b) { return a.bytes < b.bytes; });
    lightest->files.push_back(f.path);
    lightest->bytes += f.bytes;
  }
  for (Partition& p : out.partitions) std::sort(p.files.begin(), p.files.end());
  return out;
}

}  // namespace dux::dist
