#include "dux/pg/conninfo.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

namespace dux::pg {

namespace {

constexpr std::string_view kMask = "***";

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

bool IsPasswordKey(std::string_view key) {
  if (key.size() != 8) return false;
  for (size_t i = 0; i < key.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(key[i])) != "password"[i]) return false;
  }
  return true;
}

bool IsUri(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && IsSpace(s[i])) ++i;
  s.remove_prefix(i);
  return s.starts_with("postgresql://") || s.starts_with("postgres://");
}

// One `key = value` of the keyword/value form: where the value starts and ends in the
// text, and the value as libpq decodes it.
struct Pair {
  std::string_view key;
  size_t value_begin = 0;
  size_t value_end = 0;  ///< == value_begin when the value is missing
  std::string value;
};

// Splits the keyword/value form the way libpq's conninfo_parse does, but never fails:
// a keyword without `=` gets an empty value running to the end of its word.
std::vector<Pair> ParsePairs(std::string_view s) {
  std::vector<Pair> pairs;
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    while (i < n && IsSpace(s[i])) ++i;
    if (i >= n) break;
    const size_t key_begin = i;
    while (i < n && !IsSpace(s[i]) && s[i] != '=') ++i;
    Pair pair;
    pair.key = s.substr(key_begin, i - key_begin);
    while (i < n && IsSpace(s[i])) ++i;
    if (i >= n || s[i] != '=') {
      // No value: the next word is not this keyword's; nothing to decode.
      pair.value_begin = pair.value_end = i;
      pairs.push_back(std::move(pair));
      continue;
    }
    ++i;  // '='
    while (i < n && IsSpace(s[i])) ++i;
    pair.value_begin = i;
    if (i < n && s[i] == '\'') {
      ++i;
      while (i < n && s[i] != '\'') {
        if (s[i] == '\\' && i + 1 < n) ++i;
        pair.value += s[i++];
      }
      if (i < n) ++i;  // closing quote (a missing one runs to the end)
    } else {
      while (i < n && !IsSpace(s[i])) {
        if (s[i] == '\\' && i + 1 < n) ++i;
        pair.value += s[i++];
      }
    }
    pair.value_end = i;
    pairs.push_back(std::move(pair));
  }
  return pairs;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// The password spans of a URI: [begin, end) offsets of the userinfo password and of every
// `password=` query value.
struct Span {
  size_t begin;
  size_t end;
};

std::vector<Span> UriPasswordSpans(std::string_view s) {
  std::vector<Span> spans;
  const size_t scheme_end = s.find("://") + 3;
  size_t query = s.find('?', scheme_end);
  const size_t authority_end = query == std::string_view::npos ? s.size() : query;
  // The userinfo ends at the last '@' before the query, so that an unencoded '@' or '/'
  // inside the password is still covered.
  size_t at = s.rfind('@', authority_end == 0 ? 0 : authority_end - 1);
  if (at != std::string_view::npos && at >= scheme_end) {
    size_t colon = s.find(':', scheme_end);
    if (colon != std::string_view::npos && colon < at) spans.push_back({colon + 1, at});
  }
  if (query != std::string_view::npos) {
    size_t i = query + 1;
    while (i <= s.size()) {
      size_t amp = s.find('&', i);
      if (amp == std::string_view::npos) amp = s.size();
      std::string_view param = s.substr(i, amp - i);
      size_t eq = param.find('=');
      if (eq != std::string_view::npos && IsPasswordKey(PercentDecode(param.substr(0, eq)))) {
        spans.push_back({i + eq + 1, amp});
      }
      i = amp + 1;
    }
  }
  return spans;
}

std::string ReplaceSpans(std::string_view s, const std::vector<Span>& spans) {
  std::string out;
  size_t at = 0;
  for (const Span& span : spans) {
    out.append(s.substr(at, span.begin - at));
    out.append(kMask);
    at = span.end;
  }
  out.append(s.substr(at));
  return out;
}

}  // namespace

std::string Redact(std::string_view conninfo) {
  std::vector<Span> spans;
  if (IsUri(conninfo)) {
    spans = UriPasswordSpans(conninfo);
  } else {
    for (const Pair& pair : ParsePairs(conninfo)) {
      if (!IsPasswordKey(pair.key)) continue;
      size_t end = pair.value_end;
      if (end == pair.value_begin) {
        // `password` without `=`: hide the next word too, in case it is the secret.
        end = pair.value_begin;
        while (end < conninfo.size() && IsSpace(conninfo[end])) ++end;
        while (end < conninfo.size() && !IsSpace(conninfo[end])) ++end;
        if (end == pair.value_begin) continue;
      }
      spans.push_back({pair.value_begin, end});
    }
  }
  return ReplaceSpans(conninfo, spans);
}

std::string RedactText(std::string_view text) {
  std::vector<Span> spans;
  const size_t n = text.size();
  for (size_t i = 0; i + 8 <= n; ++i) {
    if (!IsPasswordKey(text.substr(i, 8))) continue;
    size_t j = i + 8;
    while (j < n && IsSpace(text[j])) ++j;
    if (j >= n || text[j] != '=') continue;
    ++j;
    while (j < n && IsSpace(text[j])) ++j;
    size_t begin = j;
    if (j < n && text[j] == '\'') {
      for (++j; j < n && text[j] != '\''; ++j) {
        if (text[j] == '\\') ++j;
      }
      j = std::min(j + 1, n);
    } else {
      while (j < n && !IsSpace(text[j])) ++j;
    }
    if (j > begin) spans.push_back({begin, j});
    i = j == 0 ? 0 : j - 1;
  }
  for (std::string_view scheme : {"postgresql://", "postgres://"}) {
    for (size_t at = text.find(scheme); at != std::string_view::npos;
         at = text.find(scheme, at + 1)) {
      size_t start = at + scheme.size();
      size_t end = start;
      while (end < n && !IsSpace(text[end]) && text[end] != '"' && text[end] != '\'' &&
             text[end] != '?') {
        ++end;
      }
      size_t sign = text.rfind('@', end == 0 ? 0 : end - 1);
      if (sign == std::string_view::npos || sign < start) continue;
      size_t colon = text.find(':', start);
      if (colon < sign) spans.push_back({colon + 1, sign});
    }
  }
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin < b.begin; });
  // Overlapping spans (a URI's ?password=) merge.
  std::vector<Span> merged;
  for (const Span& span : spans) {
    if (!merged.empty() && span.begin <= merged.back().end) {
      merged.back().end = std::max(merged.back().end, span.end);
    } else {
      merged.push_back(span);
    }
  }
  return ReplaceSpans(text, merged);
}

std::string PasswordOf(std::string_view conninfo) {
  if (IsUri(conninfo)) {
    std::string password;
    for (const Span& span : UriPasswordSpans(conninfo)) {
      password = PercentDecode(conninfo.substr(span.begin, span.end - span.begin));
    }
    return password;
  }
  std::string password;
  for (const Pair& pair : ParsePairs(conninfo)) {
    if (IsPasswordKey(pair.key)) password = pair.value;
  }
  return password;
}

std::string Scrub(std::string message, std::string_view conninfo) {
  auto replace_all = [&message](std::string_view from, std::string_view to) {
    if (from.empty()) return;
    for (size_t at = message.find(from); at != std::string::npos;
         at = message.find(from, at + to.size())) {
      message.replace(at, from.size(), to);
    }
  };
  const std::string redacted = Redact(conninfo);
  if (redacted != conninfo) replace_all(conninfo, redacted);
  const std::string password = PasswordOf(conninfo);
  if (password.size() >= 4) replace_all(password, kMask);
  return message;
}

}  // namespace dux::pg
