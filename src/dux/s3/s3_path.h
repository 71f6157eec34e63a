// S3 object paths: parsing `s3://bucket/key`, bucket name rules, and the percent-encoding of
// keys and query values (RFC 3986) used in request URLs and in SigV4 canonical requests.
#pragma once

#include <string>
#include <string_view>

#include "dux/common/status.h"

namespace dux::s3 {

/// A bucket and a key, both as the user wrote them (decoded). The key may be empty (a
/// whole bucket, e.g. a listing prefix). Glob characters (`*`, `?`, `[`) are ordinary key
/// bytes here: matching is the caller's business.
struct S3Path {
  std::string bucket;
  std::string key;

  /// "s3://bucket/key", the form used in every message.
  std::string ToString() const;
  friend bool operator==(const S3Path&, const S3Path&) = default;
};

/// True when `text` starts with "s3://" (lowercase only, as DuckDB's prefixes).
bool IsS3Url(std::string_view text);

/// Parses "s3://bucket" or "s3://bucket/key". Errors are InvalidArgument, one line naming
/// the path: not an s3:// URL, a bad bucket name (ValidateBucketName), a key longer than
/// 1024 bytes or not valid UTF-8.
Result<S3Path> ParseS3Path(std::string_view url);

/// S3's rules for general purpose bucket names: 3 to 63 characters of lowercase letters,
/// digits, '.' and '-', beginning and ending with a letter or digit, no "..", not an IPv4
/// address, none of AWS's reserved prefixes and suffixes. The message says which rule.
Status ValidateBucketName(std::string_view bucket);

/// True when `bucket` can be the first label of a virtual-host URL: a valid bucket name
/// without '.' (a dotted name breaks the TLS wildcard certificate, and AWS's SDKs fall back
/// to path style for it too).
bool IsVirtualHostCompatible(std::string_view bucket);

/// RFC 3986 percent-encoding as SigV4 and S3 want it: every byte except the unreserved
/// set (A-Z a-z 0-9 - . _ ~) becomes %XX with uppercase hex; '/' is kept when
/// `keep_slash` (URL paths) and encoded otherwise (query names and values).
std::string UriEncode(std::string_view text, bool keep_slash);

/// The inverse of UriEncode for any percent-encoded text; with `plus_is_space` a '+'
/// decodes to a space (what S3 does in listings with encoding-type=url). InvalidArgument on
/// a '%' not followed by two hex digits.
Result<std::string> UriDecode(std::string_view text, bool plus_is_space);

}  // namespace dux::s3
