#include <algorithm>
#include <exception>
#include <system_error>

#include "file_system_internal.h"
#include "write_handle_internal.h"

namespace dux::s3_filesystem {

namespace {

constexpr uint64_t kMaxPartSize = uint64_t{5} << 30;  // S3's limit
constexpr int kMaxParts = 10000;                      // S3's limit

}  // namespace

uint64_t PartSize(uint64_t base, int part_number) {
  int doublings = std::min((part_number - 1) / 1000, 20);
  return std::min(base << doublings, kMaxPartSize);
}

S3WriteHandle::S3WriteHandle(S3FileSystem& file_system, const std::string& url,
                             duckdb::FileOpenFlags flags, s3::S3Path path,
                             duckdb::weak_ptr<duckdb::ClientContext> query,
                             std::shared_ptr<s3::Client> client)
    : duckdb::FileHandle(file_system, url, flags),
      s3_file_system_(file_system),
      path_(std::move(path)),
      client_(std::move(client)),
      query_(std::move(query)) {}

S3WriteHandle::~S3WriteHandle() {
  if (state_ != State::kWriting) return;
  if (QueryGoingWell() && FinishUpload().ok()) return;
  Abort();
}

Result<std::future<Result<S3WriteHandle::UploadedPart>>> S3WriteHandle::UploadInBackground(
    int number, std::string body) {
  try {
    return std::async(std::launch::async,
                      [client = client_, path = path_, id = *upload_id_, number,
                       body = std::move(body)]() -> Result<UploadedPart> {
                        DUX_ASSIGN_OR_RETURN(
                            std::string etag,
                            client->UploadPart(path.bucket, path.key, id, number, body));
                        return UploadedPart{{number, std::move(etag)}, body.size()};
                      });
  } catch (const std::system_error& e) {  // no thread to be had
    return Status::Unavailable("s3: uploading part " + std::to_string(number) + " of " +
                               path_.ToString() + ": " + e.what());
  }
}

bool S3WriteHandle::QueryGoingWell() const {
  if (std::uncaught_exceptions() > 0) return false;
  duckdb::shared_ptr<duckdb::ClientContext> query = query_.lock();
  return query != nullptr && !query->interrupted.load();
}

void S3WriteHandle::Append(const char* data, uint64_t size) {
  if (state_ != State::kWriting) {
    ThrowIOException(Status::FailedPrecondition("s3: writing to " + path_.ToString() +
                                                " after it was closed or failed"));
  }
  while (size > 0) {
    uint64_t room =
        PartSize(s3_file_system_.options().part_bytes, next_part_number_) - part_.size();
    uint64_t take = std::min(room, size);
    part_.append(data, take);
    data += take;
    size -= take;
    written_ += take;
    if (take == room) {
      Status status = StartPart();
      if (!status.ok()) Fail(status);
    }
  }
}

Status S3WriteHandle::StartPart() {
  if (next_part_number_ > kMaxParts) {
    return Status::FailedPrecondition("s3: " + path_.ToString() + " needs more than " +
                                      std::to_string(kMaxParts) + " parts");
  }
  if (!upload_id_) {
    DUX_ASSIGN_OR_RETURN(std::string id, client_->CreateMultipartUpload(path_.bucket, path_.key));
    upload_id_ = std::move(id);
  }
  while (static_cast<int>(running_.size()) >=
         std::max(1, s3_file_system_.options().parts_in_flight)) {
    DUX_RETURN_NOT_OK(CollectOldestPart());
  }
  const int number = next_part_number_++;
  DUX_ASSIGN_OR_RETURN(std::future<Result<UploadedPart>> upload,
                       UploadInBackground(number, std::move(part_)));
  running_.push_back(std::move(upload));
  part_ = std::string();
  return Status::OK();
}

Status S3WriteHandle::CollectOldestPart() {
  Result<UploadedPart> uploaded = running_.front().get();
  running_.pop_front();
  if (!uploaded.ok()) return uploaded.status();
  s3_file_system_.Count(&TransferStats::parts_uploaded);
  s3_file_system_.Count(&TransferStats::bytes_uploaded, uploaded->bytes);
  completed_.push_back(std::move(uploaded->part));
  return Status::OK();
}

Status S3WriteHandle::FinishUpload() {
  if (!upload_id_) {
    // Never filled a part: one PUT (an empty object included).
    DUX_RETURN_NOT_OK(client_->Put(path_.bucket, path_.key, part_).status());
    s3_file_system_.Count(&TransferStats::bytes_uploaded, part_.size());
  } else {
    // The last part may be smaller than 5 MiB; an object of exactly whole parts has none.
    if (!part_.empty()) DUX_RETURN_NOT_OK(StartPart());
    while (!running_.empty()) DUX_RETURN_NOT_OK(CollectOldestPart());
    std::sort(completed_.begin(), completed_.end(),
              [](const s3::CompletedPart& a, const s3::CompletedPart& b) {
                return a.part_number < b.part_number;
              });
    DUX_RETURN_NOT_OK(
        client_->CompleteMultipartUpload(path_.bucket, path_.key, *upload_id_, completed_)
            .status());
  }
  s3_file_system_.Count(&TransferStats::objects_written);
  return Status::OK();
}

void S3WriteHandle::Finish() {
  if (state_ == State::kFinished) return;
  if (state_ == State::kFailed) {
    ThrowIOException(
        Status::FailedPrecondition("s3: closing " + path_.ToString() + " after it failed"));
  }
  Status status = FinishUpload();
  // What a reader of this process remembered of the object is now stale, done or not.
  s3_file_system_.Forget(GetPath());
  if (!status.ok()) Fail(status);
  state_ = State::kFinished;
  part_ = std::string();
}

void S3WriteHandle::Abort() {
  // Wait for every running part (counting those that arrived), so that none lands after
  // the abort.
  for (auto& running : running_) {
    Result<UploadedPart> uploaded = running.get();
    if (uploaded.ok()) {
      s3_file_system_.Count(&TransferStats::parts_uploaded);
      s3_file_system_.Count(&TransferStats::bytes_uploaded, uploaded->bytes);
    }
  }
  running_.clear();
  if (upload_id_) {
    // Best effort; a server that cannot abort (s3rver answers 405) leaves its parts.
    s3_file_system_.Count(&TransferStats::uploads_aborted);
    (void)client_->AbortMultipartUpload(path_.bucket, path_.key, *upload_id_);
    upload_id_.reset();
  }
  part_ = std::string();
}

void S3WriteHandle::Fail(const Status& status) {
  state_ = State::kFailed;
  Abort();
  ThrowIOException(status);
}

}  // namespace dux::s3_filesystem
