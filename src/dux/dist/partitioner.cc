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
    // DuckDB's own error for a glob that matches nothing, from the binder.
    return Status::NotFound("from_parquet: no file matches \"" + parquet->path + "\"" +
                            source.loc.Suffix());
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
