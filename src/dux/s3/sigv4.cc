#include "dux/s3/sigv4.h"

#include <time.h>

#include <algorithm>
#include <map>

#include "dux/common/ascii.h"
#include "dux/s3/digest.h"
#include "dux/s3/s3_path.h"

namespace dux::s3 {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

// SigV4's Trimall: no leading or trailing white space, and each run of white space inside
// (folded lines included) becomes one space.
std::string TrimAll(std::string_view value) {
  std::string out;
  bool pending_space = false;
  for (char c : value) {
    if (IsAsciiSpace(c)) {
      pending_space = !out.empty();
    } else {
      if (pending_space) out += ' ';
      pending_space = false;
      out += c;
    }
  }
  return out;
}

// RFC 3986 section 5.2.4 on the segments, and empty segments dropped ("//" collapses); a
// trailing slash (or a final "." or "..") keeps the result a directory, as the suite wants.
std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view segment = path.substr(i, j - i);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    i = j + 1;
  }
  std::string out;
  for (std::string_view s : segments) {
    out += '/';
    out += s;
  }
  const bool directory = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..") ||
                         path == "." || path == "..";
  if (out.empty() || directory) out += '/';
  return out;
}

}  // namespace

std::string FormatAmzDate(std::chrono::system_clock::time_point time) {
  time_t seconds = std::chrono::system_clock::to_time_t(time);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char out[32];
  strftime(out, sizeof out, "%Y%m%dT%H%M%SZ", &utc);
  return out;
}

std::string CanonicalUri(std::string_view path, bool normalize_path) {
  if (path.empty()) return "/";
  if (normalize_path) return UriEncode(NormalizePath(path), /*keep_slash=*/true);
  return UriEncode(path, /*keep_slash=*/true);
}

std::string CanonicalQuery(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
  }
  // Sorted by the encoded name, then the encoded value (byte order), as SigV4 specifies.
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

Result<Signature> SignV4(const SigningRequest& request, const Credentials& credentials,
                         const SigningParams& params) {
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return Status::InvalidArgument("sigv4: no access key id or no secret access key to sign with");
  }
  const std::string& date = params.amz_date;
  if (date.size() != 16 || date[8] != 'T' || date[15] != 'Z') {
    return Status::InvalidArgument("sigv4: x-amz-date \"" + date +
                                   "\" is not of the form YYYYMMDDTHHMMSSZ");
  }
  // Lowercased, trimmed names in sorted order; the values of a repeated name in the order
  // given, joined by ','.
  std::map<std::string, std::vector<std::string>> headers;
  for (const auto& [name, value] : request.headers) {
    headers[AsciiLower(TrimAsciiSpace(name))].push_back(TrimAll(value));
  }
  if (!headers.contains("host")) return Status::InvalidArgument("sigv4: no host header to sign");

  Signature out;
  std::string canonical_headers;
  for (const auto& [name, values] : headers) {
    if (!out.signed_headers.empty()) out.signed_headers += ';';
    out.signed_headers += name;
    canonical_headers += name;
    canonical_headers += ':';
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) canonical_headers += ',';
      canonical_headers += values[i];
    }
    canonical_headers += '\n';
  }
  out.canonical_request = request.method + '\n' +
                          CanonicalUri(request.path, params.normalize_path) + '\n' +
                          CanonicalQuery(request.query) + '\n' + canonical_headers + '\n' +
                          out.signed_headers + '\n' + request.payload_hash;

  const std::string day = date.substr(0, 8);
  const std::string scope = day + '/' + params.region + '/' + params.service + "/aws4_request";
  out.string_to_sign = std::string(kAlgorithm) + '\n' + date + '\n' + scope + '\n' +
                       Sha256Hex(out.canonical_request);

  const std::string date_key = HmacSha256("AWS4" + credentials.secret_access_key.Reveal(), day);
  const std::string region_key = HmacSha256(date_key, params.region);
  const std::string service_key = HmacSha256(region_key, params.service);
  const std::string signing_key = HmacSha256(service_key, "aws4_request");
  out.signature = HexEncode(HmacSha256(signing_key, out.string_to_sign));

  out.authorization = std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + '/' +
                      scope + ", SignedHeaders=" + out.signed_headers +
                      ", Signature=" + out.signature;
  return out;
}

}  // namespace dux::s3
