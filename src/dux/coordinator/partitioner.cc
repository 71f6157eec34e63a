#include "dux/coordinator/partitioner.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>

#include "dux/exec/output_target.h"
#include "dux/sql/compiler.h"
#include "dux/sql/expression.h"
#include "dux/sql/quote.h"

namespace dux::coordinator {

namespace {

using HiveKeys = std::map<std::string, std::string>;  // key -> value as written in the path

struct SourceFile {
  std::string path;      ///< as the glob gives it (what a local read parses hive keys from)
  std::string absolute;  ///< what the workers read
  int64_t bytes = 0;
};

Result<std::vector<SourceFile>> ExpandGlob(sql::Binder* binder, const std::string& pattern) {
  const std::string quoted = sql::QuoteString(pattern);
  DUX_ASSIGN_OR_RETURN(std::vector<std::string> globbed, GlobFiles(binder, pattern));
  std::vector<SourceFile> files;
  // A URL (s3://bucket/key) is read by the workers as it is written; the local file system can
  // neither resolve nor size it.
  if (exec::IsUrl(pattern)) {
    if (globbed.empty()) return files;
    // Sizes through DuckDB's file system too: read_blob reads no content for its size alone,
    // and dux's S3 file system answers the size from the glob's listing (docs/s3.md, "File
    // system"): no request per object.
    DUX_ASSIGN_OR_RETURN(
        sql::TextRows sized,
        binder->QueryText("SELECT filename, CAST(size AS VARCHAR) FROM read_blob(" + quoted +
                          ") ORDER BY filename"));
    for (const auto& row : sized) {
      files.push_back({*row[0], *row[0], std::stoll(*row[1])});
    }
    return files;
  }
  for (const auto& file : globbed) {
    std::error_code ec;
    std::filesystem::path path = std::filesystem::absolute(file, ec);
    if (ec) return Status::IOError("cannot resolve \"" + file + "\": " + ec.message());
    auto bytes = std::filesystem::file_size(path, ec);
    if (ec) return Status::IOError("cannot read \"" + path.string() + "\": " + ec.message());
    files.push_back({file, path.lexically_normal().string(), static_cast<int64_t>(bytes)});
  }
  return files;
}

std::string FileList(const std::vector<SourceFile>& files) {
  std::vector<std::string> paths;
  paths.reserve(files.size());
  for (const auto& f : files) paths.push_back(f.absolute);
  return sql::StringList(paths);
}

// Whether the files (absolute paths) have the same columns: names, parquet types and nesting,
// in the same order (the file's root element aside, whose name depends on the writer).
Result<bool> SameSchemas(sql::Binder* binder, const std::vector<std::string>& files) {
  if (files.size() < 2) return true;
  // parquet_schema lists each file's elements in schema order, file after file. The rows are
  // compared here rather than in SQL: a window and a list aggregate over them cost DuckDB
  // some 13 ms more than the read itself, on every distributed query of a directory.
  DUX_ASSIGN_OR_RETURN(
      sql::TextRows rows,
      binder->QueryText("SELECT file_name, concat_ws('|', name, type, repetition_type, "
                        "converted_type, scale, precision, logical_type, num_children) FROM "
                        "parquet_schema(" +
                        sql::StringList(files) + ")"));
  std::vector<std::string> signatures;  // one per file, its root element left out
  std::optional<std::string> file;
  for (const auto& row : rows) {
    if (row[0] != file) {
      file = row[0];
      signatures.emplace_back();
      continue;
    }
    signatures.back() += row[1].value_or("") + '\n';
  }
  for (const auto& signature : signatures) {
    if (signature != signatures.front()) return false;
  }
  return true;
}

// The key=value directory names of `path`, as DuckDB 1.4's HivePartitioning::Parse finds
// them: every segment before a separator that holds exactly one '=' with a key before it;
// nothing after a '?' or a newline in a segment; the first of two equal keys wins.
HiveKeys ParseHiveKeys(const std::string& path) {
  size_t start = 0, equals = 0;
  bool candidate = true;
  HiveKeys keys;
  for (size_t c = 0; c < path.size(); ++c) {
    if (path[c] == '?' || path[c] == '\n') candidate = false;
    if (path[c] == '\\' || path[c] == '/') {
      if (candidate && equals > start) {
        keys.emplace(path.substr(start, equals - start), path.substr(equals + 1, c - equals - 1));
      }
      start = c + 1;
      candidate = true;
    } else if (path[c] == '=') {
      if (equals > start) candidate = false;
      equals = c;
    }
  }
  return keys;
}

bool IsHiveKey(const std::vector<std::pair<std::string, std::string>>& keys,
               const std::string& name) {
  for (const auto& [key, type] : keys) {
    if (pipeline::SameColumnName(key, name)) return true;
  }
  return false;
}

// Whether an expression gives each row a value from that row alone.
bool RowWise(sql::ExpressionAnalyzer& analyzer, const pipeline::Expr& expr) {
  auto info = analyzer.Analyze(expr.sql);
  return info.ok() && !info->has_window && info->aggregates.empty();
}

// The conjuncts of the filters right after the source that can prune files: each names only
// hive keys and is simple (sql::Conjunct). The walk stops at the first verb that could change
// a key's values or the rows a later filter sees (a window sees every row, so pruning would
// change it); verbs that only drop rows or columns, or add other columns row by row, let it
// go on.
Result<std::vector<std::string>> PruningPredicates(
    sql::Binder* binder, const std::vector<pipeline::Op>& ops,
    const std::vector<std::pair<std::string, std::string>>& keys) {
  sql::ExpressionAnalyzer analyzer(binder);
  std::vector<std::string> predicates;
  for (const pipeline::Op& op : ops) {
    if (auto* f = std::get_if<pipeline::FilterOp>(&op.body)) {
      if (!RowWise(analyzer, f->predicate)) break;
      auto conjuncts = analyzer.Conjuncts(f->predicate.sql);
      if (!conjuncts.ok()) break;
      for (const sql::Conjunct& c : *conjuncts) {
        bool on_keys = c.simple && !c.columns.empty();
        for (const auto& column : c.columns) on_keys = on_keys && IsHiveKey(keys, column);
        if (on_keys) predicates.push_back(c.sql);
      }
      continue;
    }
    if (auto* m = std::get_if<pipeline::MutateOp>(&op.body)) {
      bool keeps_keys = true;
      for (const auto& c : m->columns) {
        keeps_keys = keeps_keys && !IsHiveKey(keys, c.name) && RowWise(analyzer, c.expr);
      }
      if (keeps_keys) continue;
      break;
    }
    if (std::holds_alternative<pipeline::SelectOp>(op.body) ||
        std::holds_alternative<pipeline::DiscardOp>(op.body) ||
        std::holds_alternative<pipeline::DropNilOp>(op.body)) {
      continue;
    }
    break;
  }
  return predicates;
}

// The indexes of the files that some predicate is not true for, judged by DuckDB on the files'
// key values typed as a read of them types them (DuckDB 1.4's HivePartitioning::GetValue):
// "NULL" in any case is NULL; a VARCHAR key takes the URL-decoded text; for other types an
// empty value is NULL and the rest is URL-decoded and cast. A value that does not cast makes
// its file unsure, and unsure files are kept. A predicate DuckDB cannot evaluate on these
// values prunes nothing.
Result<std::set<size_t>> PrunedFiles(sql::Binder* binder, const std::vector<HiveKeys>& values,
                                     const std::vector<std::pair<std::string, std::string>>& keys,
                                     const std::vector<std::string>& predicates) {
  std::set<size_t> pruned;
  if (predicates.empty() || values.empty()) return pruned;
  for (const auto& [key, type] : keys) {
    // The key columns share a scope with the helper columns below.
    if (key.rfind("__dux_", 0) == 0 || !sql::CheckTypeName(type).ok()) return pruned;
  }
  std::string rows;
  for (size_t i = 0; i < values.size(); ++i) {
    rows += fmt::format("{}({}", i ? ", " : "", i);
    for (const auto& [key, type] : keys) rows += ", " + sql::QuoteString(values[i].at(key));
    rows += ")";
  }
  std::string raw_names = "__dux_i", typed = "__dux_i", unsure = "false";
  for (size_t k = 0; k < keys.size(); ++k) {
    const auto& [key, type] = keys[k];
    std::string raw = fmt::format("__dux_r{}", k);
    raw_names += ", " + raw;
    std::string is_null = "lower(" + raw + ") = 'null'";
    std::string cast = "TRY_CAST(url_decode(" + raw + ") AS " + type + ")";
    if (type == "VARCHAR") {
      typed += ", CASE WHEN " + is_null + " THEN NULL ELSE url_decode(" + raw + ") END";
    } else {
      is_null += " OR " + raw + " = ''";
      typed += ", CASE WHEN " + is_null + " THEN NULL ELSE " + cast + " END";
      unsure += " OR (NOT (" + is_null + ") AND " + cast + " IS NULL)";
    }
    typed += " AS " + sql::QuoteIdentifier(key);
  }
  std::string files = "SELECT " + typed + ", " + unsure + " AS __dux_unsure FROM (VALUES " + rows +
                      ") AS __dux_files(" + raw_names + ")";
  for (const auto& predicate : predicates) {
    auto result = binder->QueryText("SELECT CAST(__dux_i AS VARCHAR) FROM (" + files +
                                    ") WHERE NOT __dux_unsure AND CASE WHEN " +
                                    sql::Parenthesize(predicate) + " THEN false ELSE true END");
    if (!result.ok()) continue;  // e.g. a cast in the predicate that fails on some value
    for (const auto& row : *result) pruned.insert(std::stoull(*row[0]));
  }
  return pruned;
}

struct RowGroup {
  int64_t id = 0;
  int64_t rows = 0;
  int64_t bytes = 0;  ///< compressed
};

// Each file's row groups that hold rows, in order, from the parquet footers.
Result<std::map<std::string, std::vector<RowGroup>>> RowGroups(
    sql::Binder* binder, const std::vector<SourceFile>& files) {
  std::map<std::string, std::vector<RowGroup>> out;
  if (files.empty()) return out;
  // Only a file of several row groups can be split. parquet_file_metadata (a row per file)
  // answers that in a fraction of the time parquet_metadata (a row per column chunk) takes,
  // some 3 ms even for one small file: a small join side is such a file.
  DUX_ASSIGN_OR_RETURN(sql::TextRows several,
                       binder->QueryText("SELECT file_name FROM parquet_file_metadata(" +
                                         FileList(files) + ") WHERE num_row_groups > 1"));
  if (several.empty()) return out;
  std::set<std::string> names;
  for (const auto& row : several) names.insert(row[0].value_or(""));
  std::vector<SourceFile> splittable;
  for (const auto& f : files) {
    if (names.count(f.absolute)) splittable.push_back(f);
  }
  DUX_ASSIGN_OR_RETURN(
      sql::TextRows rows,
      binder->QueryText("SELECT file_name, CAST(row_group_id AS VARCHAR), "
                        "CAST(any_value(row_group_num_rows) AS VARCHAR), "
                        "CAST(coalesce(sum(total_compressed_size), 0) AS VARCHAR) FROM "
                        "parquet_metadata(" +
                        FileList(splittable) +
                        ") GROUP BY file_name, row_group_id ORDER BY "
                        "file_name, row_group_id"));
  for (const auto& row : rows) {
    if (!row[0] || !row[1] || !row[2] || !row[3]) continue;
    RowGroup group{std::stoll(*row[1]), std::stoll(*row[2]), std::stoll(*row[3])};
    // A group without rows holds nothing to read (and would make an empty range).
    if (group.rows > 0) out[*row[0]].push_back(group);
  }
  return out;
}

// One piece of work for the bin packing: a whole file, or a run of row groups of a file.
struct Unit {
  size_t file;                            ///< index into the files
  size_t first_group = 0, end_group = 0;  ///< [first, end) positions; empty: the whole file
  int64_t bytes;
};

// Row groups are packed in runs of adjacent ones of about this fraction of a partition's
// share (at least one group): few enough reads per file and partition (each range is a read
// of its own), small enough to balance.
constexpr int64_t kRunsPerShare = 4;

}  // namespace

Result<std::vector<std::string>> GlobFiles(sql::Binder* binder, const std::string& pattern) {
  DUX_ASSIGN_OR_RETURN(
      sql::TextRows rows,
      binder->QueryText("SELECT file FROM glob(" + sql::QuoteString(pattern) + ") ORDER BY file"));
  std::vector<std::string> files;
  files.reserve(rows.size());
  for (const auto& row : rows) files.push_back(row[0].value_or(""));
  return files;
}

Result<Partitioning> PartitionSource(sql::Binder* binder, const pipeline::Pipeline& pipeline,
                                     size_t max_partitions) {
  const pipeline::Source& source = pipeline.source();
  Partitioning out;
  auto whole = [&](std::string reason) -> Result<Partitioning> {
    out = Partitioning{};
    out.partitions = {Partition{}};
    out.unsplit_reason = std::move(reason);
    return std::move(out);
  };
  auto* parquet = std::get_if<pipeline::ParquetSource>(&source.body);
  if (!parquet) return whole(std::string(source.Name()) + " is read once, by one worker");
  if (parquet->union_by_name) {
    // The columns are the union over all files, with types widened over all of them; a
    // worker reading a subset would see another union. Pruning would change it too.
    return whole("union_by_name takes its columns from all files");
  }
  if (!parquet->row_ranges.empty()) return whole("the source already names its row ranges");
  // The columns of a local read of the whole source, bound once when first needed.
  std::optional<pipeline::Schema> schema;
  auto read_schema = [&]() -> Result<const pipeline::Schema*> {
    if (!schema) {
      sql::Compiler compiler(binder);
      DUX_ASSIGN_OR_RETURN(sql::CompiledQuery read, compiler.Compile(pipeline::Pipeline(source)));
      schema = std::move(read.schema);
    }
    return &*schema;
  };
  std::vector<SourceFile> files;
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
    return whole("the path names a directory, read whole as DuckDB reads it");
  }

  // Hive keys: the same in every file, and the same in the absolute paths the workers read
  // as in the paths a local read parses; typed as the coordinator's read of all files types
  // them (hive_types_autocast looks at every file).
  std::vector<HiveKeys> key_values;
  if (parquet->hive_partitioning) {
    for (const SourceFile& f : files) {
      key_values.push_back(ParseHiveKeys(f.path));
      if (ParseHiveKeys(f.absolute) != key_values.back()) {
        return whole("the absolute path of " + f.absolute +
                     " holds key=value directories that the glob's path does not");
      }
      if (key_values.back().size() != key_values.front().size() ||
          !std::equal(key_values.back().begin(), key_values.back().end(),
                      key_values.front().begin(),
                      [](const auto& a, const auto& b) { return a.first == b.first; })) {
        return whole("the files do not all have the same hive keys");
      }
    }
    DUX_ASSIGN_OR_RETURN(const pipeline::Schema* read, read_schema());
    for (const auto& column : read->columns) {
      if (key_values.front().count(column.name)) {
        out.hive_types.emplace_back(column.name, column.type);
      }
    }
    if (out.hive_types.size() != key_values.front().size()) {
      return whole("the hive keys are not all columns of the read");
    }
  }

  std::set<size_t> pruned;
  if (!out.hive_types.empty()) {
    DUX_ASSIGN_OR_RETURN(out.pruning.predicates,
                         PruningPredicates(binder, pipeline.ops(), out.hive_types));
    DUX_ASSIGN_OR_RETURN(pruned,
                         PrunedFiles(binder, key_values, out.hive_types, out.pruning.predicates));
    out.pruning.total_files = files.size();
    for (size_t i : pruned) out.pruning.files.push_back(files[i].absolute);
    if (pruned.size() == files.size()) {
      out.pruning.kept_anyway = files[0].absolute;
      pruned.erase(0);
    }
  }
  std::vector<SourceFile> kept;
  for (size_t i = 0; i < files.size(); ++i) {
    if (!pruned.count(i)) kept.push_back(files[i]);
  }
  auto one_partition = [&](const std::vector<SourceFile>& read, std::string reason) {
    Partition all;
    for (const SourceFile& f : read) {  // in glob order, so the first file stays first
      all.files.push_back(f.absolute);
      all.bytes += f.bytes;
    }
    out.partitions = {std::move(all)};
    out.unsplit_reason = std::move(reason);
    return std::move(out);
  };
  if (max_partitions <= 1 && pruned.empty()) return whole("one worker");
  // A local read takes the first file's columns and reads every other file into them by
  // name; a worker reading a part takes its part's first file's and reads the rest of the
  // part the same way. So a part whose first file has the first file's schema reads as the
  // local read does, whatever its other files hold; only those first files are compared
  // (parquet_schema of 16 files cost a join's planning 8 ms, of 2 or 3 a fraction of it).
  auto first_files_agree = [&](const std::vector<std::string>& part_firsts) -> Result<bool> {
    std::vector<std::string> compared{files[0].absolute};
    for (const std::string& first : part_firsts) {
      if (std::find(compared.begin(), compared.end(), first) == compared.end()) {
        compared.push_back(first);
      }
    }
    return SameSchemas(binder, compared);
  };
  auto read_whole_with_first_file = [&]() {
    // The first file, pruned or not, keeps deciding the columns (the filters drop its rows).
    if (kept[0].path != files[0].path) kept.insert(kept.begin(), files[0]);
    out.row_group_counts.clear();
    return one_partition(kept,
                         "the files' schemas differ (a local read reads them all into the first "
                         "file's columns)");
  };
  if (max_partitions <= 1) {
    DUX_ASSIGN_OR_RETURN(bool agree, first_files_agree({kept[0].absolute}));
    return agree ? one_partition(kept, "one worker") : read_whole_with_first_file();
  }

  // A file larger than a partition's share is split by row groups, unless file_row_number
  // names a column of the files (the row range filter would then read that column).
  int64_t total = 0;
  for (const SourceFile& f : kept) total += f.bytes;
  const int64_t share = total / static_cast<int64_t>(max_partitions);
  std::vector<SourceFile> large;
  for (const SourceFile& f : kept) {
    if (f.bytes > share) large.push_back(f);
  }
  std::map<std::string, std::vector<RowGroup>> groups;
  if (!large.empty()) {
    DUX_ASSIGN_OR_RETURN(const pipeline::Schema* read, read_schema());
    if (!read->Find("file_row_number")) {
      DUX_ASSIGN_OR_RETURN(groups, RowGroups(binder, large));
    }
  }
  std::vector<Unit> units;
  const int64_t run_bytes = std::max<int64_t>(1, share / kRunsPerShare);
  for (size_t i = 0; i < kept.size(); ++i) {
    auto g = groups.find(kept[i].absolute);
    if (g == groups.end() || g->second.size() < 2) {
      units.push_back({i, 0, 0, kept[i].bytes});
      continue;
    }
    out.row_group_counts[kept[i].absolute] = static_cast<int64_t>(g->second.size());
    for (size_t r = 0; r < g->second.size(); ++r) {
      if (units.empty() || units.back().file != i || units.back().end_group == 0 ||
          units.back().bytes >= run_bytes) {
        units.push_back({i, r, r, 0});
      }
      units.back().end_group = r + 1;
      units.back().bytes += g->second[r].bytes;
    }
  }
  // Largest first onto the least loaded partition (ties: the earlier one).
  std::stable_sort(units.begin(), units.end(),
                   [](const Unit& a, const Unit& b) { return a.bytes > b.bytes; });
  out.partitions.resize(std::min(max_partitions, units.size()));
  std::vector<std::map<size_t, std::vector<size_t>>> assigned(out.partitions.size());
  for (const Unit& u : units) {
    auto lightest =
        std::min_element(out.partitions.begin(), out.partitions.end(),
                         [](const Partition& a, const Partition& b) { return a.bytes < b.bytes; });
    lightest->bytes += u.bytes;
    auto& rgs = assigned[lightest - out.partitions.begin()][u.file];
    for (size_t r = u.first_group; r < u.end_group; ++r) rgs.push_back(r);
  }
  for (size_t p = 0; p < out.partitions.size(); ++p) {
    Partition& part = out.partitions[p];
    for (auto& [file, rgs] : assigned[p]) {  // in glob order
      const std::string& path = kept[file].absolute;
      part.files.push_back(path);
      const auto g = groups.find(path);
      if (rgs.empty() || g == groups.end() || rgs.size() == g->second.size()) continue;
      std::sort(rgs.begin(), rgs.end());
      std::vector<int64_t> starts(g->second.size() + 1, 0);
      for (size_t r = 0; r < g->second.size(); ++r) starts[r + 1] = starts[r] + g->second[r].rows;
      for (size_t r : rgs) {
        part.row_groups[path].push_back(g->second[r].id);
        if (!part.row_ranges.empty() && part.row_ranges.back().file == path &&
            part.row_ranges.back().end == starts[r]) {
          part.row_ranges.back().end = starts[r + 1];
        } else {
          part.row_ranges.push_back({path, starts[r], starts[r + 1]});
        }
      }
    }
    std::sort(part.files.begin(), part.files.end());
  }
  std::vector<std::string> part_firsts;
  for (const Partition& part : out.partitions) part_firsts.push_back(part.files[0]);
  DUX_ASSIGN_OR_RETURN(bool agree, first_files_agree(part_firsts));
  if (!agree) return read_whole_with_first_file();
  return out;
}

pipeline::Pipeline PartitionPipeline(const pipeline::Pipeline& worker,
                                     const Partitioning& partitioning, size_t partition) {
  const auto* parquet = std::get_if<pipeline::ParquetSource>(&worker.source().body);
  const Partition& part = partitioning.partitions[partition];
  const auto* attached = std::get_if<pipeline::AttachedSource>(&worker.source().body);
  if (attached && part.slice) {
    pipeline::AttachedSource read = *attached;
    read.slice = part.slice;
    pipeline::Pipeline out(pipeline::Source{std::move(read), worker.source().loc});
    for (const pipeline::Op& op : worker.ops()) out.Append(op);
    if (worker.sink()) out.SetSink(*worker.sink());
    return out;
  }
  if (!parquet || (part.files.empty() && partitioning.hive_types.empty())) return worker;
  pipeline::ParquetSource read = *parquet;
  if (!part.files.empty()) {
    read.files = part.files;
    read.row_ranges = part.row_ranges;
  }
  if (!partitioning.hive_types.empty()) read.hive_types = partitioning.hive_types;
  pipeline::Pipeline out(pipeline::Source{std::move(read), worker.source().loc});
  for (const pipeline::Op& op : worker.ops()) out.Append(op);
  if (worker.sink()) out.SetSink(*worker.sink());
  return out;
}

}  // namespace dux::coordinator
