// Scanning an Arrow C stream needs duckdb_arrow_scan, which DuckDB 1.4's C API lists as
// deprecated yet offers no replacement for (see ScanArrowStream).
#undef DUCKDB_API_NO_DEPRECATED
#include "dux/exec/arrow_import.h"

#include <duckdb.h>

#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "dux/arrow_ipc/ipc_reader.h"
#include "dux/common/library_callback.h"
#include "dux/exec/arrow_bridge_internal.h"
#include "dux/exec/arrow_stream.h"
#include "dux/sql/quote.h"

namespace dux::exec {

using internal::FetchChunks;
using internal::kEnumMetadataKey;
using internal::RunStreaming;

namespace {

// The value of `key` in C Data metadata, if present. The metadata comes from our reader,
// which validated its encoding.
std::optional<std::string> FindMetadata(const char* metadata, const std::string& key) {
  if (!metadata) return std::nullopt;
  auto get_int = [&] {
    int32_t v;
    std::memcpy(&v, metadata, sizeof v);
    metadata += sizeof v;
    return v;
  };
  int32_t n = get_int();
  for (int32_t i = 0; i < n; ++i) {
    int32_t kl = get_int();
    std::string k(metadata, kl);
    metadata += kl;
    int32_t vl = get_int();
    std::string v(metadata, vl);
    metadata += vl;
    if (k == key) return v;
  }
  return std::nullopt;
}

// duckdb_data_chunk_from_arrow hands a batch's ownership to the conversion of its first
// column alone, and the columns after it that DuckDB keeps without copying (numbers,
// strings) point into the batch. When that first column is converted by a copy (an
// extension type, such as BOOLEAN's lossless arrow.bool8 that dux's processes exchange),
// DuckDB freed the batch before it read the columns after it. So a batch is converted in
// runs of columns: each extension column alone, and from the first other column on, the
// rest in one run (that column's vector keeps the batch for all of them). Each run holds its
// own reference to the batch.
struct ColumnRun {
  int64_t first = 0;
  int64_t count = 0;
  ArrowConvertedSchemaHandle converted;
};

// The runs of `schema`'s columns, each with its schema as DuckDB converted it (which reads
// the schema and keeps nothing of it). One run of every column in the common case.
Result<std::vector<ColumnRun>> ConvertColumnRuns(Connection& connection,
                                                 const ArrowSchema& schema) {
  std::vector<ColumnRun> runs;
  int64_t first = 0;
  do {
    bool extension = first < schema.n_children &&
                     FindMetadata(schema.children[first]->metadata, "ARROW:extension:name");
    ColumnRun run{first, extension ? 1 : schema.n_children - first, {}};
    ArrowSchema part{"+s",    "",      nullptr, 0, run.count, schema.children + first,
                     nullptr, nullptr, nullptr};
    DUX_RETURN_NOT_OK(
        internal::TakeError(duckdb_schema_from_arrow(connection.get(), &part, run.converted.out()),
                            "cannot read the Arrow schema"));
    first += run.count;
    runs.push_back(std::move(run));
  } while (first < schema.n_children);
  return runs;
}

// A run of a shared record batch's columns as a batch of its own; releasing it drops one
// reference to the whole batch.
struct RunOfBatch {
  std::shared_ptr<arrow_ipc::ArrayOwner> batch;
  const void* buffers[1] = {nullptr};
};

void ReleaseRunOfBatch(ArrowArray* array) {
  delete static_cast<RunOfBatch*>(array->private_data);
  array->release = nullptr;
}

// A DuckDB chunk holding `batch` (of at most a chunk's rows), converted run by run.
Result<DataChunkHandle> ChunkFromBatch(Connection& connection, const std::vector<ColumnRun>& runs,
                                       arrow_ipc::ArrayOwner& batch) {
  const int64_t length = batch->length;
  const int64_t offset = batch->offset;
  auto shared = std::make_shared<arrow_ipc::ArrayOwner>(std::move(batch));
  std::vector<DataChunkHandle> parts(runs.size());
  for (size_t r = 0; r < runs.size(); ++r) {
    auto* owner = new RunOfBatch{shared};
    ArrowArray part{length,
                    0,
                    offset,
                    1,
                    runs[r].count,
                    owner->buffers,
                    (*shared)->children + runs[r].first,
                    nullptr,
                    &LibraryCallback<ReleaseRunOfBatch>::Call,
                    owner};
    Status made =
        internal::TakeError(duckdb_data_chunk_from_arrow(connection.get(), &part,
                                                         runs[r].converted.get(), parts[r].out()),
                            "cannot read an Arrow batch");
    if (part.release) part.release(&part);  // kept by DuckDB only when it cleared it
    DUX_RETURN_NOT_OK(made);
  }
  if (parts.size() == 1) return std::move(parts[0]);
  std::vector<LogicalTypeHandle> type_owners;
  std::vector<duckdb_logical_type> types;
  for (auto& part : parts) {
    for (idx_t c = 0; c < duckdb_data_chunk_get_column_count(part.get()); ++c) {
      type_owners.emplace_back(
          duckdb_vector_get_column_type(duckdb_data_chunk_get_vector(part.get(), c)));
      types.push_back(type_owners.back().get());
    }
  }
  DataChunkHandle chunk(duckdb_create_data_chunk(types.data(), types.size()));
  idx_t column = 0;
  for (auto& part : parts) {
    for (idx_t c = 0; c < duckdb_data_chunk_get_column_count(part.get()); ++c) {
      duckdb_vector_reference_vector(duckdb_data_chunk_get_vector(chunk.get(), column++),
                                     duckdb_data_chunk_get_vector(part.get(), c));
    }
  }
  duckdb_data_chunk_set_size(chunk.get(), static_cast<idx_t>(length));
  return chunk;
}

}  // namespace

Result<int64_t> ScanArrowStream(Connection& connection, ArrowArrayStream* stream,
                                const std::map<std::string, std::string>& casts,
                                const std::function<Result<int64_t>(const std::string&)>& use) {
  // duckdb_arrow_scan registers a view over the stream, dropped on every path. (The
  // function is deprecated in 1.4 but is the C API's only way to scan a stream without
  // knowing the types up front.)
  struct StreamOwner {
    ArrowArrayStream* s;
    ~StreamOwner() {
      if (s->release) s->release(s);
    }
  } owner{stream};
  std::string view = "__dux_arrow_scan_" + std::to_string(reinterpret_cast<uintptr_t>(stream));
  if (duckdb_arrow_scan(connection.get(), view.c_str(),
                        reinterpret_cast<duckdb_arrow_stream>(stream)) == DuckDBError) {
    return Status::InvalidArgument("cannot scan the Arrow stream");
  }
  std::string replace;
  for (const auto& [column, type] : casts) {
    replace += (replace.empty() ? "" : ", ") + std::string("CAST(") + sql::QuoteIdentifier(column) +
               " AS " + type + ") AS " + sql::QuoteIdentifier(column);
  }
  auto rows = use("SELECT *" + (replace.empty() ? "" : " REPLACE (" + replace + ")") + " FROM " +
                  sql::QuoteIdentifier(view));
  (void)connection.Execute("DROP VIEW IF EXISTS " + sql::QuoteIdentifier(view));
  if (!rows.ok()) {
    // DuckDB wraps the stream's own error; the stream's words are the useful part.
    const std::string& m = rows.status().message();
    const std::string marker = "get_next failed(): ";
    size_t at = m.find(marker);
    if (at != std::string::npos) return Status(rows.status().code(), m.substr(at + marker.size()));
  }
  return rows;
}

Result<int64_t> ImportArrowStream(Connection& connection, const std::string& table,
                                  ArrowArrayStream* stream, TableMode mode,
                                  const std::map<std::string, std::string>& casts) {
  std::string target = sql::QuoteIdentifier(table);
  return ScanArrowStream(connection, stream, casts, [&](const std::string& select) {
    return connection.Execute(mode == TableMode::kAppend
                                  ? "INSERT INTO " + target + " " + select
                                  : std::string("CREATE ") +
                                        (mode == TableMode::kTemporary ? "TEMPORARY " : "") +
                                        "TABLE " + target + " AS " + select);
  });
}

namespace {

// The batches of an IPC reader, starting with `first` when that holds one the caller read
// already; owns the reader and its input.
class IpcBatchSource : public ArrowBatchSource {
 public:
  IpcBatchSource(std::unique_ptr<arrow_ipc::InputStream> input,
                 std::unique_ptr<arrow_ipc::Reader> reader, arrow_ipc::ArrayOwner first = {})
      : input_(std::move(input)), reader_(std::move(reader)), first_(std::move(first)) {}
  Status ExportSchema(ArrowSchema* out) override { return reader_->ExportSchema(out); }
  Result<bool> Next(ArrowArray* out) override {
    if (!first_.valid()) return reader_->Next(out);
    first_.MoveTo(out);
    return true;
  }

 private:
  std::unique_ptr<arrow_ipc::InputStream> input_;
  std::unique_ptr<arrow_ipc::Reader> reader_;
  arrow_ipc::ArrayOwner first_;
};

// Arrow types DuckDB 1.4's scan refuses without a reason, or misreads (interval[day_time]
// comes back as milliseconds); named here so the user learns which column is the problem.
Status CheckDuckDbReads(const ArrowSchema& field, const std::string& column) {
  std::string format = field.format ? field.format : "";
  const char* what = nullptr;
  if (format == "e") what = "float16";
  if (format.rfind("d:", 0) == 0 && format.size() > 4 &&
      format.compare(format.size() - 4, 4, ",256") == 0) {
    what = "decimal256";
  }
  if (format.rfind("+ud:", 0) == 0) what = "dense union";
  if (format == "tiD") what = "interval[day_time]";
  if (what) {
    return Status::Unimplemented(std::string("column \"") + column + "\" has Arrow type " + what +
                                 ", which DuckDB 1.4 cannot read");
  }
  for (int64_t i = 0; i < field.n_children; ++i) {
    DUX_RETURN_NOT_OK(CheckDuckDbReads(*field.children[i], column));
  }
  return field.dictionary ? CheckDuckDbReads(*field.dictionary, column) : Status::OK();
}

}  // namespace

Result<std::map<std::string, std::string>> ImportCasts(const ArrowSchema& schema) {
  // ENUM columns written by dux come back as ENUMs (values from the schema's metadata,
  // rendered as string literals; a column not in the schema is ignored).
  std::map<std::string, std::string> casts;
  for (int64_t i = 0; i < schema.n_children; ++i) {
    DUX_RETURN_NOT_OK(CheckDuckDbReads(*schema.children[i], schema.children[i]->name));
  }
  auto enums = FindMetadata(schema.metadata, kEnumMetadataKey);
  nlohmann::json parsed = enums ? nlohmann::json::parse(*enums, nullptr, false) : nlohmann::json();
  for (int64_t i = 0; parsed.is_object() && i < schema.n_children; ++i) {
    std::string name = schema.children[i]->name ? schema.children[i]->name : "";
    auto it = parsed.find(name);
    if (it == parsed.end() || !it->is_array() || it->empty()) continue;
    std::string type = "ENUM(";
    bool strings = true;
    for (size_t v = 0; v < it->size(); ++v) {
      strings = strings && (*it)[v].is_string();
      if (strings) type += (v ? ", " : "") + sql::QuoteString((*it)[v].get<std::string>());
    }
    if (strings) casts[name] = type + ")";
  }
  return casts;
}

namespace {

// An IPC reader with its input and the casts that restore its ENUM columns (ImportCasts).
struct OpenedIpc {
  std::unique_ptr<arrow_ipc::InputStream> in;
  std::unique_ptr<arrow_ipc::Reader> reader;
  arrow_ipc::SchemaOwner schema;
  std::map<std::string, std::string> casts;
};

Result<OpenedIpc> OpenIpc(std::unique_ptr<arrow_ipc::InputStream> in) {
  OpenedIpc out;
  DUX_ASSIGN_OR_RETURN(out.reader, arrow_ipc::Reader::Open(in.get()));
  out.in = std::move(in);
  DUX_RETURN_NOT_OK(out.reader->ExportSchema(out.schema.out()));
  DUX_ASSIGN_OR_RETURN(out.casts, ImportCasts(*out.schema.get()));
  return out;
}

// The rest of `ipc`'s batches, `first` (when it holds one) ahead of them, as an Arrow C stream.
void ExportRest(OpenedIpc& ipc, arrow_ipc::ArrayOwner first, ArrowArrayStream* stream) {
  ExportArrowStream(
      std::make_unique<IpcBatchSource>(std::move(ipc.in), std::move(ipc.reader), std::move(first)),
      stream);
}

// Scans the rest of `ipc` (see ExportRest) with DuckDB's arrow scan and hands its chunks to
// the sink `sink` returns once it knows the columns.
Result<int64_t> ScanRestIntoSink(
    Connection& connection, OpenedIpc& ipc, arrow_ipc::ArrayOwner first,
    const std::function<Result<RowSink*>(const RoutedColumns&)>& sink) {
  ArrowArrayStream stream{};
  ExportRest(ipc, std::move(first), &stream);
  return ScanArrowStream(
      connection, &stream, ipc.casts, [&](const std::string& select) -> Result<int64_t> {
        DUX_ASSIGN_OR_RETURN(ResultHandle result, RunStreaming(connection, select));
        RoutedColumns columns;
        std::vector<LogicalTypeHandle> types;
        for (idx_t c = 0; c < duckdb_column_count(result.get()); ++c) {
          types.emplace_back(duckdb_column_logical_type(result.get(), c));
          columns.types.push_back(types.back().get());
          columns.names.emplace_back(duckdb_column_name(result.get(), c));
        }
        DUX_ASSIGN_OR_RETURN(RowSink * to, sink(columns));
        return FetchChunks(result, [&](DataChunkHandle& chunk) { return to->Take(&chunk); });
      });
}

}  // namespace

Result<int64_t> ImportIpc(Connection& connection, const std::string& table,
                          std::unique_ptr<arrow_ipc::InputStream> in, TableMode mode) {
  DUX_ASSIGN_OR_RETURN(OpenedIpc ipc, OpenIpc(std::move(in)));
  ArrowArrayStream stream{};
  ExportRest(ipc, {}, &stream);
  return ImportArrowStream(connection, table, &stream, mode, ipc.casts);
}

Result<int64_t> ReadIpcChunks(
    Connection& connection, std::unique_ptr<arrow_ipc::InputStream> in,
    const std::function<Result<std::unique_ptr<RowSink>>(const RoutedColumns&)>& open) {
  DUX_ASSIGN_OR_RETURN(OpenedIpc ipc, OpenIpc(std::move(in)));
  std::unique_ptr<RowSink> sink;
  auto open_once = [&](const RoutedColumns& columns) -> Result<RowSink*> {
    if (!sink) {
      DUX_ASSIGN_OR_RETURN(sink, open(columns));
    }
    return sink.get();
  };
  // Each batch straight into a DuckDB chunk (duckdb_data_chunk_from_arrow, which keeps the
  // batch's buffers instead of copying what it can), without a query around it: the common
  // case of a bucket's rows, whose batches are a DuckDB chunk each. DuckDB's arrow scan, a
  // query per stream, still reads what that cannot: ENUM columns (restored by casts), a
  // stream of no batches (whose columns only the scan's bind gives) and batches longer than
  // a chunk, from the first such batch on.
  int64_t rows = 0;
  std::vector<ColumnRun> runs;
  std::vector<LogicalTypeHandle> type_owners;
  RoutedColumns columns;
  for (;;) {
    arrow_ipc::ArrayOwner batch;
    DUX_ASSIGN_OR_RETURN(bool more, ipc.reader->Next(batch.out()));
    if (!more) break;
    if (!ipc.casts.empty() || static_cast<uint64_t>(batch->length) > duckdb_vector_size()) {
      DUX_ASSIGN_OR_RETURN(int64_t rest,
                           ScanRestIntoSink(connection, ipc, std::move(batch), open_once));
      rows += rest;
      break;
    }
    if (runs.empty()) {
      DUX_ASSIGN_OR_RETURN(runs, ConvertColumnRuns(connection, *ipc.schema.get()));
    }
    DUX_ASSIGN_OR_RETURN(DataChunkHandle chunk, ChunkFromBatch(connection, runs, batch));
    if (!sink) {
      for (idx_t c = 0; c < duckdb_data_chunk_get_column_count(chunk.get()); ++c) {
        type_owners.emplace_back(
            duckdb_vector_get_column_type(duckdb_data_chunk_get_vector(chunk.get(), c)));
        columns.types.push_back(type_owners.back().get());
        const ArrowSchema* field = ipc.schema->children[c];
        columns.names.emplace_back(field->name ? field->name : "");
      }
      DUX_RETURN_NOT_OK(open_once(columns).status());
    }
    rows += static_cast<int64_t>(duckdb_data_chunk_get_size(chunk.get()));
    DUX_RETURN_NOT_OK(sink->Take(&chunk));
  }
  if (!sink) {
    DUX_ASSIGN_OR_RETURN(int64_t none, ScanRestIntoSink(connection, ipc, {}, open_once));
    rows += none;
  }
  DUX_RETURN_NOT_OK(sink->Finish());
  return rows;
}

}  // namespace dux::exec
