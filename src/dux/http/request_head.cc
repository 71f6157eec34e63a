#include "dux/http/request_head.h"

#include <cctype>

#include "dux/common/ascii.h"

namespace dux::http {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `text`; with `plus_is_space` ('+' in a query or form) '+' becomes ' '. A '%'
// not followed by two hex digits stays as it is, as browsers leave it.
std::string Decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
        HexValue(text[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      out += (plus_is_space && c == '+') ? ' ' : c;
    }
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 &&
        std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string RequestHead::Header(std::string_view name) const {
  for (const auto& [n, value] : headers) {
    if (n == name) return value;
  }
  return "";
}

bool RequestHead::KeepAlive() const {
  std::string connection = AsciiLower(Header("connection"));
  if (connection.find("close") != std::string::npos) return false;
  return !http10 || connection.find("keep-alive") != std::string::npos;
}

void AddUrlEncoded(std::string_view text, std::map<std::string, std::string>* params) {
  while (!text.empty()) {
    size_t end = text.find('&');
    std::string_view field = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (field.empty()) continue;
    size_t equals = field.find('=');
    std::string name = Decode(field.substr(0, equals), true);
    std::string value =
        equals == std::string_view::npos ? "" : Decode(field.substr(equals + 1), true);
    params->emplace(std::move(name), std::move(value));
  }
}

Result<RequestHead> ParseRequestHead(std::string_view head) {
  RequestHead parsed;
  size_t line_end = head.find('\n');
  std::string_view line = Trim(head.substr(0, line_end));
  head = line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 1);
  // METHOD SP TARGET SP HTTP/1.x
  size_t first = line.find(' ');
  size_t last = line.rfind(' ');
  if (first == std::string_view::npos || first == last) {
    return Status::InvalidArgument("malformed request line");
  }
  parsed.method = std::string(line.substr(0, first));
  std::string_view target = line.substr(first + 1, last - first - 1);
  std::string_view version = line.substr(last + 1);
  if (!IsToken(parsed.method)) return Status::InvalidArgument("malformed method");
  if (version == "HTTP/1.0") {
    parsed.http10 = true;
  } else if (version != "HTTP/1.1") {
    return Status::InvalidArgument("unsupported version " + std::string(version));
  }
  if (target.empty() || target.front() != '/' ||
      target.find_first_of(" \t") != std::string_view::npos) {
    return Status::InvalidArgument("malformed request target");
  }
  size_t query = target.find('?');
  parsed.path = Decode(target.substr(0, query), false);
  if (query != std::string_view::npos) AddUrlEncoded(target.substr(query + 1), &parsed.params);
  while (!head.empty()) {
    line_end = head.find('\n');
    line = head.substr(0, line_end);
    head = line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    // No blank before the colon (RFC 9112 5.1), no folded lines.
    if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
      return Status::InvalidArgument("malformed header field");
    }
    parsed.headers.emplace_back(AsciiLower(std::string(line.substr(0, colon))),
                                std::string(Trim(line.substr(colon + 1))));
  }
  return parsed;
}

}  // namespace dux::http
