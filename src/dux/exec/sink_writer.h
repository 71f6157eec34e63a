// Writer: runs a sink (file writes, insert_into) so that a failure leaves no partial output.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "dux/arrow_ipc/ipc_writer.h"
#include "dux/common/status.h"
#include "dux/exec/arrow_export.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/pipeline/pipeline.h"
#include "dux/sql/compiler.h"

namespace dux::exec {

struct WriteReport {
  int64_t rows = 0;
  std::vector<std::string> files;  ///< files written (empty for insert_into)
};

/// Runs `sink` over `query`. A single file is written as WriteToPath (output_target.h) writes
/// a target: a regular file under a temporary name renamed into place once complete, a device
/// or pipe in place. A URL (`s3://bucket/key`, IsUrl) is one object written in place through
/// DuckDB's file system (to_arrow: through the connection's UrlFiles), visible once complete.
/// A directory target (see WritesDirectory) must be missing or empty (a URL: no object below
/// it); it receives one part file, partition 0 of a new write id (see WritePart). On failure
/// nothing of the write is left. insert_into runs as one statement, so it lands whole or not
/// at all.
Result<WriteReport> WriteSink(Connection& connection, const pipeline::Sink& sink,
                              const sql::CompiledQuery& query);

/// Whether a file sink writes a directory of part files rather than one file: to_parquet with
/// partition_by, or a to_parquet/to_csv/to_ndjson path that ends in "/" or whose last
/// component has no extension ("out" or "out/", not "out.parquet"), unless that path exists
/// and is not a directory (a file, a device such as /dev/null, a FIFO: written as one file).
/// A URL is judged by its name alone.
/// False for to_arrow and insert_into, which always write one file or table.
bool WritesDirectory(const pipeline::Sink& sink);

/// The path a file sink writes (without a trailing "/"); empty for insert_into.
std::string SinkPath(const pipeline::Sink& sink);

/// The extension of a directory write's part files: "parquet", "csv" or "ndjson".
std::string PartExtension(const pipeline::Sink& sink);

/// Names one partition's files in a directory write.
struct PartFiles {
  /// Unique per query: every file of the write carries it, so that a failed query's files
  /// can be found and removed, and two writes never collide.
  std::string write_id;
  int partition = 0;
  /// An earlier attempt of this partition may have left files: remove them first.
  bool retry = false;
};

/// The name of the `index`-th file of a partition in one directory:
/// "part-00003-<write id>.parquet", then "part-00003-<write id>-c1.parquet", ...
std::string PartFileName(const PartFiles& part, const std::string& extension, int index);

/// Writes `query` as one partition of the directory write `sink`: its files are named by
/// PartFileName, in the hive directories of partition_by (`key=value/...`) if any. They are
/// written under a hidden temporary name inside the target (`.part-00003-<id>.<attempt>.dux-tmp`,
/// unique per attempt) and renamed into place once complete. The directories needed are
/// created; the target is not checked for being empty, since other partitions write beside
/// this one. On failure the attempt's temporary output and the files it renamed are removed.
/// A retry first removes what earlier attempts of the partition left (temporary or renamed).
/// A URL target (an S3 prefix) gets each object under its final name at once (objects are
/// invisible until complete; partition_by output as "part-00003-<id>-cN.parquet"), through
/// the connection's UrlFiles, and a retry first removes the partition's objects.
/// Errors: a target that exists and is not a directory is AlreadyExists; one that cannot be
/// created or written into is PermissionDenied; all name the target.
Result<WriteReport> WritePart(Connection& connection, const pipeline::Sink& sink,
                              const sql::CompiledQuery& query, const PartFiles& part);

/// A missing or empty directory, as a directory write's target must be, or a URL with no
/// object below it (AlreadyExists naming `target` otherwise; a URL is listed through the
/// connection's UrlFiles).
Status CheckDirectoryTarget(const Connection& connection, const std::string& target);

/// Removes every file of the directory write `write_id` under `directory` (every partition,
/// renamed or temporary, every attempt), then the hive directories (`key=value`) left empty,
/// and `directory` itself when `remove_directory` and it is empty; for a URL, every object of
/// the write below it. Best effort: what cannot be removed is left.
void RemoveWrite(const Connection& connection, const std::string& directory,
                 const std::string& write_id, bool remove_directory);

/// Removes the files of one partition of the directory write `write_id` under `directory` as
/// RemoveWrite removes all of them (the hive directories left empty included, the directory
/// itself never): what a losing speculative attempt completed. Best effort.
void RemoveWritePartition(const Connection& connection, const std::string& directory,
                          const std::string& write_id, int partition);

/// Removes the temporary output of every attempt of the directory write `write_id` left in
/// `directory` (temporary names live at its top level), keeping the renamed files. Nothing
/// for a URL: objects have no temporary names.
void RemoveWriteTemporaries(const std::string& directory, const std::string& write_id);

/// Removes one file a write reported (a local file, or an object through the connection's
/// UrlFiles).
Status RemoveWrittenFile(const Connection& connection, const std::string& path);

/// A new write id, unique in this process and across processes (time, pid, counter).
std::string NewWriteId();

/// Writes the query's result to `path`, as it is, as Arrow IPC with `options` and `types`;
/// returns the rows. Wrap it in WriteOutput (output_target.h) for a user's target.
Result<int64_t> WriteIpcFile(Connection& connection, const std::string& select_sql,
                             const arrow_ipc::WriteOptions& options, ArrowTypes types,
                             const std::string& path);

/// Writes the query's result to `path`, as it is, in DuckDB's `format` ("csv" with a header,
/// "json" as one array, "ndjson"); returns the rows. Wrap it in WriteOutput (output_target.h)
/// for a user's target.
Result<int64_t> ExportQuery(Connection& connection, const std::string& select_sql,
                            const std::string& format, const std::string& path);

}  // namespace dux::exec
