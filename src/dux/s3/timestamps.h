// The two date formats of S3's answers: ISO 8601 in XML, RFC 7231 (IMF-fixdate) in headers.
#pragma once

#include <chrono>
#include <string_view>

#include "dux/common/status.h"

namespace dux::s3 {

/// "2026-12-05T10:50:43.000Z" (fractional seconds optional, kept to the microsecond; a
/// "Z" or a "+hh:mm" offset). InvalidArgument naming the text otherwise.
Result<std::chrono::system_clock::time_point> ParseIso8601(std::string_view text);

/// "Sat, 05 Dec 2026 10:50:43 GMT" (a Last-Modified header). InvalidArgument otherwise.
Result<std::chrono::system_clock::time_point> ParseHttpDate(std::string_view text);

}  // namespace dux::s3
