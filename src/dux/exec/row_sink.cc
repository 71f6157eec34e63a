// The row sinks (row_sink.h): a table's appender and an Arrow IPC writer.
#include "dux/exec/row_sink.h"

#include <duckdb.h>

#include <utility>

#include "dux/exec/arrow_bridge_internal.h"

namespace dux::exec {

using internal::ChunkToArrow;
using internal::TakeError;

namespace {

Status AppenderError(duckdb_appender appender, const std::string& table) {
  duckdb_error_data error = duckdb_appender_error_data(appender);
  Status status = TakeError(error, ("cannot append to " + table).c_str());
  return status.ok() ? Status::IOError("cannot append to " + table) : status;
}

class TableSink : public RowSink {
 public:
  TableSink(AppenderHandle appender, std::string table)
      : appender_(std::move(appender)), table_(std::move(table)) {}
  Status Append(duckdb_data_chunk chunk) override {
    if (duckdb_append_data_chunk(appender_.get(), chunk) == DuckDBError) {
      return AppenderError(appender_.get(), table_);
    }
    return Status::OK();
  }
  Status Finish() override {
    if (duckdb_appender_close(appender_.get()) == DuckDBError) {
      return AppenderError(appender_.get(), table_);
    }
    return Status::OK();
  }

 private:
  AppenderHandle appender_;
  std::string table_;
};

class IpcSink : public RowSink {
 public:
  IpcSink(std::unique_ptr<arrow_ipc::Writer> writer, duckdb_arrow_options options)
      : writer_(std::move(writer)), options_(options) {}
  Status Append(duckdb_data_chunk chunk) override {
    arrow_ipc::ArrayOwner array;
    DUX_RETURN_NOT_OK(ChunkToArrow(options_, chunk, array.out()));
    return writer_->WriteBatch(*array.get());
  }
  Status Finish() override { return writer_->Close(); }

 private:
  std::unique_ptr<arrow_ipc::Writer> writer_;
  duckdb_arrow_options options_;
};

}  // namespace

Result<std::unique_ptr<RowSink>> OpenIpcRowSink(const RoutedColumns& columns,
                                                arrow_ipc::OutputStream* out,
                                                const arrow_ipc::WriteOptions& options) {
  DUX_ASSIGN_OR_RETURN(std::unique_ptr<arrow_ipc::Writer> writer,
                       arrow_ipc::Writer::Open(out, *columns.arrow, options));
  return std::unique_ptr<RowSink>(new IpcSink(std::move(writer), columns.arrow_options));
}

Result<std::unique_ptr<RowSink>> OpenTableRowSink(Connection& connection,
                                                  const std::string& table) {
  AppenderHandle appender;
  if (duckdb_appender_create(connection.get(), nullptr, table.c_str(), appender.out()) ==
      DuckDBError) {
    if (!appender) return Status::IOError("cannot append to " + table);
    return AppenderError(appender.get(), table);
  }
  return std::unique_ptr<RowSink>(new TableSink(std::move(appender), table));
}

}  // namespace dux::exec
