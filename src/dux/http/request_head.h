// The head of an HTTP/1.1 request (request line and header fields, RFC 9112) as the server
// reads it, and the percent-encoded forms in its target and in a form's body.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dux/common/status.h"

namespace dux::http {

struct RequestHead {
  std::string method;  ///< as sent: "GET", "POST", ...
  std::string path;    ///< the target's path, percent-decoded, without its query
  /// The target's query parameters, decoded ('+' is a space); the first of a repeated name.
  std::map<std::string, std::string> params;
  /// Header fields in order, names in lower case, values without surrounding blanks.
  std::vector<std::pair<std::string, std::string>> headers;
  bool http10 = false;  ///< HTTP/1.0: the connection closes after the answer unless kept alive

  /// The first value of header `name` (lower case), or empty.
  std::string Header(std::string_view name) const;
  /// Whether the client asked to keep the connection open after this request.
  bool KeepAlive() const;
};

/// Parses `head`: the bytes before the blank line that ends it, CRLF or bare LF line ends.
/// InvalidArgument with what is malformed (the server answers 400).
Result<RequestHead> ParseRequestHead(std::string_view head);

/// Adds the fields of `text` ("a=1&b=x+y%21") to `params`, decoded; a name already present
/// keeps its first value.
void AddUrlEncoded(std::string_view text, std::map<std::string, std::string>* params);

}  // namespace dux::http
