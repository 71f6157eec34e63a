// HTTP status codes' reason phrases (RFC 9110 section 15), for dux's HTTP server's status
// lines and for errors that name an S3 server's answer.
#pragma once

namespace dux {

/// The reason phrase of `status` ("Not Found" for 404), or "" for a code dux does not name.
const char* HttpReasonPhrase(long status);

}  // namespace dux
