// The pipeline IR: a source, an ordered list of verbs and an optional sink, as plain data.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "dux/pipeline/value.h"

namespace dux::pipeline {

/// Where something was written in the pipeline language; line 0 means "built from C++".
struct Location {
  int line = 0;
  int column = 0;
  bool known() const { return line > 0; }
  /// " (line 2, col 10)" or "" when unknown.
  std::string Suffix() const;
  bool operator==(const Location&) const = default;
};

/// A DuckDB SQL expression exactly as the user wrote it.
struct Expr {
  std::string sql;
  Location loc;
  bool operator==(const Expr& o) const { return sql == o.sql; }
};

struct NamedExpr {
  std::string name;
  Expr expr;
  bool operator==(const NamedExpr&) const = default;
};

class Pipeline;
/// Nested pipelines (join right sides, concat frames) are complete, immutable pipelines.
using PipelinePtr = std::shared_ptr<const Pipeline>;

// ---- sources ---------------------------------------------------------------------------

/// Rows [begin, end) of one parquet file, counted from 0 in file order (DuckDB's
/// file_row_number).
struct RowRange {
  std::string file;
  int64_t begin = 0;
  int64_t end = 0;
  bool operator==(const RowRange&) const = default;
};

struct ParquetSource {
  std::string path;  ///< a path or glob
  bool hive_partitioning = false;
  bool union_by_name = false;
  /// When not empty, exactly these files (in this order) are read instead of `path`: the
  /// coordinator gives each worker its partition of the glob this way (coordinator/partitioner.h).
  std::vector<std::string> files;
  /// Hive key column -> DuckDB type (DuckDB's hive_types). Keys not listed are typed by
  /// DuckDB from the files read (hive_types_autocast), so a reader of some of the files
  /// could type them differently; the coordinator pins every key for its workers.
  std::vector<std::pair<std::string, std::string>> hive_types;
  /// Files of `files` read only in part: each such file reads the union of its ranges, the
  /// other files are read whole. The coordinator splits a large file by row groups this way.
  std::vector<RowRange> row_ranges;
  bool operator==(const ParquetSource&) const = default;
};

struct CsvSource {
  std::string path;
  std::optional<std::string> delimiter;
  std::optional<bool> header;
  std::optional<int64_t> skip;
  std::optional<std::string> nullstr;
  std::vector<std::pair<std::string, std::string>> types;  ///< column -> DuckDB type
  std::vector<std::string> columns;                        ///< names for every column
  bool operator==(const CsvSource&) const = default;
};

struct NdjsonSource {
  std::string path;
  bool operator==(const NdjsonSource&) const = default;
};

struct QuerySource {
  std::string sql;
  bool operator==(const QuerySource&) const = default;
};

struct ValuesSource {
  std::vector<std::string> columns;
  std::vector<std::vector<Value>> rows;                    ///< each row has one value per column
  std::vector<std::pair<std::string, std::string>> types;  ///< optional column -> type casts
  bool operator==(const ValuesSource&) const = default;
};

/// An Arrow IPC stream or file (told apart by the file's magic).
struct ArrowSource {
  std::string path;
  bool operator==(const ArrowSource&) const = default;
};

/// The slice of a PostgreSQL table one worker reads (docs/postgres.md#slices): slice `index`
/// of `count`, cut by the source's `partition_by` key with `method` (pg::SlicePredicate).
/// The coordinator sets it on the source of a worker's fragment; users never write it.
struct AttachedSlice {
  enum class Method { kModulus, kHash, kRange };
  Method method = Method::kModulus;
  int index = 0;
  int count = 1;
  /// kRange: the key's min and max as the coordinator read them; absent for an empty table.
  std::optional<std::pair<int64_t, int64_t>> range;
  bool operator==(const AttachedSlice&) const = default;
};

/// A table of an attached database (see Attachment). Read once, whole, unless distributed
/// with `partition_by`, which lets each worker read a disjoint slice of the table.
struct AttachedSource {
  std::string alias;                 ///< an attachment's alias
  std::string table;                 ///< "table" or "schema.table" inside that database
  std::string partition_by;          ///< the key column slices are cut by; empty: unsliced
  std::vector<std::string> columns;  ///< read only these, in this order; empty: all
  /// Set on a worker's fragment: read only this slice (by `partition_by`).
  std::optional<AttachedSlice> slice;
  bool operator==(const AttachedSource&) const = default;
};

using SourceBody = std::variant<ParquetSource, CsvSource, NdjsonSource, QuerySource, ValuesSource,
                                ArrowSource, AttachedSource>;

struct Source {
  SourceBody body;
  Location loc;
  /// The language name of the source, e.g. "from_parquet".
  const char* Name() const;
  bool operator==(const Source& o) const { return body == o.body; }
};

// ---- verbs -----------------------------------------------------------------------------

struct FilterOp {
  Expr predicate;
  bool operator==(const FilterOp&) const = default;
};
/// Adds or replaces columns, one after the other (later ones see earlier ones).
struct MutateOp {
  std::vector<NamedExpr> columns;
  bool operator==(const MutateOp&) const = default;
};
struct SelectOp {
  std::vector<std::string> columns;
  bool operator==(const SelectOp&) const = default;
};
struct DiscardOp {
  std::vector<std::string> columns;
  bool operator==(const DiscardOp&) const = default;
};
struct RenameOp {
  std::vector<std::pair<std::string, std::string>> renames;  ///< old -> new
  bool operator==(const RenameOp&) const = default;
};
/// Drops rows with a NULL in any of `columns` (all columns when empty).
struct DropNilOp {
  std::vector<std::string> columns;
  bool operator==(const DropNilOp&) const = default;
};
struct GroupByOp {
  std::vector<std::string> columns;
  bool operator==(const GroupByOp&) const = default;
};
struct UngroupOp {
  bool operator==(const UngroupOp&) const = default;
};
struct SummariseOp {
  std::vector<NamedExpr> aggregates;
  bool operator==(const SummariseOp&) const = default;
};

enum class NullOrder { kDefault, kFirst, kLast };
struct SortKey {
  Expr expr;
  bool descending = false;
  NullOrder nulls = NullOrder::kDefault;  ///< kDefault is DuckDB's: NULLS LAST
  bool operator==(const SortKey&) const = default;
};
struct SortByOp {
  std::vector<SortKey> keys;
  bool operator==(const SortByOp&) const = default;
};
struct HeadOp {
  int64_t n = 0;
  bool operator==(const HeadOp&) const = default;
};
struct SliceOp {
  int64_t offset = 0;
  int64_t length = 0;
  bool operator==(const SliceOp&) const = default;
};
/// Distinct rows over all columns, or distinct combinations of `columns` (only those kept).
struct DistinctOp {
  std::vector<std::string> columns;
  bool operator==(const DistinctOp&) const = default;
};

enum class JoinHow { kInner, kLeft, kRight, kFull, kCross, kSemi, kAnti };
const char* JoinHowName(JoinHow how);

struct JoinKey {
  std::string left;
  std::string right;
  bool operator==(const JoinKey&) const = default;
};

/// Joins the right pipeline; `on` empty means every column name both sides share.
struct JoinOp {
  PipelinePtr right;
  JoinHow how = JoinHow::kInner;
  std::vector<JoinKey> on;
  std::string suffix = "_right";
  bool operator==(const JoinOp& o) const;
};

enum class AsofCompare { kGreaterEqual, kGreater, kLessEqual, kLess };
const char* AsofCompareSql(AsofCompare c);

/// For each left row, the right row whose `by` column is nearest under `compare`
/// (left.by >= right.by for kGreaterEqual), among rows with equal `on` keys.
struct AsofJoinOp {
  PipelinePtr right;
  JoinKey by;
  AsofCompare compare = AsofCompare::kGreaterEqual;
  std::vector<JoinKey> on;
  bool left = false;  ///< keep left rows without a match
  std::string suffix = "_right";
  bool operator==(const AsofJoinOp& o) const;
};

/// Appends the rows of other pipelines, matching columns by name.
struct ConcatRowsOp {
  std::vector<PipelinePtr> others;
  bool operator==(const ConcatRowsOp& o) const;
};

struct PivotWiderOp {
  std::string names_from;
  std::vector<std::string> values_from;
  bool operator==(const PivotWiderOp&) const = default;
};

struct PivotLongerOp {
  std::vector<std::string> columns;
  std::string names_to = "name";
  std::string values_to = "value";
  bool operator==(const PivotLongerOp&) const = default;
};

using OpBody = std::variant<FilterOp, MutateOp, SelectOp, DiscardOp, RenameOp, DropNilOp, GroupByOp,
                            UngroupOp, SummariseOp, SortByOp, HeadOp, SliceOp, DistinctOp, JoinOp,
                            AsofJoinOp, ConcatRowsOp, PivotWiderOp, PivotLongerOp>;

struct Op {
  OpBody body;
  Location loc;
  /// The verb's name as written in the language, e.g. "summarise".
  const char* Verb() const;
  bool operator==(const Op& o) const { return body == o.body; }
};

// ---- sinks -----------------------------------------------------------------------------

struct ToParquetSink {
  std::string path;
  std::string compression;  ///< empty: DuckDB's default (snappy)
  std::optional<int64_t> row_group_size;
  std::vector<std::string> partition_by;
  bool operator==(const ToParquetSink&) const = default;
};
struct ToCsvSink {
  std::string path;
  std::string delimiter = ",";
  bool header = true;
  bool operator==(const ToCsvSink&) const = default;
};
struct ToNdjsonSink {
  std::string path;
  bool operator==(const ToNdjsonSink&) const = default;
};
/// Inserts by column name into `table` ("t", "schema.t" or "attached_db.schema.t");
/// `create` creates it from the pipeline's schema first (an error if it exists). `atomic`
/// loads a PostgreSQL target through a staging table swapped in by one transaction (a DuckDB
/// insert is one statement, all or nothing, either way).
struct InsertIntoSink {
  std::string table;
  bool create = false;
  bool atomic = false;
  bool operator==(const InsertIntoSink&) const = default;
};

/// Arrow IPC: the file format (default) or the streaming format; body compression
/// "lz4" (LZ4_FRAME) or "zstd", none when empty.
struct ToArrowSink {
  std::string path;
  bool stream_format = false;
  std::string compression;
  /// DuckDB's lossless Arrow types (extension types such as arrow.bool8, which DuckDB reads
  /// back exactly) instead of the standard ones any Arrow reader understands.
  bool lossless = false;
  bool operator==(const ToArrowSink&) const = default;
};

using SinkBody = std::variant<ToParquetSink, ToCsvSink, ToNdjsonSink, InsertIntoSink, ToArrowSink>;

struct Sink {
  SinkBody body;
  Location loc;
  const char* Verb() const;
  bool operator==(const Sink& o) const { return body == o.body; }
};

// ---- pipeline --------------------------------------------------------------------------

/// A source, verbs in order, and an optional sink. A value type: copying copies the verbs
/// and shares nested pipelines (which are immutable). The builder methods append a verb and
/// return *this so calls chain; they never fail, validation happens at compile time.
class Pipeline {
 public:
  explicit Pipeline(Source source) : source_(std::move(source)) {}

  static Pipeline FromParquet(std::string path, bool hive_partitioning = false,
                              bool union_by_name = false);
  static Pipeline FromCsv(CsvSource csv);
  static Pipeline FromCsv(std::string path);
  static Pipeline FromNdjson(std::string path);
  static Pipeline FromQuery(std::string sql);
  static Pipeline FromArrow(std::string path);
  static Pipeline FromAttached(std::string alias, std::string table, std::string partition_by = "",
                               std::vector<std::string> columns = {});
  static Pipeline FromValues(std::vector<std::string> columns, std::vector<std::vector<Value>> rows,
                             std::vector<std::pair<std::string, std::string>> types = {});

  Pipeline& Filter(std::string predicate);
  Pipeline& Mutate(std::vector<std::pair<std::string, std::string>> columns);
  Pipeline& Select(std::vector<std::string> columns);
  Pipeline& Discard(std::vector<std::string> columns);
  Pipeline& Rename(std::vector<std::pair<std::string, std::string>> renames);
  Pipeline& DropNil(std::vector<std::string> columns = {});
  Pipeline& GroupBy(std::vector<std::string> columns);
  Pipeline& Ungroup();
  Pipeline& Summarise(std::vector<std::pair<std::string, std::string>> aggregates);
  Pipeline& SortBy(std::vector<SortKey> keys);
  Pipeline& Head(int64_t n);
  Pipeline& Slice(int64_t offset, int64_t length);
  Pipeline& Distinct(std::vector<std::string> columns = {});
  Pipeline& Join(Pipeline right, JoinHow how = JoinHow::kInner, std::vector<JoinKey> on = {},
                 std::string suffix = "_right");
  Pipeline& AsofJoin(Pipeline right, JoinKey by, AsofCompare compare, std::vector<JoinKey> on = {},
                     bool left = false, std::string suffix = "_right");
  Pipeline& ConcatRows(std::vector<Pipeline> others);
  Pipeline& PivotWider(std::string names_from, std::vector<std::string> values_from);
  Pipeline& PivotLonger(std::vector<std::string> columns, std::string names_to = "name",
                        std::string values_to = "value");

  Pipeline& ToParquet(ToParquetSink sink);
  Pipeline& ToCsv(ToCsvSink sink);
  Pipeline& ToNdjson(std::string path);
  Pipeline& InsertInto(std::string table, bool create = false, bool atomic = false);
  Pipeline& ToArrow(ToArrowSink sink);

  /// Appends an already built verb (used by the language parser and the protobuf mapping).
  Pipeline& Append(Op op);
  void SetSink(Sink sink) { sink_ = std::move(sink); }

  const Source& source() const { return source_; }
  const std::vector<Op>& ops() const { return ops_; }
  const std::optional<Sink>& sink() const { return sink_; }

  bool operator==(const Pipeline& o) const {
    return source_ == o.source_ && ops_ == o.ops_ && sink_ == o.sink_;
  }

 private:
  Source source_;
  std::vector<Op> ops_;
  std::optional<Sink> sink_;
};

enum class AttachmentType { kDuckDb, kPostgres };
/// "duckdb" or "postgres", as the language writes it.
const char* AttachmentTypeName(AttachmentType type);

/// Makes a database available under `alias` for from_attached, insert_into and (DuckDB
/// files) from_query: a DuckDB file at `path`, or a PostgreSQL database whose libpq
/// connection string is `path` ("host=... dbname=..." or "postgresql://..."; it may hold a
/// password, which dux never shows: see pg::Redact).
struct Attachment {
  std::string alias;
  std::string path;
  bool read_only = false;
  Location loc;
  AttachmentType type = AttachmentType::kDuckDb;
  bool operator==(const Attachment& o) const {
    return alias == o.alias && path == o.path && read_only == o.read_only && type == o.type;
  }
};

/// Per-run S3 settings (the `s3(...)` statement, `dux run --s3-...`): applied over each
/// process's own AWS settings, on the coordinator and on every worker of the run. Never
/// credentials: scripts are shown by explain and travel to workers (docs/s3.md).
struct S3Settings {
  std::optional<std::string> region;
  std::optional<std::string> endpoint;
  std::optional<std::string> url_style;  ///< "path", "virtual" or "auto"
  std::optional<bool> tls;
  std::optional<std::string> profile;
  Location loc;
  bool empty() const { return !region && !endpoint && !url_style && !tls && !profile; }
  bool operator==(const S3Settings& o) const {
    return region == o.region && endpoint == o.endpoint && url_style == o.url_style &&
           tls == o.tls && profile == o.profile;
  }
};

/// What a pipeline-language text holds: attach and s3 statements, then one pipeline.
struct Script {
  std::vector<Attachment> attachments;
  Pipeline pipeline;
  S3Settings s3;
};

/// Calls `visit` on `pipeline` and then on every pipeline nested in it (join right sides,
/// concat frames), depth first, in the order they are written.
void ForEachPipeline(const Pipeline& pipeline, const std::function<void(const Pipeline&)>& visit);

/// The from_arrow paths of a pipeline and its nested pipelines, each with where it was
/// first written. dux reads these files itself (DuckDB does not), so callers load or check
/// them.
std::map<std::string, Location> ArrowSourcePaths(const Pipeline& pipeline);

}  // namespace dux::pipeline
