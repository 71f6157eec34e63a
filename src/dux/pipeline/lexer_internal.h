// Private to pipeline/: the lexical level of the pipeline language (language.h): character
// classes, user text quoted for messages, and Cursor, a position in the text with trivia,
// identifiers, quoted names, raw SQL and the line and column of any offset.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dux/common/ascii.h"
#include "dux/common/status.h"
#include "dux/pipeline/pipeline.h"

namespace dux::pipeline::internal {

// ---- characters and message text --------------------------------------------------------

inline bool IsSpace(char c) { return IsAsciiSpace(c); }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
inline bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c); }
inline bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

/// `s` without leading and trailing whitespace.
std::string_view Trim(std::string_view s);

/// User text made safe for a one-line message: control characters and malformed UTF-8
/// escaped, `"` and `\` escaped too when `quoted`, cut after 48 code points.
std::string Printable(std::string_view s, bool quoted);

/// `s` in double quotes, for a message.
std::string Quote(std::string_view s);

// ---- cursor -----------------------------------------------------------------------------

/// Raw SQL scanned by Cursor::ScanSql.
struct ScannedSql {
  std::string text;  ///< as written, `#` comments removed, not trimmed
  size_t end = 0;    ///< offset of the character that stopped the scan
  Status status;     ///< a syntax error (unterminated quote, unbalanced bracket) or OK
};

/// The lexical level: a position in the text, trivia, identifiers, quoted names and raw SQL,
/// and the line and column of any offset. Holds a view of the text, which must outlive it.
/// Not thread-safe (LocationOf caches the last position asked).
class Cursor {
 public:
  explicit Cursor(std::string_view text);

  size_t pos() const { return pos_; }
  void Reset(size_t pos) { pos_ = std::min(pos, text_.size()); }
  bool AtEnd() const { return pos_ >= text_.size(); }
  /// The character `ahead` places on, or '\0' past the end (check AtEnd for a real NUL).
  char Peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  void Advance(size_t n = 1) { pos_ = std::min(pos_ + n, text_.size()); }
  std::string_view Slice(size_t begin, size_t end) const {
    return text_.substr(begin, end - begin);
  }

  /// Skips whitespace and `#` comments.
  void SkipTrivia();

  /// After trivia, whether the text goes on with `token`.
  bool LooksAt(std::string_view token);

  /// After trivia, consumes `token` if the text goes on with it.
  bool Consume(std::string_view token);

  /// After trivia, whether a value ends here: a separator, a closing bracket or the end.
  bool AtValueEnd();

  /// Reads [A-Za-z_][A-Za-z0-9_]* at the position (no trivia skipped).
  std::optional<std::string_view> Identifier();

  /// Reads a double-quoted SQL identifier ("" stands for one quote) at the position;
  /// nullopt, without moving, when it is not terminated.
  std::optional<std::string> QuotedName();

  /// Scans raw DuckDB SQL from the position up to the first top-level `,`, `)`, `]` or `}`
  /// (or the end), respecting brackets, SQL strings, E-strings, quoted identifiers and
  /// dollar quoting, and dropping `#` comments. Does not move the cursor.
  ScannedSql ScanSql() const;

  /// The 1-based line and column (in code points) of a byte offset.
  Location LocationOf(size_t offset) const;

  Location Here() const { return LocationOf(pos_); }

 private:
  /// Offset after the closing quote of the quoted text opening at `open`, or npos.
  /// A doubled quote stands for one; `backslash_escapes` also skips the character after `\`.
  size_t SkipQuoted(size_t open, char quote, bool backslash_escapes) const;

  /// For a `$` opening `$$` or `$tag$`, the offset after the opening tag; npos otherwise
  /// (`$1` parameters, or a `$` inside a word).
  size_t DollarTagEnd(size_t i) const;

  std::string_view text_;
  size_t pos_ = 0;
  std::vector<size_t> line_starts_;
  mutable size_t cached_line_ = std::string_view::npos;
  mutable size_t cached_offset_ = 0;
  mutable int cached_column_ = 1;
};

}  // namespace dux::pipeline::internal
