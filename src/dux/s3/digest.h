// The digests S3 requests need, on OpenSSL's libcrypto: SHA-256 (payload hashes, SigV4),
// HMAC-SHA256 (SigV4 keys and signatures), MD5 (Content-MD5), hex and base64.
#pragma once

#include <string>
#include <string_view>

namespace dux::s3 {

/// The 32-byte SHA-256 of `data`, raw.
std::string Sha256(std::string_view data);
/// The SHA-256 of `data` as 64 lowercase hex digits.
std::string Sha256Hex(std::string_view data);
/// The 32-byte HMAC-SHA256 of `data` under `key`, raw.
std::string HmacSha256(std::string_view key, std::string_view data);
/// The MD5 of `data`, base64-encoded (a Content-MD5 header value).
std::string Md5Base64(std::string_view data);
/// Lowercase hex of raw bytes.
std::string HexEncode(std::string_view bytes);
/// Standard base64 (with padding) of raw bytes.
std::string Base64Encode(std::string_view bytes);

}  // namespace dux::s3
