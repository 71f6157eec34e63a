// Registering dux's s3:// file system inside a DuckDB opened through the C API, so that
// DuckDB's readers and writers reach S3 themselves. See docs/s3.md, "File system".
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "duckdb.h"
#include "dux/common/status.h"
#include "dux/s3/client.h"
#include "dux/s3/config.h"

namespace dux::s3_filesystem {

/// What one registered file system did, counted as it happens. Thread-safe (atomics): the
/// file system adds from any DuckDB thread, anyone may read at any time.
struct TransferStats {
  std::atomic<uint64_t> head_requests{0};
  std::atomic<uint64_t> list_requests{0};  ///< listings (each may be several pages)
  std::atomic<uint64_t> get_requests{0};   ///< ranged GETs
  std::atomic<uint64_t> bytes_fetched{0};  ///< object bytes received by ranged GETs
  std::atomic<uint64_t> objects_written{0};
  std::atomic<uint64_t> parts_uploaded{0};  ///< multipart parts (a small object's PUT: none)
  std::atomic<uint64_t> bytes_uploaded{0};
  /// Multipart uploads given up (abort requests sent, whatever the answer).
  std::atomic<uint64_t> uploads_aborted{0};
};

/// Sizes and limits of the file system's reads and writes. The defaults are what dux uses.
struct S3FileSystemOptions {
  /// A read of at least this many bytes goes to S3 as exactly one ranged GET of those bytes
  /// (the parquet reader's footers and column chunks): no read-ahead, no over-reading.
  uint64_t direct_read_bytes = 1 << 20;
  /// A smaller read that starts where the handle's previous small read ended, or at 0 (CSV,
  /// NDJSON and gzip readers, which ask for 32 KiB and less at a time), fetches this much
  /// from there and serves the following reads from it. Smaller reads elsewhere fetch
  /// exactly their bytes.
  uint64_t read_ahead_bytes = 4 << 20;
  /// Multipart part size for written objects, for the first 1,000 parts; it doubles every
  /// 1,000 parts after (S3 allows 10,000 parts of 5 MiB to 5 GiB, the last may be smaller),
  /// so an object can grow to S3's 5 TiB limit. An object smaller than one part is one PUT.
  uint64_t part_bytes = 8 << 20;
  /// Parts of one object uploading at once while the next one fills; the writer waits for
  /// the oldest when this many are in flight, so a writer holds at most
  /// (parts_in_flight + 1) * part_bytes of memory.
  int parts_in_flight = 4;
  /// Counters this file system adds to (none when null). Shared: the caller keeps reading.
  std::shared_ptr<TransferStats> stats;
  /// Makes the client for a connection's per-run settings (UseS3Settings), once per distinct
  /// settings; null: a connection with settings fails its s3:// paths.
  std::function<Result<std::shared_ptr<s3::Client>>(const s3::ConfigOverrides&)> client_for;
};

/// Registers dux's file system for `s3://` paths in `db`'s virtual file system (DuckDB's
/// C++ `VirtualFileSystem::RegisterSubSystem`, reached through the C handle; not a loadable
/// extension). Every connection of `db` then reads and writes `s3://bucket/key` through
/// `client`: globs on listings, HEAD-once opens, ranged reads checked against the ETag,
/// multipart writes. Call it once per database, before any query runs (DuckDB's list of file
/// systems is not synchronised). No network I/O happens here.
///
/// `client` may be an error (AWS settings that could not be read): registration succeeds and
/// every use of an s3:// path fails with that error, so a broken ~/.aws/config does not stop
/// dux from opening a database that never touches S3.
///
/// Errors: FailedPrecondition when the libduckdb.so loaded at run time is another build than
/// the headers dux was compiled with (C++ layouts would not match); InvalidArgument for a
/// null `db`.
Status RegisterS3FileSystem(duckdb_database db, Result<std::shared_ptr<s3::Client>> client,
                            S3FileSystemOptions options = {});

/// Makes the queries of `connection` (a connection of a database with the file system
/// registered) reach S3 with `overrides` applied over the process's AWS settings: per-run
/// endpoint, region, URL style, TLS and profile (docs/s3.md, "Per-run settings"); other
/// connections keep theirs. Credentials cannot be given here (InvalidArgument): the settings
/// live in the connection's DuckDB setting `dux_s3_settings`, which SQL can read. Empty
/// overrides restore the process's settings.
Status UseS3Settings(duckdb_connection connection, const s3::ConfigOverrides& overrides);

/// Marks the queries of `connection` as one run of dux (a pipeline on the coordinator, a
/// fragment on a worker): what a listing or a HEAD said about an object (size, ETag, time)
/// during the run answers the run's later opens of it without another HEAD; a new run asks
/// again (docs/s3.md, "Reads"). An empty `run` remembers nothing.
Status UseS3Run(duckdb_connection connection, const std::string& run);

/// What `--allow-dir s3://bucket[/prefix]` puts in a confined DuckDB's allowed_directories
/// (with a '/' appended, as for local directories): "s3://bucket" or "s3://bucket/prefix",
/// without a trailing '/'. Every object whose key starts with "prefix/" is then allowed, and
/// nothing else in S3. InvalidArgument, naming the URL, for a bad bucket name, glob
/// characters, or empty, "." or ".." segments in the prefix (DuckDB would resolve those as
/// in a local path; S3 does not: docs/s3.md, "Security").
Result<std::string> S3AllowedDirectory(std::string_view url);

}  // namespace dux::s3_filesystem
