// What HTTP request each S3 operation is, and how one becomes a signed request for an
// endpoint: URL style, encoding, x-amz-* headers, SigV4. The Client sends what this builds;
// the botocore comparison test signs the same requests (sign_requests_testing.cc).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dux/common/status.h"
#include "dux/s3/config.h"
#include "dux/s3/http_client.h"

namespace dux::s3 {

/// One S3 operation as HTTP, before an endpoint and a signature: names decoded.
struct S3Request {
  std::string method;
  std::string bucket;
  std::string key;                                           ///< empty for operations on the bucket
  std::vector<std::pair<std::string, std::string>> query;    ///< decoded names and values
  std::vector<std::pair<std::string, std::string>> headers;  ///< sent and signed
  std::string_view body;  ///< not owned: alive until the request is sent
  /// Over TLS, sign "UNSIGNED-PAYLOAD" instead of the body's SHA-256: for object data that
  /// also carries a Content-MD5 (PUT, UploadPart), as the AWS SDKs do. TLS protects it in
  /// transit and S3 checks the MD5, and a part is not hashed twice. Over plain HTTP the
  /// payload is always signed.
  bool unsigned_payload_over_tls = false;

  /// "GET s3://bucket/key", the start of every message about this request.
  std::string Describe() const;
};

/// Bytes [first, last] of an object, both included (HTTP's Range).
struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;
};

S3Request HeadObjectRequest(std::string bucket, std::string key);
/// With `if_match` (an ETag) S3 answers 412 when the object is no longer that version.
S3Request GetObjectRequest(std::string bucket, std::string key, std::optional<ByteRange> range,
                           const std::string& if_match);
/// Sends a Content-MD5 of `body` (S3 refuses a body that arrives damaged).
S3Request PutObjectRequest(std::string bucket, std::string key, std::string_view body);
/// ListObjectsV2 asking for url-encoded keys (XML 1.0 cannot carry every key byte).
S3Request ListObjectsV2Request(std::string bucket, const std::string& prefix,
                               const std::optional<std::string>& delimiter,
                               const std::optional<std::string>& continuation_token,
                               std::optional<int> max_keys);
S3Request CreateMultipartUploadRequest(std::string bucket, std::string key);
S3Request UploadPartRequest(std::string bucket, std::string key, const std::string& upload_id,
                            int part_number, std::string_view body);
/// `body` is CompleteMultipartUploadXml's.
S3Request CompleteMultipartUploadRequest(std::string bucket, std::string key,
                                         const std::string& upload_id, std::string_view body);
S3Request AbortMultipartUploadRequest(std::string bucket, std::string key,
                                      const std::string& upload_id);
S3Request DeleteObjectRequest(std::string bucket, std::string key);
/// `body` is DeleteObjectsXml's; S3 requires its Content-MD5.
S3Request DeleteObjectsRequest(std::string bucket, std::string_view body);

/// The request to send to config's endpoint at time `now`: the URL in the bucket's style
/// (Config::StyleFor) with the key and query percent-encoded once, a Host header,
/// x-amz-content-sha256 (the payload's SHA-256, or UNSIGNED-PAYLOAD, see
/// S3Request::unsigned_payload_over_tls), x-amz-date, the session token, and Authorization
/// (not when the credentials are anonymous). Thread-safe (pure).
Result<HttpRequest> BuildHttpRequest(const S3Request& request, const Config& config,
                                     std::chrono::system_clock::time_point now);

}  // namespace dux::s3
