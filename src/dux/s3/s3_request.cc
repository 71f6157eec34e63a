#include "dux/s3/s3_request.h"

#include "dux/s3/digest.h"
#include "dux/s3/s3_path.h"
#include "dux/s3/sigv4.h"

namespace dux::s3 {

std::string S3Request::Describe() const { return method + " s3://" + bucket + "/" + key; }

S3Request HeadObjectRequest(std::string bucket, std::string key) {
  return {"HEAD", std::move(bucket), std::move(key), {}, {}, {}};
}

S3Request GetObjectRequest(std::string bucket, std::string key, std::optional<ByteRange> range,
                           const std::string& if_match) {
  S3Request r{"GET", std::move(bucket), std::move(key), {}, {}, {}};
  if (range) {
    r.headers.emplace_back(
        "Range", "bytes=" + std::to_string(range->first) + "-" + std::to_string(range->last));
  }
  if (!if_match.empty()) r.headers.emplace_back("If-Match", if_match);
  return r;
}

S3Request PutObjectRequest(std::string bucket, std::string key, std::string_view body) {
  S3Request r{"PUT", std::move(bucket), std::move(key), {}, {}, body};
  r.headers.emplace_back("Content-MD5", Md5Base64(body));
  r.unsigned_payload_over_tls = true;
  return r;
}

S3Request ListObjectsV2Request(std::string bucket, const std::string& prefix,
                               const std::optional<std::string>& delimiter,
                               const std::optional<std::string>& continuation_token,
                               std::optional<int> max_keys) {
  S3Request r{"GET", std::move(bucket), "", {{"list-type", "2"}}, {}, {}};
  if (!prefix.empty()) r.query.emplace_back("prefix", prefix);
  if (continuation_token) r.query.emplace_back("continuation-token", *continuation_token);
  if (delimiter) r.query.emplace_back("delimiter", *delimiter);
  if (max_keys) r.query.emplace_back("max-keys", std::to_string(*max_keys));
  r.query.emplace_back("encoding-type", "url");
  return r;
}

S3Request CreateMultipartUploadRequest(std::string bucket, std::string key) {
  return {"POST", std::move(bucket), std::move(key), {{"uploads", ""}}, {}, {}};
}

S3Request UploadPartRequest(std::string bucket, std::string key, const std::string& upload_id,
                            int part_number, std::string_view body) {
  S3Request r{"PUT",
              std::move(bucket),
              std::move(key),
              {{"uploadId", upload_id}, {"partNumber", std::to_string(part_number)}},
              {},
              body};
  r.headers.emplace_back("Content-MD5", Md5Base64(body));
  r.unsigned_payload_over_tls = true;
  return r;
}

S3Request CompleteMultipartUploadRequest(std::string bucket, std::string key,
                                         const std::string& upload_id, std::string_view body) {
  return {"POST", std::move(bucket), std::move(key), {{"uploadId", upload_id}}, {}, body};
}

S3Request AbortMultipartUploadRequest(std::string bucket, std::string key,
                                      const std::string& upload_id) {
  return {"DELETE", std::move(bucket), std::move(key), {{"uploadId", upload_id}}, {}, {}};
}

S3Request DeleteObjectRequest(std::string bucket, std::string key) {
  return {"DELETE", std::move(bucket), std::move(key), {}, {}, {}};
}

S3Request DeleteObjectsRequest(std::string bucket, std::string_view body) {
  S3Request r{"POST", std::move(bucket), "", {{"delete", ""}}, {}, body};
  r.headers.emplace_back("Content-MD5", Md5Base64(body));
  return r;
}

Result<HttpRequest> BuildHttpRequest(const S3Request& request, const Config& config,
                                     std::chrono::system_clock::time_point now) {
  // Path style: host/bucket/key. Virtual host: bucket.host/key. A bucket operation's path is
  // "/bucket" or "/".
  std::string host = config.endpoint.Authority();
  std::string path;
  if (config.StyleFor(request.bucket) == UrlStyle::kVirtualHost) {
    host = request.bucket + "." + host;
    path = "/" + request.key;
  } else {
    path = "/" + request.bucket;
    if (!request.key.empty()) path += "/" + request.key;
  }

  HttpRequest http;
  http.method = request.method;
  http.url = config.endpoint.scheme + "://" + host + UriEncode(path, /*keep_slash=*/true);
  for (size_t i = 0; i < request.query.size(); ++i) {
    const auto& [name, value] = request.query[i];
    http.url += i == 0 ? '?' : '&';
    http.url += UriEncode(name, false);
    if (!value.empty()) http.url += "=" + UriEncode(value, false);
  }
  http.body = request.body;

  const std::string payload_hash = request.unsigned_payload_over_tls && config.endpoint.tls()
                                       ? std::string(kUnsignedPayload)
                                       : Sha256Hex(request.body);
  const std::string amz_date = FormatAmzDate(now);
  SigningRequest signing;
  signing.method = request.method;
  signing.path = path;
  signing.query = request.query;
  signing.payload_hash = payload_hash;
  signing.headers = request.headers;
  signing.headers.emplace_back("Host", host);
  signing.headers.emplace_back("x-amz-content-sha256", payload_hash);
  signing.headers.emplace_back("x-amz-date", amz_date);
  const Credentials& credentials = config.credentials;
  if (!credentials.anonymous() && !credentials.session_token.empty()) {
    signing.headers.emplace_back("x-amz-security-token", credentials.session_token.Reveal());
  }
  http.headers = signing.headers;
  if (!credentials.anonymous()) {
    SigningParams params;
    params.region = config.region;
    params.service = "s3";
    params.amz_date = amz_date;
    DUX_ASSIGN_OR_RETURN(Signature signature, SignV4(signing, credentials, params));
    http.headers.emplace_back("Authorization", std::move(signature.authorization));
  }
  return http;
}

}  // namespace dux::s3
