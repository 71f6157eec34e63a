// s3::Client: the S3 operations dux needs (HEAD, ranged GET, listing, PUT, multipart
// upload, delete), with S3's errors turned into one-line Statuses. See docs/s3.md, "Client".
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dux/common/status.h"
#include "dux/s3/config.h"
#include "dux/s3/http_client.h"
#include "dux/s3/object_info.h"

namespace dux::s3 {

struct S3Request;
struct HttpResponse;

/// Talks to one S3 endpoint with one set of credentials (a Config). Thread-safe: one
/// Client serves every thread of a process, sharing its pool of connections. Keys are given
/// decoded ("a b=c.parquet"); buckets and keys are not validated here beyond what S3 does
/// (ParseS3Path validates user input).
///
/// Errors are one line: "s3: VERB s3://bucket/key: STATUS Code: Message", with the
/// credentials' source added on 403 and the attempts on a 5xx that outlived its retries;
/// never a secret. Codes: NotFound (404), PermissionDenied (403), FailedPrecondition (an
/// object that changed, other refusals), OutOfRange (a range past the end), Unavailable (no
/// answer, or 5xx/429 after the retries).
class Client {
 public:
  static Result<std::unique_ptr<Client>> Make(Config config, HttpOptions http_options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Config& config() const { return config_; }

  /// Size, ETag and modification time of an object (one HEAD request).
  Result<ObjectInfo> Head(const std::string& bucket, const std::string& key);

  /// Reads out.size() bytes from `offset` into `out` with one ranged GET. With a non-empty
  /// `expected_etag` (Head's), the request carries If-Match and the answer's ETag is checked
  /// too, so an object replaced since the HEAD fails with FailedPrecondition
  /// "s3: s3://b/k changed during the query ..." instead of mixing two versions (a 404 or
  /// 416 answer is checked with a HEAD: a server that ignores If-Match answers a deleted or
  /// shorter replacement so). OutOfRange
  /// when the object ends before offset + out.size(). A transfer broken midway is retried
  /// from its start.
  Status ReadRange(const std::string& bucket, const std::string& key, uint64_t offset,
                   std::span<char> out, const std::string& expected_etag);
  /// ReadRange into a new string of `length` bytes.
  Result<std::string> GetRange(const std::string& bucket, const std::string& key, uint64_t offset,
                               uint64_t length, const std::string& expected_etag);

  /// Every object under `prefix` (ListObjectsV2, all pages; page_size keys per request, at
  /// most 1000 on AWS), sizes, ETags and times included. With a delimiter, keys below
  /// the next delimiter are folded into common_prefixes. With max_pages > 0, at most that
  /// many pages are asked for (a first page answers "is there anything under this prefix?"
  /// and "does this bucket exist?").
  Result<Listing> List(const std::string& bucket, const std::string& prefix,
                       const std::optional<std::string>& delimiter = std::nullopt,
                       int page_size = 1000, int max_pages = 0);

  /// Writes a whole object in one request (up to 5 GiB); its ETag.
  Result<std::string> Put(const std::string& bucket, const std::string& key, std::string_view body);

  /// Starts a multipart upload; its upload id. Parts are 5 MiB to 5 GiB, but the last.
  Result<std::string> CreateMultipartUpload(const std::string& bucket, const std::string& key);
  /// Uploads part `part_number` (1 to 10000); its ETag, for CompleteMultipartUpload.
  Result<std::string> UploadPart(const std::string& bucket, const std::string& key,
                                 const std::string& upload_id, int part_number,
                                 std::string_view body);
  /// Makes the object from `parts` (ascending part numbers); the object's ETag.
  Result<std::string> CompleteMultipartUpload(const std::string& bucket, const std::string& key,
                                              const std::string& upload_id,
                                              const std::vector<CompletedPart>& parts);
  /// Drops an unfinished upload and its parts.
  Status AbortMultipartUpload(const std::string& bucket, const std::string& key,
                              const std::string& upload_id);

  /// Deletes an object; deleting a missing key succeeds (S3's semantics).
  Status Delete(const std::string& bucket, const std::string& key);
  /// Deletes `keys` in batches of 1000; fails naming the first key S3 would not delete.
  Status DeleteObjects(const std::string& bucket, const std::vector<std::string>& keys);

 private:
  Client(Config config, std::unique_ptr<HttpClient> http);

  /// Signs and sends `request` (with `http_hook`, the HttpRequest is adjusted first: a body
  /// sink); any HTTP answer is returned, only a missing answer is an error.
  Result<HttpResponse> SendRaw(const S3Request& request,
                               const std::function<void(HttpRequest&)>& http_hook = {});
  /// SendRaw, with an answer other than 2xx turned into the operation's error.
  Result<HttpResponse> Send(const S3Request& request);
  Status ErrorFrom(const S3Request& request, const HttpResponse& response) const;

  Config config_;
  std::unique_ptr<HttpClient> http_;
};

}  // namespace dux::s3
