// S3WriteHandle: an S3 object DuckDB writes sequentially: parts uploaded in the background
// while the next one fills, completed on close, aborted otherwise. Private to s3_filesystem;
// docs/s3.md, "File system": writes.
#pragma once

#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "duckdb/common/file_system.hpp"
#include "duckdb/main/client_context.hpp"
#include "dux/common/status.h"
#include "dux/s3/client.h"
#include "dux/s3/s3_path.h"

namespace dux::s3_filesystem {

class S3FileSystem;

/// The size of multipart part `part_number` (1-based): `base` for parts 1 to 1,000, twice
/// that for 1,001 to 2,000, and so on, capped at S3's 5 GiB. With an 8 MiB base, 10,000
/// parts reach beyond S3's 5 TiB object limit.
uint64_t PartSize(uint64_t base, int part_number);

/// One object being written. Bytes are appended (S3 objects cannot be written anywhere
/// else); each full part starts uploading on its own thread and the writer goes on filling
/// the next, waiting for the oldest upload when options().parts_in_flight are running. Close
/// (or FileSync) uploads the rest and completes the upload, or PUTs the whole object when it
/// never filled a part; nothing is visible in S3 before that. A failed part or a failed
/// completion aborts the multipart upload, so no object and no stored parts remain (best
/// effort: the abort's own failure is not reported).
///
/// A handle destroyed without Close is completed only when its query is known to be going
/// well: DuckDB's gzip and zstd writers write their trailer and drop the handle they write
/// through without closing it, on success and on failure alike. So the destructor completes
/// the object when the query that opened it was neither interrupted nor failed (DuckDB sets
/// ClientContext::interrupted on either, before it destroys the writers) and no exception is
/// unwinding; otherwise, or when the query is not known, it aborts. A completion that fails
/// there cannot be reported (destructors do not throw): the object is then missing.
///
/// Not thread-safe: one thread writes (DuckDB's writers are sequential per file). The
/// background uploads hold their own copy of the client and part, never the handle.
class S3WriteHandle final : public duckdb::FileHandle {
 public:
  /// `query` is the DuckDB client whose query opens the object (empty when unknown).
  S3WriteHandle(S3FileSystem& file_system, const std::string& url, duckdb::FileOpenFlags flags,
                s3::S3Path path, duckdb::weak_ptr<duckdb::ClientContext> query,
                std::shared_ptr<s3::Client> client);
  /// Completes an unfinished object when its query is going well, else aborts it (above).
  ~S3WriteHandle() override;

  /// Appends; throws IOException on a failed part (the upload is then aborted).
  void Append(const char* data, uint64_t size);
  /// Bytes appended so far.
  uint64_t size() const { return written_; }
  /// Completes the object; a no-op once done. Throws IOException on failure.
  void Finish();

  void Close() override { Finish(); }

 private:
  struct UploadedPart {
    s3::CompletedPart part;
    uint64_t bytes = 0;
  };
  /// Starts uploading `part_` as the next part (creating the upload first).
  Status StartPart();
  /// Uploads `body` as part `number` on a thread of its own; Unavailable when no thread can
  /// be started.
  Result<std::future<Result<UploadedPart>>> UploadInBackground(int number, std::string body);
  /// Waits for the oldest running part and records its ETag.
  Status CollectOldestPart();
  Status FinishUpload();
  /// Waits for running parts, then asks S3 to drop the upload.
  void Abort();
  /// Aborts and throws `status`.
  [[noreturn]] void Fail(const Status& status);
  /// Whether the opening query has neither failed nor been interrupted, and no exception is
  /// unwinding.
  bool QueryGoingWell() const;

  S3FileSystem& s3_file_system_;
  const s3::S3Path path_;
  const std::shared_ptr<s3::Client> client_;
  const duckdb::weak_ptr<duckdb::ClientContext> query_;
  std::string part_;  // the part being filled
  uint64_t written_ = 0;
  int next_part_number_ = 1;
  std::optional<std::string> upload_id_;
  std::deque<std::future<Result<UploadedPart>>> running_;
  std::vector<s3::CompletedPart> completed_;
  enum class State { kWriting, kFinished, kFailed } state_ = State::kWriting;
};

}  // namespace dux::s3_filesystem
