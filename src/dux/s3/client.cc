#include "dux/s3/client.h"

#include <cstring>
#include <set>

#include "dux/common/http_status.h"
#include "dux/s3/s3_request.h"
#include "dux/s3/s3_xml.h"
#include "dux/s3/timestamps.h"

namespace dux::s3 {

namespace {

constexpr size_t kDeleteBatch = 1000;  // S3's limit per DeleteObjects request

std::string ChangedMessage(const std::string& bucket, const std::string& key,
                           const std::string& detail) {
  return "s3: s3://" + bucket + "/" + key + " changed during the query (" + detail + ")";
}

}  // namespace

Client::Client(Config config, std::unique_ptr<HttpClient> http)
    : config_(std::move(config)), http_(std::move(http)) {}

Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Make(Config config, HttpOptions http_options) {
  DUX_ASSIGN_OR_RETURN(std::unique_ptr<HttpClient> http, HttpClient::Make(http_options));
  return std::unique_ptr<Client>(new Client(std::move(config), std::move(http)));
}

Result<HttpResponse> Client::SendRaw(const S3Request& request,
                                     const std::function<void(HttpRequest&)>& http_hook) {
  DUX_ASSIGN_OR_RETURN(HttpRequest http,
                       BuildHttpRequest(request, config_, std::chrono::system_clock::now()));
  if (http_hook) http_hook(http);
  Result<HttpResponse> response = http_->Send(http);
  if (!response.ok()) return response.status().WithPrefix("s3: " + request.Describe());
  return response;
}

Result<HttpResponse> Client::Send(const S3Request& request) {
  DUX_ASSIGN_OR_RETURN(HttpResponse response, SendRaw(request));
  if (response.status < 200 || response.status > 299) return ErrorFrom(request, response);
  return response;
}

Status Client::ErrorFrom(const S3Request& request, const HttpResponse& response) const {
  const long status = response.status;
  std::optional<S3Error> error = ParseError(response.body);
  std::string text = "s3: " + request.Describe() + ": " + std::to_string(status);
  if (error && !error->code.empty()) {
    text += " " + error->code;
    if (!error->message.empty()) text += ": " + error->message;
  } else {
    // A HEAD answer has no body; a proxy's error page is no S3 error: the reason phrase.
    const std::string phrase = HttpReasonPhrase(status);
    if (!phrase.empty()) text += " " + phrase;
    if (status == 404 && request.method == "HEAD") text += ": no such object (or no such bucket)";
  }
  if (const std::string* region = response.Header("x-amz-bucket-region");
      region != nullptr && *region != config_.region) {
    text += " (the bucket is in region " + *region + ", not " + config_.region + ")";
  }
  switch (status) {
    case 404:
      return Status::NotFound(text);
    case 403:
      return Status(StatusCode::kPermissionDenied,
                    text + " (credentials: " + config_.credentials_source + ")");
    case 416:
      return Status(StatusCode::kOutOfRange, text);
    default:
      if (HttpClient::IsRetryableStatus(status)) {
        return Status::Unavailable(text + " (after " + std::to_string(response.attempts) +
                                   (response.attempts == 1 ? " attempt)" : " attempts)"));
      }
      return Status::IOError(text);
  }
}

Result<ObjectInfo> Client::Head(const std::string& bucket, const std::string& key) {
  const S3Request request = HeadObjectRequest(bucket, key);
  DUX_ASSIGN_OR_RETURN(HttpResponse response, Send(request));
  ObjectInfo info;
  const std::string* length = response.Header("content-length");
  if (length == nullptr || length->empty() || length->size() > 20 ||
      length->find_first_not_of("0123456789") != std::string::npos) {
    return Status::IOError("s3: " + request.Describe() + ": the answer has no Content-Length");
  }
  info.size = std::strtoull(length->c_str(), nullptr, 10);
  if (const std::string* etag = response.Header("etag")) info.etag = *etag;
  // A server that omits or garbles Last-Modified leaves the epoch: reads do not need it.
  if (const std::string* modified = response.Header("last-modified")) {
    Result<std::chrono::system_clock::time_point> time = ParseHttpDate(*modified);
    if (time.ok()) info.last_modified = *time;
  }
  return info;
}

Status Client::ReadRange(const std::string& bucket, const std::string& key, uint64_t offset,
                         std::span<char> out, const std::string& expected_etag) {
  if (out.empty()) return Status::OK();
  const S3Request request =
      GetObjectRequest(bucket, key, ByteRange{offset, offset + out.size() - 1}, expected_etag);
  size_t written = 0;
  Result<HttpResponse> response = SendRaw(request, [&](HttpRequest& http) {
    http.body_sink = [&](std::string_view piece) {
      if (piece.size() > out.size() - written) {
        // Send prefixes the request.
        return Status::IOError("the server sent more than the " + std::to_string(out.size()) +
                               " bytes asked for");
      }
      std::memcpy(out.data() + written, piece.data(), piece.size());
      written += piece.size();
      return Status::OK();
    };
    http.restart_sink = [&] { written = 0; };
  });
  if (!response.ok()) return response.status();
  if (response->status == 412 && !expected_etag.empty()) {
    return Status::FailedPrecondition(ChangedMessage(
        bucket, key, "its ETag is no longer " + expected_etag + ": the object was replaced"));
  }
  if ((response->status == 404 || response->status == 416) && !expected_etag.empty()) {
    // Servers that ignore If-Match (s3rver) answer a shorter or deleted replacement with
    // "range not satisfiable" or "no such key": say what happened to the object instead.
    Result<ObjectInfo> now = Head(bucket, key);
    if (!now.ok() && now.status().code() == StatusCode::kNotFound) {
      return Status::FailedPrecondition(
          ChangedMessage(bucket, key, "ETag " + expected_etag + ": the object was deleted"));
    }
    if (now.ok() && now->etag != expected_etag) {
      return Status::FailedPrecondition(
          ChangedMessage(bucket, key, "ETag " + expected_etag + " became " + now->etag));
    }
  }
  if (response->status < 200 || response->status > 299) return ErrorFrom(request, *response);
  if (!expected_etag.empty()) {
    // Servers that ignore If-Match still name the version they sent.
    const std::string* etag = response->Header("etag");
    if (etag != nullptr && *etag != expected_etag) {
      return Status::FailedPrecondition(
          ChangedMessage(bucket, key, "ETag " + expected_etag + " became " + *etag));
    }
  }
  if (written < out.size()) {
    std::string size;
    if (const std::string* range = response->Header("content-range")) {
      size = range->substr(range->find('/') + 1);
    }
    return Status(StatusCode::kOutOfRange,
                  "s3: " + request.Describe() + ": bytes " + std::to_string(offset) + " to " +
                      std::to_string(offset + out.size() - 1) + " asked, but the object has " +
                      (size.empty() ? "fewer" : size + " bytes"));
  }
  return Status::OK();
}

Result<std::string> Client::GetRange(const std::string& bucket, const std::string& key,
                                     uint64_t offset, uint64_t length,
                                     const std::string& expected_etag) {
  std::string out(length, '\0');
  DUX_RETURN_NOT_OK(ReadRange(bucket, key, offset, std::span<char>(out), expected_etag));
  return out;
}

Result<Listing> Client::List(const std::string& bucket, const std::string& prefix,
                             const std::optional<std::string>& delimiter, int page_size,
                             int max_pages) {
  Listing listing;
  std::optional<std::string> token;
  std::set<std::string> seen_tokens;  // a server that repeats a token would loop forever
  for (int pages = 1;; ++pages) {
    const S3Request request = ListObjectsV2Request(bucket, prefix, delimiter, token, page_size);
    DUX_ASSIGN_OR_RETURN(HttpResponse response, Send(request));
    Result<ListPage> page = ParseListObjectsV2(response.body);
    if (!page.ok()) return page.status().WithPrefix("s3: " + request.Describe());
    for (ListedObject& object : page->listing.objects) listing.objects.push_back(std::move(object));
    for (std::string& p : page->listing.common_prefixes) {
      listing.common_prefixes.push_back(std::move(p));
    }
    if (!page->truncated || pages == max_pages) return listing;
    if (!seen_tokens.insert(page->next_continuation_token).second) {
      return Status::IOError("s3: " + request.Describe() +
                             ": the server repeated a continuation token");
    }
    token = page->next_continuation_token;
  }
}

Result<std::string> Client::Put(const std::string& bucket, const std::string& key,
                                std::string_view body) {
  DUX_ASSIGN_OR_RETURN(HttpResponse response, Send(PutObjectRequest(bucket, key, body)));
  const std::string* etag = response.Header("etag");
  return etag == nullptr ? std::string() : *etag;
}

Result<std::string> Client::CreateMultipartUpload(const std::string& bucket,
                                                  const std::string& key) {
  const S3Request request = CreateMultipartUploadRequest(bucket, key);
  DUX_ASSIGN_OR_RETURN(HttpResponse response, Send(request));
  Result<std::string> upload_id = ParseCreateMultipartUpload(response.body);
  if (!upload_id.ok()) return upload_id.status().WithPrefix("s3: " + request.Describe());
  return upload_id;
}

Result<std::string> Client::UploadPart(const std::string& bucket, const std::string& key,
                                       const std::string& upload_id, int part_number,
                                       std::string_view body) {
  const S3Request request = UploadPartRequest(bucket, key, upload_id, part_number, body);
  DUX_ASSIGN_OR_RETURN(HttpResponse response, Send(request));
  const std::string* etag = response.Header("etag");
  if (etag == nullptr || etag->empty()) {
    return Status::IOError("s3: " + request.Describe() + ": part " + std::to_string(part_number) +
                           " was answered without an ETag");
  }
  return *etag;
}

Result<std::string> Client::CompleteMultipartUpload(const std::string& bucket,
                                                    const std::string& key,
                                                    const std::string& upload_id,
                                                    const std::vector<CompletedPart>& parts) {
  const std::string body = CompleteMultipartUploadXml(parts);
  const S3Request request = CompleteMultipartUploadRequest(bucket, key, upload_id, body);
  DUX_ASSIGN_OR_RETURN(HttpResponse response, Send(request));
  Result<std::string> etag = ParseCompleteMultipartUpload(response.body);
  if (!etag.ok()) {
    return Status::IOError("s3: " + request.Describe() + ": " + etag.status().message());
  }
  return etag;
}

Status Client::AbortMultipartUpload(const std::string& bucket, const std::string& key,
                                    const std::string& upload_id) {
  return Send(AbortMultipartUploadRequest(bucket, key, upload_id)).status();
}

Status Client::Delete(const std::string& bucket, const std::string& key) {
  return Send(DeleteObjectRequest(bucket, key)).status();
}

Status Client::DeleteObjects(const std::string& bucket, const std::vector<std::string>& keys) {
  for (size_t begin = 0; begin < keys.size(); begin += kDeleteBatch) {
    const std::vector<std::string> batch(
        keys.begin() + static_cast<std::ptrdiff_t>(begin),
        keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), begin + kDeleteBatch)));
    const std::string body = DeleteObjectsXml(batch);
    const S3Request request = DeleteObjectsRequest(bucket, body);
    DUX_ASSIGN_OR_RETURN(HttpResponse response, Send(request));
    Result<std::vector<DeleteFailure>> failures = ParseDeleteResult(response.body);
    if (!failures.ok()) return failures.status().WithPrefix("s3: " + request.Describe());
    if (!failures->empty()) {
      const DeleteFailure& first = failures->front();
      return Status::IOError("s3: " + request.Describe() + ": " + std::to_string(failures->size()) +
                             " of " + std::to_string(batch.size()) +
                             " keys not deleted, the first \"" + first.key +
                             "\": " + first.error.code + ": " + first.error.message);
    }
  }
  return Status::OK();
}

}  // namespace dux::s3
