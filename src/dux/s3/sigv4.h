// AWS Signature Version 4 (header-based), written on OpenSSL: the canonical request, the
// string to sign, the signing key and the Authorization header. See docs/s3.md, "Client".
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dux/common/status.h"
#include "dux/s3/credentials.h"

namespace dux::s3 {

/// The payload hash of a request whose body is not signed (S3 accepts it over TLS).
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

/// One HTTP request as SigV4 sees it. Everything is given decoded: the signer encodes the
/// path and the query itself, so that each byte is encoded exactly once.
struct SigningRequest {
  std::string method;  ///< "GET", "PUT"...
  /// The URL path decoded, e.g. "/lake/a b=c.parquet"; "" is "/". Each segment is
  /// percent-encoded once (UriEncode keeping '/'), which is what S3 wants; no '.' or '..'
  /// segment is resolved unless SigningParams::normalize_path.
  std::string path;
  /// Query parameters, decoded names and values ("continuation-token", "1/a+b="); a
  /// parameter without a value ("uploads") has an empty value. Order does not matter.
  std::vector<std::pair<std::string, std::string>> query;
  /// Every header to sign, "host" and "x-amz-date" included (and x-amz-security-token with
  /// temporary credentials, x-amz-content-sha256 for S3): any case, repeated names allowed
  /// (their values are joined with ',' in the order given).
  std::vector<std::pair<std::string, std::string>> headers;
  /// Hex SHA-256 of the body, or kUnsignedPayload; must equal x-amz-content-sha256 when the
  /// request carries that header.
  std::string payload_hash;
};

struct SigningParams {
  std::string region;          ///< "us-east-1"
  std::string service = "s3";  ///< the suite's vectors use "service"
  std::string amz_date;        ///< the x-amz-date value, "20150830T123600Z" (FormatAmzDate)
  /// Resolve '.' and '..' segments and collapse repeated '/' before encoding: what every AWS
  /// service but S3 does. S3 signs the path as sent (an object key may hold "//" or "..").
  bool normalize_path = false;
};

/// Every intermediate of one signature, for tests and debugging (they hold no secret: the
/// signing key is not kept).
struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  ///< "host;x-amz-date"
  std::string signature;       ///< 64 hex digits
  std::string authorization;   ///< the Authorization header value
};

/// "YYYYMMDDTHHMMSSZ" in UTC, the x-amz-date format.
std::string FormatAmzDate(std::chrono::system_clock::time_point time);

/// Signs `request`. InvalidArgument when the credentials have no access key or secret, the
/// request has no host header, or amz_date is not in the x-amz-date format. Thread-safe
/// (pure).
Result<Signature> SignV4(const SigningRequest& request, const Credentials& credentials,
                         const SigningParams& params);

/// The canonical URI of a decoded path (see SigningRequest::path), exposed for tests.
std::string CanonicalUri(std::string_view path, bool normalize_path);

/// The canonical query string: names and values encoded, sorted by name then value.
std::string CanonicalQuery(const std::vector<std::pair<std::string, std::string>>& query);

}  // namespace dux::s3
