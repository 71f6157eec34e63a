// The lexical level of the pipeline language (lexer_internal.h): message text and Cursor.
#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "dux/pipeline/lexer_internal.h"

namespace dux::pipeline::internal {

namespace {

constexpr size_t kMaxShown = 48;  // code points of user text quoted in a message

/// Length of the well-formed UTF-8 sequence starting at s[i], or 0 when it is malformed.
size_t Utf8Length(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if (!IsContinuationByte(s[i + k])) return 0;
  }
  return len;
}

}  // namespace

std::string_view Trim(std::string_view s) { return TrimAsciiSpace(s); }

std::string Printable(std::string_view s, bool quoted) {
  std::string out;
  size_t shown = 0;
  for (size_t i = 0; i < s.size(); ++shown) {
    if (shown == kMaxShown) {
      out += "...";
      break;
    }
    const char c = s[i];
    const size_t len = Utf8Length(s, i);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (len == 0 || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    } else if (quoted && (c == '"' || c == '\\')) {
      out += '\\';
      out += c;
    } else {
      out.append(s.substr(i, len));
    }
    i += len == 0 ? 1 : len;
  }
  return out;
}

std::string Quote(std::string_view s) { return "\"" + Printable(s, /*quoted=*/true) + "\""; }

Cursor::Cursor(std::string_view text) : text_(text) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') line_starts_.push_back(i + 1);
  }
}

void Cursor::SkipTrivia() {
  while (pos_ < text_.size()) {
    if (IsSpace(text_[pos_])) {
      ++pos_;
    } else if (text_[pos_] == '#') {
      while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
    } else {
      break;
    }
  }
}

bool Cursor::LooksAt(std::string_view token) {
  SkipTrivia();
  return text_.substr(pos_).starts_with(token);
}

bool Cursor::Consume(std::string_view token) {
  if (!LooksAt(token)) return false;
  pos_ += token.size();
  return true;
}

bool Cursor::AtValueEnd() {
  SkipTrivia();
  const char c = Peek();
  return AtEnd() || c == ',' || c == ')' || c == ']';
}

std::optional<std::string_view> Cursor::Identifier() {
  if (AtEnd() || !IsIdentStart(text_[pos_])) return std::nullopt;
  const size_t start = pos_;
  while (pos_ < text_.size() && IsIdentChar(text_[pos_])) ++pos_;
  return text_.substr(start, pos_ - start);
}

std::optional<std::string> Cursor::QuotedName() {
  const size_t end = SkipQuoted(pos_, '"', /*backslash_escapes=*/false);
  if (end == std::string_view::npos) return std::nullopt;
  std::string name;
  for (size_t i = pos_ + 1; i + 1 < end; ++i) {
    name += text_[i];
    if (text_[i] == '"') ++i;  // the second quote of ""
  }
  pos_ = end;
  return name;
}

ScannedSql Cursor::ScanSql() const {
  ScannedSql out;
  std::vector<std::pair<char, size_t>> open;  // expected closer, offset of its opener
  const size_t n = text_.size();
  size_t i = pos_;
  size_t segment = pos_;  // start of the text not yet copied to out.text
  auto fail = [&](size_t at, const std::string& message) {
    out.text = std::string(text_.substr(pos_));
    out.end = n;
    out.status = Status::InvalidArgument(message + LocationOf(at).Suffix());
    return out;
  };
  while (i < n) {
    const char c = text_[i];
    if (c == ',' && open.empty()) break;
    if (c == ')' || c == ']' || c == '}') {
      if (open.empty()) break;
      if (open.back().first != c) {
        return fail(
            i, fmt::format("syntax error: mismatched {} in expression", Quote(std::string(1, c))));
      }
      open.pop_back();
      ++i;
    } else if (c == '(' || c == '[' || c == '{') {
      open.emplace_back(c == '(' ? ')' : c == '[' ? ']' : '}', i);
      ++i;
    } else if (c == '#') {
      out.text.append(text_.substr(segment, i - segment));
      while (i < n && text_[i] != '\n') ++i;
      segment = i;
    } else if (c == '\'') {
      // E'...' takes backslash escapes; the E must not end a longer word (DATE'...').
      const bool e_string = i > 0 && (text_[i - 1] == 'E' || text_[i - 1] == 'e') &&
                            (i < 2 || !IsIdentChar(text_[i - 2]));
      const size_t end = SkipQuoted(i, '\'', e_string);
      if (end == std::string_view::npos) return fail(i, "syntax error: unterminated string");
      i = end;
    } else if (c == '"') {
      const size_t end = SkipQuoted(i, '"', /*backslash_escapes=*/false);
      if (end == std::string_view::npos) {
        return fail(i, "syntax error: unterminated quoted identifier");
      }
      i = end;
    } else if (c == '$' && DollarTagEnd(i) != std::string_view::npos) {
      const size_t tag_end = DollarTagEnd(i);
      const std::string_view tag = text_.substr(i, tag_end - i);
      const size_t close = text_.find(tag, tag_end);
      if (close == std::string_view::npos) {
        return fail(i, "syntax error: unterminated dollar-quoted string");
      }
      i = close + tag.size();
    } else {
      ++i;
    }
  }
  if (!open.empty()) {
    return fail(open.back().second, fmt::format("syntax error: unclosed {} in expression",
                                                Quote(std::string(1, text_[open.back().second]))));
  }
  out.text.append(text_.substr(segment, i - segment));
  out.end = i;
  return out;
}

Location Cursor::LocationOf(size_t offset) const {
  offset = std::min(offset, text_.size());
  const auto next_line = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  const auto line_index = static_cast<size_t>(next_line - line_starts_.begin()) - 1;
  // Locations are mostly asked in increasing order: continue counting from the last one
  // on the same line so that long single-line scripts stay linear.
  size_t from = line_starts_[line_index];
  int column = 1;
  if (cached_line_ == line_index && cached_offset_ <= offset) {
    from = cached_offset_;
    column = cached_column_;
  }
  for (size_t i = from; i < offset; ++i) {
    if (!IsContinuationByte(text_[i])) ++column;
  }
  cached_line_ = line_index;
  cached_offset_ = offset;
  cached_column_ = column;
  return Location{static_cast<int>(line_index + 1), column};
}

size_t Cursor::SkipQuoted(size_t open, char quote, bool backslash_escapes) const {
  size_t i = open + 1;
  while (i < text_.size()) {
    const char c = text_[i];
    if (backslash_escapes && c == '\\') {
      i += 2;
    } else if (c == quote) {
      if (i + 1 < text_.size() && text_[i + 1] == quote) {
        i += 2;
      } else {
        return i + 1;
      }
    } else {
      ++i;
    }
  }
  return std::string_view::npos;
}

size_t Cursor::DollarTagEnd(size_t i) const {
  if (i > 0 && (IsIdentChar(text_[i - 1]) || text_[i - 1] == '$')) return std::string_view::npos;
  size_t j = i + 1;
  if (j < text_.size() && IsIdentStart(text_[j])) {
    while (j < text_.size() && IsIdentChar(text_[j])) ++j;
  }
  if (j < text_.size() && text_[j] == '$') return j + 1;
  return std::string_view::npos;
}

}  // namespace dux::pipeline::internal
