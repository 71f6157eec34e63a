#include "dux/pipeline/language.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "dux/common/ascii.h"
#include "dux/common/edit_distance.h"

namespace dux::pipeline {

namespace {

// ---- characters and message text --------------------------------------------------------

constexpr int kMaxNesting = 64;   // nested pipelines (join inside join ...)
constexpr size_t kMaxShown = 48;  // code points of user text quoted in a message
constexpr int64_t kDefaultHead = 5;

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c); }
bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

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

/// User text made safe for a one-line message: control characters and malformed UTF-8
/// escaped, `"` and `\` escaped too when `quoted`, cut after kMaxShown code points.
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

/// `s` in double quotes, for a message.
std::string Quote(std::string_view s) { return "\"" + Printable(s, /*quoted=*/true) + "\""; }

/// `; did you mean "x"?` for the nearest candidate within edit distance 2, else "".
std::string DidYouMean(std::string_view name, const std::vector<std::string_view>& candidates) {
  constexpr size_t kMaxDistance = 2;
  std::string_view best;
  size_t best_distance = kMaxDistance + 1;
  for (std::string_view candidate : candidates) {
    const size_t gap = name.size() > candidate.size() ? name.size() - candidate.size()
                                                      : candidate.size() - name.size();
    if (gap > kMaxDistance) continue;
    const size_t distance = EditDistance(name, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (best.empty()) return "";
  return fmt::format("; did you mean {}?", Quote(best));
}

template <typename T, typename Out>
Status Assign(Result<T> result, Out* out) {
  if (!result.ok()) return result.status();
  *out = std::move(result).value();
  return Status::OK();
}

// ---- cursor -----------------------------------------------------------------------------

/// Raw SQL scanned by Cursor::ScanSql.
struct ScannedSql {
  std::string text;  ///< as written, `#` comments removed, not trimmed
  size_t end = 0;    ///< offset of the character that stopped the scan
  Status status;     ///< a syntax error (unterminated quote, unbalanced bracket) or OK
};

/// The lexical level: a position in the text, trivia, identifiers, quoted names and raw SQL,
/// and the line and column of any offset. Holds a view of the text, which must outlive it.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

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
  void SkipTrivia() {
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

  /// After trivia, whether the text goes on with `token`.
  bool LooksAt(std::string_view token) {
    SkipTrivia();
    return text_.substr(pos_).starts_with(token);
  }

  /// After trivia, consumes `token` if the text goes on with it.
  bool Consume(std::string_view token) {
    if (!LooksAt(token)) return false;
    pos_ += token.size();
    return true;
  }

  /// After trivia, whether a value ends here: a separator, a closing bracket or the end.
  bool AtValueEnd() {
    SkipTrivia();
    const char c = Peek();
    return AtEnd() || c == ',' || c == ')' || c == ']';
  }

  /// Reads [A-Za-z_][A-Za-z0-9_]* at the position (no trivia skipped).
  std::optional<std::string_view> Identifier() {
    if (AtEnd() || !IsIdentStart(text_[pos_])) return std::nullopt;
    const size_t start = pos_;
    while (pos_ < text_.size() && IsIdentChar(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  /// Reads a double-quoted SQL identifier ("" stands for one quote) at the position;
  /// nullopt, without moving, when it is not terminated.
  std::optional<std::string> QuotedName() {
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

  /// Scans raw DuckDB SQL from the position up to the first top-level `,`, `)`, `]` or `}`
  /// (or the end), respecting brackets, SQL strings, E-strings, quoted identifiers and
  /// dollar quoting, and dropping `#` comments. Does not move the cursor.
  ScannedSql ScanSql() const {
    ScannedSql out;
    std::vector<std::pair<char, size_t>> open;  // expected closer, offset of its opener
    const size_t n = text_.size();
    size_t i = pos_;
    size_t segment = pos_;  // start of the text not yet copied to out.text
    auto fail = [&](size_t at, std::string message) {
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
          return fail(i, fmt::format("syntax error: mismatched {} in expression",
                                     Quote(std::string(1, c))));
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
      return fail(open.back().second,
                  fmt::format("syntax error: unclosed {} in expression",
                              Quote(std::string(1, text_[open.back().second]))));
    }
    out.text.append(text_.substr(segment, i - segment));
    out.end = i;
    return out;
  }

  /// The 1-based line and column (in code points) of a byte offset.
  Location LocationOf(size_t offset) const {
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

  Location Here() const { return LocationOf(pos_); }

 private:
  /// Offset after the closing quote of the quoted text opening at `open`, or npos.
  /// A doubled quote stands for one; `backslash_escapes` also skips the character after `\`.
  size_t SkipQuoted(size_t open, char quote, bool backslash_escapes) const {
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

  /// For a `$` opening `$$` or `$tag$`, the offset after the opening tag; npos otherwise
  /// (`$1` parameters, or a `$` inside a word).
  size_t DollarTagEnd(size_t i) const {
    if (i > 0 && (IsIdentChar(text_[i - 1]) || text_[i - 1] == '$')) return std::string_view::npos;
    size_t j = i + 1;
    if (j < text_.size() && IsIdentStart(text_[j])) {
      while (j < text_.size() && IsIdentChar(text_[j])) ++j;
    }
    if (j < text_.size() && text_[j] == '$') return j + 1;
    return std::string_view::npos;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::vector<size_t> line_starts_;
  mutable size_t cached_line_ = std::string_view::npos;
  mutable size_t cached_offset_ = 0;
  mutable int cached_column_ = 1;
};

// ---- parser -----------------------------------------------------------------------------

/// What is being read, for messages: the verb as written and, for a keyword argument, its
/// name (empty for a positional argument).
struct Arg {
  std::string_view verb;
  std::string_view option;
};

/// A `name:` at the start of an argument.
struct Keyword {
  std::string name;
  Location loc;
};

/// How Parser::ParseCall reads one call's arguments. Each reader starts at the argument's
/// first character and must leave the cursor after the argument.
struct CallReaders {
  /// Reads positional argument number `index`; null when the call takes none.
  std::function<Status(int index)> positional = nullptr;
  /// Options with fixed names, each allowed once; the reader gets {verb, option name}.
  std::vector<std::pair<std::string_view, std::function<Status(const Arg&)>>> options = {};
  /// Reads a keyword argument that is not one of `options` (a column of mutate); null when
  /// such a keyword is an unknown option.
  std::function<Status(const Keyword&)> keyword = nullptr;
};

/// Recursive-descent parser over a Cursor. The verb parsers below use its readers; each
/// reader skips leading trivia, reads one value and leaves the cursor after it.
/// Not thread-safe; one Parser parses one text.
class Parser {
 public:
  explicit Parser(std::string_view text) : cursor_(text) {}

  Result<Script> ParseScript();

  /// Reads `(args...)` (the parentheses may be left out for an empty list).
  Status ParseCall(std::string_view verb, const CallReaders& readers);

  Result<Expr> ReadExpr(std::string_view verb);
  Result<std::string> ReadString(const Arg& arg);
  Result<std::string> ReadName(const Arg& arg, std::string_view what = "a column name");
  /// A double-quoted string (backslash escapes) or a bare identifier.
  Result<std::string> ReadNameOrString(const Arg& arg, std::string_view what);
  /// A name, or a list of names.
  Result<std::vector<std::string>> ReadNames(const Arg& arg);
  Result<int64_t> ReadInt(const Arg& arg);
  /// An integer >= `min`; `what` names the range in the error.
  Result<int64_t> ReadIntAtLeast(const Arg& arg, int64_t min, std::string_view what);
  /// An integer >= 0.
  Result<int64_t> ReadCount(const Arg& arg) {
    return ReadIntAtLeast(arg, 0, "a non-negative integer");
  }
  Result<bool> ReadBool(const Arg& arg);
  /// `[item, ...]`, calling `item` at the start of each item.
  Status ReadList(const Arg& arg, const std::function<Status()>& item);
  /// A name, or a list of names and `left: right` pairs.
  Result<std::vector<JoinKey>> ReadJoinKeys(const Arg& arg);
  /// `[name: "TYPE", ...]`.
  Result<std::vector<std::pair<std::string, std::string>>> ReadTypes(const Arg& arg);
  /// Whether the next value is a list whose first item is a `name:` pair.
  bool LooksAtPairList();
  /// A from_values literal.
  Result<Value> ReadLiteral(const Arg& arg);
  Result<PipelinePtr> ReadNestedPipeline(const Arg& arg);
  /// Reads `name:` (not `name::`) at the position, or nothing.
  std::optional<Keyword> TryKeyword();

  Location Here() {
    cursor_.SkipTrivia();
    return cursor_.Here();
  }
  Status Error(Location loc, std::string_view message) const {
    return Status::InvalidArgument(std::string(message) + loc.Suffix());
  }
  /// "verb: expected WHAT[ for option], got ..." about the text at the position.
  Status Expected(const Arg& arg, std::string_view what);
  /// "verb: unexpected argument ..." about the text at the position.
  Status Unexpected(std::string_view verb);

 private:
  Result<Pipeline> ParsePipeline(bool nested);
  Result<Source> ParseSource();
  Result<Attachment> ParseAttach(Location loc);
  Result<std::string> ScanString();     // "..." with backslash escapes
  Result<std::string> ScanSqlString();  // '...' with '' escapes
  // Literal pieces: nullopt when the text is not that kind of literal at all.
  Result<std::optional<Value>> ScanNumber(const Arg& arg);
  Result<std::optional<Value>> ScanWordsLiteral();
  /// A short description of the text at the position, for "got ..." in messages.
  std::string Describe();

  Cursor cursor_;
  int nesting_ = 0;
};

// ---- argument readers shared by the verb parsers ----------------------------------------

using PositionalReader = std::function<Status(int index)>;
using OptionReader = std::function<Status(const Arg&)>;

/// An option reader that stores what `read` reads into `out`.
template <typename T, typename Out>
OptionReader Store(Parser& p, Result<T> (Parser::*read)(const Arg&), Out* out) {
  return [&p, read, out](const Arg& arg) { return Assign((p.*read)(arg), out); };
}

/// A positional reader for a call whose only positional argument is one string.
PositionalReader SoleString(Parser& p, std::string_view verb, std::optional<std::string>* out) {
  return [&p, verb, out](int index) -> Status {
    if (index > 0) return p.Unexpected(verb);
    return Assign(p.ReadString({verb, ""}), out);
  };
}

/// A positional reader for a call that takes only keyword arguments of the form `what`.
PositionalReader OnlyKeywords(Parser& p, std::string_view verb, std::string_view what) {
  return [&p, verb, what](int) { return p.Expected({verb, ""}, what); };
}

/// An error at the verb unless the required positional argument `value` was given.
Status Required(Parser& p, std::string_view verb, Location loc,
                const std::optional<std::string>& value, std::string_view what) {
  if (value) return Status::OK();
  return p.Error(loc, fmt::format("{}: needs {}", verb, what));
}

// ---- sources ----------------------------------------------------------------------------

Result<SourceBody> ParseFromParquet(Parser& p, std::string_view verb, Location loc) {
  ParquetSource source;
  std::optional<std::string> path;
  DUX_RETURN_NOT_OK(p.ParseCall(
      verb, {.positional = SoleString(p, verb, &path),
             .options = {
                 {"hive_partitioning", Store(p, &Parser::ReadBool, &source.hive_partitioning)},
                 {"union_by_name", Store(p, &Parser::ReadBool, &source.union_by_name)},
                 {"hive_types", Store(p, &Parser::ReadTypes, &source.hive_types)},
             }}));
  DUX_RETURN_NOT_OK(Required(p, verb, loc, path, "a path"));
  source.path = std::move(*path);
  return source;
}

Result<SourceBody> ParseFromCsv(Parser& p, std::string_view verb, Location loc) {
  CsvSource csv;
  std::optional<std::string> path;
  DUX_RETURN_NOT_OK(
      p.ParseCall(verb, {.positional = SoleString(p, verb, &path),
                         .options = {
                             {"delimiter", Store(p, &Parser::ReadString, &csv.delimiter)},
                             {"header", Store(p, &Parser::ReadBool, &csv.header)},
                             {"skip", Store(p, &Parser::ReadCount, &csv.skip)},
                             {"nullstr", Store(p, &Parser::ReadString, &csv.nullstr)},
                             {"types", Store(p, &Parser::ReadTypes, &csv.types)},
                             {"columns", Store(p, &Parser::ReadNames, &csv.columns)},
                         }}));
  DUX_RETURN_NOT_OK(Required(p, verb, loc, path, "a path"));
  csv.path = std::move(*path);
  return csv;
}

Result<SourceBody> ParseFromNdjson(Parser& p, std::string_view verb, Location loc) {
  std::optional<std::string> path;
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = SoleString(p, verb, &path)}));
  DUX_RETURN_NOT_OK(Required(p, verb, loc, path, "a path"));
  return NdjsonSource{std::move(*path)};
}

Result<SourceBody> ParseFromArrow(Parser& p, std::string_view verb, Location loc) {
  std::optional<std::string> path;
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = SoleString(p, verb, &path)}));
  DUX_RETURN_NOT_OK(Required(p, verb, loc, path, "a path"));
  return ArrowSource{std::move(*path)};
}

Result<SourceBody> ParseFromQuery(Parser& p, std::string_view verb, Location loc) {
  std::optional<std::string> sql;
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = SoleString(p, verb, &sql)}));
  DUX_RETURN_NOT_OK(Required(p, verb, loc, sql, "a SQL query"));
  return QuerySource{std::move(*sql)};
}

/// from_attached("alias", "schema.table", partition_by: key, columns: [a, b]).
Result<SourceBody> ParseFromAttached(Parser& p, std::string_view verb, Location loc) {
  AttachedSource source;
  std::vector<std::string> strings;
  auto read_string = [&](int index) -> Status {
    if (index > 1) return p.Unexpected(verb);
    DUX_ASSIGN_OR_RETURN(std::string s, p.ReadString({verb, ""}));
    strings.push_back(std::move(s));
    return Status::OK();
  };
  auto read_key = [&](const Arg& arg) {
    return Assign(p.ReadNameOrString(arg, "a column name"), &source.partition_by);
  };
  DUX_RETURN_NOT_OK(
      p.ParseCall(verb, {.positional = read_string,
                         .options = {
                             {"partition_by", read_key},
                             {"columns", Store(p, &Parser::ReadNames, &source.columns)},
                         }}));
  if (strings.size() != 2) {
    return p.Error(loc, fmt::format("{}: needs an alias and a table name", verb));
  }
  if (strings[0].empty() || strings[1].empty()) {
    return p.Error(loc, fmt::format("{}: needs a non-empty alias and table name", verb));
  }
  source.alias = std::move(strings[0]);
  source.table = std::move(strings[1]);
  return source;
}

/// from_values(col: [literals], ..., types: [col: "TYPE"]): columns are written whole and
/// turned into rows here.
Result<SourceBody> ParseFromValues(Parser& p, std::string_view verb, Location loc) {
  ValuesSource values;
  std::vector<std::vector<Value>> columns;
  std::vector<Location> column_locs;
  std::optional<Location> types_loc;
  auto read_keyword = [&](const Keyword& kw) -> Status {
    // `types:` is the types option when its list holds name: "TYPE" pairs, else a column.
    if (kw.name == "types" && p.LooksAtPairList()) {
      if (types_loc) {
        return p.Error(kw.loc, fmt::format("{}: duplicate option {}", verb, Quote(kw.name)));
      }
      types_loc = kw.loc;
      return Assign(p.ReadTypes({verb, "types"}), &values.types);
    }
    for (const std::string& name : values.columns) {
      if (EqualsIgnoringAsciiCase(name, kw.name)) {
        return p.Error(kw.loc, fmt::format("{}: duplicate column {}", verb, Quote(kw.name)));
      }
    }
    const std::string column_text = fmt::format("column {}", Quote(kw.name));
    std::vector<Value> column;
    auto read_value = [&]() -> Status {
      DUX_ASSIGN_OR_RETURN(Value value, p.ReadLiteral({verb, ""}));
      column.push_back(std::move(value));
      return Status::OK();
    };
    DUX_RETURN_NOT_OK(p.ReadList({verb, column_text}, read_value));
    values.columns.push_back(kw.name);
    columns.push_back(std::move(column));
    column_locs.push_back(kw.loc);
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(p.ParseCall(
      verb, {.positional = OnlyKeywords(p, verb, "name: [values]"), .keyword = read_keyword}));

  if (columns.empty()) return p.Error(loc, fmt::format("{}: needs at least one column", verb));
  const size_t num_rows = columns[0].size();
  for (size_t c = 1; c < columns.size(); ++c) {
    if (columns[c].size() != num_rows) {
      return p.Error(column_locs[c],
                     fmt::format("{}: expected {} values in every column, got {} in column {}",
                                 verb, num_rows, columns[c].size(), Quote(values.columns[c])));
    }
  }
  for (const auto& [name, type] : values.types) {
    const bool known =
        std::any_of(values.columns.begin(), values.columns.end(),
                    [&](const std::string& c) { return EqualsIgnoringAsciiCase(c, name); });
    if (!known) {
      return p.Error(*types_loc, fmt::format("{}: unknown column in types {}", verb, Quote(name)));
    }
  }
  values.rows.resize(num_rows);
  for (size_t r = 0; r < num_rows; ++r) {
    for (auto& column : columns) values.rows[r].push_back(std::move(column[r]));
  }
  return values;
}

// ---- verbs ------------------------------------------------------------------------------

Result<OpBody> ParseFilter(Parser& p, std::string_view verb, Location loc) {
  std::optional<Expr> predicate;
  auto read_predicate = [&](int index) -> Status {
    if (index > 0) return p.Unexpected(verb);
    return Assign(p.ReadExpr(verb), &predicate);
  };
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = read_predicate}));
  if (!predicate) return p.Error(loc, fmt::format("{}: needs one expression", verb));
  return FilterOp{std::move(*predicate)};
}

/// The `name: expr, ...` arguments of mutate and summarise. A name may repeat only when
/// `allow_repeats` (a later mutate column replaces an earlier one).
Result<std::vector<NamedExpr>> ParseNamedExprs(Parser& p, std::string_view verb, Location loc,
                                               bool allow_repeats) {
  std::vector<NamedExpr> named;
  auto read_named = [&](const Keyword& kw) -> Status {
    const bool repeated = std::any_of(named.begin(), named.end(), [&](const NamedExpr& e) {
      return EqualsIgnoringAsciiCase(e.name, kw.name);
    });
    if (repeated && !allow_repeats) {
      return p.Error(kw.loc, fmt::format("{}: duplicate name {}", verb, Quote(kw.name)));
    }
    DUX_ASSIGN_OR_RETURN(Expr expr, p.ReadExpr(verb));
    named.push_back({kw.name, std::move(expr)});
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(p.ParseCall(
      verb, {.positional = OnlyKeywords(p, verb, "name: expr"), .keyword = read_named}));
  if (named.empty()) {
    return p.Error(loc, fmt::format("{}: needs at least one name: expr argument", verb));
  }
  return named;
}

Result<OpBody> ParseMutate(Parser& p, std::string_view verb, Location loc) {
  DUX_ASSIGN_OR_RETURN(std::vector<NamedExpr> columns,
                       ParseNamedExprs(p, verb, loc, /*allow_repeats=*/true));
  return MutateOp{std::move(columns)};
}

Result<OpBody> ParseSummarise(Parser& p, std::string_view verb, Location loc) {
  DUX_ASSIGN_OR_RETURN(std::vector<NamedExpr> aggregates,
                       ParseNamedExprs(p, verb, loc, /*allow_repeats=*/false));
  return SummariseOp{std::move(aggregates)};
}

/// Positional column names; `required` demands at least one.
Result<std::vector<std::string>> ParseColumns(Parser& p, std::string_view verb, Location loc,
                                              bool required) {
  std::vector<std::string> columns;
  auto read_column = [&](int) -> Status {
    DUX_ASSIGN_OR_RETURN(std::string name, p.ReadName({verb, ""}));
    columns.push_back(std::move(name));
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = read_column}));
  if (required && columns.empty()) {
    return p.Error(loc, fmt::format("{}: needs at least one column", verb));
  }
  return columns;
}

Result<OpBody> ParseSelect(Parser& p, std::string_view verb, Location loc) {
  DUX_ASSIGN_OR_RETURN(auto columns, ParseColumns(p, verb, loc, /*required=*/true));
  return SelectOp{std::move(columns)};
}

Result<OpBody> ParseDiscard(Parser& p, std::string_view verb, Location loc) {
  DUX_ASSIGN_OR_RETURN(auto columns, ParseColumns(p, verb, loc, /*required=*/true));
  return DiscardOp{std::move(columns)};
}

Result<OpBody> ParseGroupBy(Parser& p, std::string_view verb, Location loc) {
  DUX_ASSIGN_OR_RETURN(auto columns, ParseColumns(p, verb, loc, /*required=*/true));
  return GroupByOp{std::move(columns)};
}

Result<OpBody> ParseDropNil(Parser& p, std::string_view verb, Location loc) {
  DUX_ASSIGN_OR_RETURN(auto columns, ParseColumns(p, verb, loc, /*required=*/false));
  return DropNilOp{std::move(columns)};
}

Result<OpBody> ParseDistinct(Parser& p, std::string_view verb, Location loc) {
  DUX_ASSIGN_OR_RETURN(auto columns, ParseColumns(p, verb, loc, /*required=*/false));
  return DistinctOp{std::move(columns)};
}

Result<OpBody> ParseUngroup(Parser& p, std::string_view verb, Location) {
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {}));
  return UngroupOp{};
}

Result<OpBody> ParseRename(Parser& p, std::string_view verb, Location loc) {
  RenameOp op;
  auto read_rename = [&](const Keyword& kw) -> Status {
    for (const auto& [old_name, new_name] : op.renames) {
      if (EqualsIgnoringAsciiCase(old_name, kw.name)) {
        return p.Error(kw.loc, fmt::format("{}: duplicate column {}", verb, Quote(kw.name)));
      }
    }
    DUX_ASSIGN_OR_RETURN(std::string new_name, p.ReadName({verb, kw.name}));
    op.renames.emplace_back(kw.name, std::move(new_name));
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(
      p.ParseCall(verb, {.positional = OnlyKeywords(p, verb, "old: new"), .keyword = read_rename}));
  if (op.renames.empty()) {
    return p.Error(loc, fmt::format("{}: needs at least one old: new argument", verb));
  }
  return op;
}

struct SortDirection {
  std::string_view keyword;
  bool descending;
  NullOrder nulls;
};

constexpr SortDirection kSortDirections[] = {
    {"asc", false, NullOrder::kDefault},           {"desc", true, NullOrder::kDefault},
    {"asc_nulls_first", false, NullOrder::kFirst}, {"asc_nulls_last", false, NullOrder::kLast},
    {"desc_nulls_first", true, NullOrder::kFirst}, {"desc_nulls_last", true, NullOrder::kLast},
};

/// sort_by(a, desc: b, ...): the keywords are directions, and may repeat.
Result<OpBody> ParseSortBy(Parser& p, std::string_view verb, Location loc) {
  SortByOp op;
  auto read_key = [&](bool descending, NullOrder nulls) -> Status {
    DUX_ASSIGN_OR_RETURN(Expr expr, p.ReadExpr(verb));
    op.keys.push_back(SortKey{std::move(expr), descending, nulls});
    return Status::OK();
  };
  auto read_ascending = [&](int) { return read_key(false, NullOrder::kDefault); };
  auto read_directed = [&](const Keyword& kw) -> Status {
    for (const SortDirection& direction : kSortDirections) {
      if (kw.name == direction.keyword) return read_key(direction.descending, direction.nulls);
    }
    return p.Error(kw.loc, fmt::format("{}: unknown option {}", verb, Quote(kw.name)));
  };
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = read_ascending, .keyword = read_directed}));
  if (op.keys.empty()) return p.Error(loc, fmt::format("{}: needs at least one key", verb));
  return op;
}

Result<OpBody> ParseHead(Parser& p, std::string_view verb, Location) {
  std::optional<int64_t> n;
  auto read_n = [&](int index) -> Status {
    if (index > 0) return p.Unexpected(verb);
    return Assign(p.ReadCount({verb, ""}), &n);
  };
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = read_n}));
  return HeadOp{n.value_or(kDefaultHead)};
}

Result<OpBody> ParseSlice(Parser& p, std::string_view verb, Location loc) {
  std::vector<int64_t> numbers;  // offset, length
  auto read_number = [&](int index) -> Status {
    if (index > 1) return p.Unexpected(verb);
    DUX_ASSIGN_OR_RETURN(int64_t n, p.ReadCount({verb, ""}));
    numbers.push_back(n);
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = read_number}));
  if (numbers.size() != 2) {
    return p.Error(loc, fmt::format("{}: needs an offset and a length", verb));
  }
  return SliceOp{numbers[0], numbers[1]};
}

/// A positional reader for the pipeline argument of join and asof_join.
PositionalReader SolePipeline(Parser& p, std::string_view verb, PipelinePtr* out) {
  return [&p, verb, out](int index) -> Status {
    if (index > 0) return p.Unexpected(verb);
    return Assign(p.ReadNestedPipeline({verb, ""}), out);
  };
}

/// Words accepted by an option and what each one means.
template <typename T, size_t N>
using Choices = std::pair<std::string_view, T>[N];

constexpr Choices<JoinHow, 8> kJoinHows = {
    {"inner", JoinHow::kInner}, {"left", JoinHow::kLeft},  {"right", JoinHow::kRight},
    {"full", JoinHow::kFull},   {"outer", JoinHow::kFull}, {"cross", JoinHow::kCross},
    {"semi", JoinHow::kSemi},   {"anti", JoinHow::kAnti},
};

constexpr Choices<AsofCompare, 4> kAsofCompares = {
    {">=", AsofCompare::kGreaterEqual},
    {">", AsofCompare::kGreater},
    {"<=", AsofCompare::kLessEqual},
    {"<", AsofCompare::kLess},
};

constexpr Choices<bool, 2> kAsofHows = {{"inner", false}, {"left", true}};

/// An option reader for one of `choices` (compared ignoring case). The word is a bare
/// identifier or a string; `strings_only` demands a string (for operators such as ">=").
template <typename T, size_t N>
OptionReader Choose(Parser& p, const Choices<T, N>& choices, bool strings_only, T* out) {
  return [&p, &choices, strings_only, out](const Arg& arg) -> Status {
    std::string accepted;
    for (const auto& [word, value] : choices) {
      accepted += accepted.empty() ? "one of " : ", ";
      accepted += strings_only ? Quote(word) : std::string(word);
    }
    const Location start = p.Here();
    Result<std::string> word = strings_only ? p.ReadString(arg) : p.ReadNameOrString(arg, accepted);
    if (!word.ok()) return word.status();
    for (const auto& [name, value] : choices) {
      if (EqualsIgnoringAsciiCase(name, *word)) {
        *out = value;
        return Status::OK();
      }
    }
    return p.Error(start, fmt::format("{}: expected {} for {}, got {}", arg.verb, accepted,
                                      arg.option, Quote(*word)));
  };
}

Result<OpBody> ParseJoin(Parser& p, std::string_view verb, Location loc) {
  JoinOp op;
  DUX_RETURN_NOT_OK(
      p.ParseCall(verb, {.positional = SolePipeline(p, verb, &op.right),
                         .options = {
                             {"on", Store(p, &Parser::ReadJoinKeys, &op.on)},
                             {"how", Choose(p, kJoinHows, /*strings_only=*/false, &op.how)},
                             {"suffix", Store(p, &Parser::ReadString, &op.suffix)},
                         }}));
  if (!op.right) return p.Error(loc, fmt::format("{}: needs a pipeline to join", verb));
  return op;
}

Result<OpBody> ParseAsofJoin(Parser& p, std::string_view verb, Location loc) {
  AsofJoinOp op;
  std::optional<JoinKey> by;
  auto read_by = [&](const Arg& arg) -> Status {
    const Location start = p.Here();
    DUX_ASSIGN_OR_RETURN(std::vector<JoinKey> keys, p.ReadJoinKeys(arg));
    if (keys.size() != 1) {
      return p.Error(start,
                     fmt::format("{}: expected exactly one key for by, got {}", verb, keys.size()));
    }
    by = std::move(keys[0]);
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(p.ParseCall(
      verb, {.positional = SolePipeline(p, verb, &op.right),
             .options = {
                 {"by", read_by},
                 {"compare", Choose(p, kAsofCompares, /*strings_only=*/true, &op.compare)},
                 {"on", Store(p, &Parser::ReadJoinKeys, &op.on)},
                 {"how", Choose(p, kAsofHows, /*strings_only=*/false, &op.left)},
                 {"suffix", Store(p, &Parser::ReadString, &op.suffix)},
             }}));
  if (!op.right) return p.Error(loc, fmt::format("{}: needs a pipeline to join", verb));
  if (!by) return p.Error(loc, fmt::format("{}: needs a by key", verb));
  op.by = std::move(*by);
  return op;
}

Result<OpBody> ParseConcatRows(Parser& p, std::string_view verb, Location loc) {
  ConcatRowsOp op;
  auto read_other = [&](int) -> Status {
    DUX_ASSIGN_OR_RETURN(PipelinePtr other, p.ReadNestedPipeline({verb, ""}));
    op.others.push_back(std::move(other));
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = read_other}));
  if (op.others.empty()) return p.Error(loc, fmt::format("{}: needs at least one pipeline", verb));
  return op;
}

Result<OpBody> ParsePivotWider(Parser& p, std::string_view verb, Location loc) {
  std::optional<std::string> names_from;
  std::vector<std::string> values_from;
  auto read_names_from = [&](const Arg& arg) { return Assign(p.ReadName(arg), &names_from); };
  DUX_RETURN_NOT_OK(
      p.ParseCall(verb, {.options = {
                             {"names_from", read_names_from},
                             {"values_from", Store(p, &Parser::ReadNames, &values_from)},
                         }}));
  if (!names_from) return p.Error(loc, fmt::format("{}: needs names_from", verb));
  if (values_from.empty()) return p.Error(loc, fmt::format("{}: needs values_from", verb));
  return PivotWiderOp{std::move(*names_from), std::move(values_from)};
}

Result<OpBody> ParsePivotLonger(Parser& p, std::string_view verb, Location loc) {
  PivotLongerOp op;
  auto read_columns = [&](int) -> Status {
    DUX_ASSIGN_OR_RETURN(std::vector<std::string> names, p.ReadNames({verb, ""}));
    op.columns.insert(op.columns.end(), names.begin(), names.end());
    return Status::OK();
  };
  auto read_target = [&p](std::string* out) -> OptionReader {
    return [&p, out](const Arg& arg) { return Assign(p.ReadNameOrString(arg, "a name"), out); };
  };
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = read_columns,
                                       .options = {
                                           {"names_to", read_target(&op.names_to)},
                                           {"values_to", read_target(&op.values_to)},
                                       }}));
  if (op.columns.empty()) return p.Error(loc, fmt::format("{}: needs at least one column", verb));
  return op;
}

// ---- sinks ------------------------------------------------------------------------------

Result<SinkBody> ParseToParquet(Parser& p, std::string_view verb, Location loc) {
  ToParquetSink sink;
  std::optional<std::string> path;
  auto read_row_group_size = [&](const Arg& arg) {
    return Assign(p.ReadIntAtLeast(arg, 1, "a positive integer"), &sink.row_group_size);
  };
  DUX_RETURN_NOT_OK(
      p.ParseCall(verb, {.positional = SoleString(p, verb, &path),
                         .options = {
                             {"compression", Store(p, &Parser::ReadString, &sink.compression)},
                             {"row_group_size", read_row_group_size},
                             {"partition_by", Store(p, &Parser::ReadNames, &sink.partition_by)},
                         }}));
  DUX_RETURN_NOT_OK(Required(p, verb, loc, path, "a path"));
  sink.path = std::move(*path);
  return sink;
}

Result<SinkBody> ParseToCsv(Parser& p, std::string_view verb, Location loc) {
  ToCsvSink sink;
  std::optional<std::string> path;
  DUX_RETURN_NOT_OK(
      p.ParseCall(verb, {.positional = SoleString(p, verb, &path),
                         .options = {
                             {"delimiter", Store(p, &Parser::ReadString, &sink.delimiter)},
                             {"header", Store(p, &Parser::ReadBool, &sink.header)},
                         }}));
  DUX_RETURN_NOT_OK(Required(p, verb, loc, path, "a path"));
  sink.path = std::move(*path);
  return sink;
}

Result<SinkBody> ParseToNdjson(Parser& p, std::string_view verb, Location loc) {
  std::optional<std::string> path;
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = SoleString(p, verb, &path)}));
  DUX_RETURN_NOT_OK(Required(p, verb, loc, path, "a path"));
  return ToNdjsonSink{std::move(*path)};
}

Result<SinkBody> ParseToArrow(Parser& p, std::string_view verb, Location loc) {
  ToArrowSink sink;
  std::optional<std::string> path;
  std::string format = "file";
  DUX_RETURN_NOT_OK(
      p.ParseCall(verb, {.positional = SoleString(p, verb, &path),
                         .options = {
                             {"format", Store(p, &Parser::ReadString, &format)},
                             {"compression", Store(p, &Parser::ReadString, &sink.compression)},
                             {"lossless", Store(p, &Parser::ReadBool, &sink.lossless)},
                         }}));
  DUX_RETURN_NOT_OK(Required(p, verb, loc, path, "a path"));
  if (format != "file" && format != "stream") {
    return p.Error(
        loc, fmt::format("{}: format must be \"file\" or \"stream\", got \"{}\"", verb, format));
  }
  if (!sink.compression.empty() && sink.compression != "lz4" && sink.compression != "zstd") {
    return p.Error(loc, fmt::format("{}: compression must be \"lz4\" or \"zstd\", got \"{}\"", verb,
                                    sink.compression));
  }
  sink.stream_format = format == "stream";
  sink.path = std::move(*path);
  return sink;
}

Result<SinkBody> ParseInsertInto(Parser& p, std::string_view verb, Location loc) {
  InsertIntoSink sink;
  std::optional<std::string> table;
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = SoleString(p, verb, &table),
                                       .options = {
                                           {"create", Store(p, &Parser::ReadBool, &sink.create)},
                                           {"atomic", Store(p, &Parser::ReadBool, &sink.atomic)},
                                       }}));
  DUX_RETURN_NOT_OK(Required(p, verb, loc, table, "a table name"));
  sink.table = std::move(*table);
  return sink;
}

// ---- tables -----------------------------------------------------------------------------

template <typename Body>
struct Entry {
  std::string_view name;
  Result<Body> (*parse)(Parser&, std::string_view verb, Location loc);
};

constexpr Entry<SourceBody> kSources[] = {
    {"from_parquet", ParseFromParquet},   {"from_csv", ParseFromCsv},
    {"from_ndjson", ParseFromNdjson},     {"from_query", ParseFromQuery},
    {"from_values", ParseFromValues},     {"from_arrow", ParseFromArrow},
    {"from_attached", ParseFromAttached},
};

constexpr Entry<OpBody> kVerbs[] = {
    {"filter", ParseFilter},
    {"mutate", ParseMutate},
    {"select", ParseSelect},
    {"discard", ParseDiscard},
    {"rename", ParseRename},
    {"drop_nil", ParseDropNil},
    {"group_by", ParseGroupBy},
    {"ungroup", ParseUngroup},
    {"summarise", ParseSummarise},
    {"summarize", ParseSummarise},
    {"sort_by", ParseSortBy},
    {"head", ParseHead},
    {"slice", ParseSlice},
    {"distinct", ParseDistinct},
    {"join", ParseJoin},
    {"asof_join", ParseAsofJoin},
    {"concat_rows", ParseConcatRows},
    {"pivot_wider", ParsePivotWider},
    {"pivot_longer", ParsePivotLonger},
};

constexpr Entry<SinkBody> kSinks[] = {
    {"to_parquet", ParseToParquet},   {"to_csv", ParseToCsv},     {"to_ndjson", ParseToNdjson},
    {"insert_into", ParseInsertInto}, {"to_arrow", ParseToArrow},
};

template <typename Body, size_t N>
const Entry<Body>* Find(const Entry<Body> (&table)[N], std::string_view name) {
  for (const Entry<Body>& entry : table) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

template <typename... Tables>
std::vector<std::string_view> NamesOf(const Tables&... tables) {
  std::vector<std::string_view> names;
  (..., [&] {
    for (const auto& entry : tables) names.push_back(entry.name);
  }());
  return names;
}

// ---- parser: script and pipelines -------------------------------------------------------

Result<Script> Parser::ParseScript() {
  std::vector<Attachment> attachments;
  while (true) {
    cursor_.SkipTrivia();
    const size_t start = cursor_.pos();
    const Location loc = cursor_.Here();
    if (cursor_.Identifier() != "attach") {
      cursor_.Reset(start);
      break;
    }
    DUX_ASSIGN_OR_RETURN(Attachment attachment, ParseAttach(loc));
    attachments.push_back(std::move(attachment));
  }
  cursor_.SkipTrivia();
  if (cursor_.AtEnd()) {
    if (attachments.empty()) return Status::InvalidArgument("empty pipeline");
    return Error(cursor_.Here(), "empty pipeline: nothing follows the attach statements");
  }
  DUX_ASSIGN_OR_RETURN(Pipeline pipeline, ParsePipeline(/*nested=*/false));
  return Script{std::move(attachments), std::move(pipeline)};
}

Result<Attachment> Parser::ParseAttach(Location loc) {
  constexpr std::string_view kVerb = "attach";
  Attachment attachment;
  std::vector<std::string> strings;
  auto read_string = [&](int index) -> Status {
    if (index > 1) return Unexpected(kVerb);
    DUX_ASSIGN_OR_RETURN(std::string s, ReadString({kVerb, ""}));
    strings.push_back(std::move(s));
    return Status::OK();
  };
  static constexpr Choices<AttachmentType, 2> kTypes = {{"duckdb", AttachmentType::kDuckDb},
                                                        {"postgres", AttachmentType::kPostgres}};
  DUX_RETURN_NOT_OK(ParseCall(
      kVerb, {.positional = read_string,
              .options = {
                  {"read_only", Store(*this, &Parser::ReadBool, &attachment.read_only)},
                  {"type", Choose(*this, kTypes, /*strings_only=*/false, &attachment.type)},
              }}));
  if (strings.size() != 2) {
    return Error(loc, fmt::format("{}: needs an alias and a path", kVerb));
  }
  if (strings[0].empty()) return Error(loc, fmt::format("{}: needs a non-empty alias", kVerb));
  attachment.alias = std::move(strings[0]);
  attachment.path = std::move(strings[1]);
  attachment.loc = loc;
  return attachment;
}

Result<Source> Parser::ParseSource() {
  const Location loc = Here();
  const std::optional<std::string_view> name = cursor_.Identifier();
  if (!name) return Error(loc, fmt::format("syntax error: expected a source, got {}", Describe()));
  if (const auto* source = Find(kSources, *name)) {
    DUX_ASSIGN_OR_RETURN(SourceBody body, source->parse(*this, *name, loc));
    return Source{std::move(body), loc};
  }
  if (Find(kVerbs, *name) || Find(kSinks, *name)) {
    return Error(loc, fmt::format("a pipeline must start with a source, got {}", Quote(*name)));
  }
  return Error(
      loc, fmt::format("unknown source {}{}", Quote(*name), DidYouMean(*name, NamesOf(kSources))));
}

Result<Pipeline> Parser::ParsePipeline(bool nested) {
  DUX_ASSIGN_OR_RETURN(Source source, ParseSource());
  Pipeline pipeline(std::move(source));
  while (cursor_.Consume("|>")) {
    const Location loc = Here();
    const std::optional<std::string_view> name = cursor_.Identifier();
    if (!name) {
      return Error(loc,
                   fmt::format("syntax error: expected a verb after \"|>\", got {}", Describe()));
    }
    if (const auto* verb = Find(kVerbs, *name)) {
      DUX_ASSIGN_OR_RETURN(OpBody body, verb->parse(*this, *name, loc));
      pipeline.Append(Op{std::move(body), loc});
      continue;
    }
    if (const auto* sink = Find(kSinks, *name)) {
      if (nested) {
        return Error(loc, fmt::format("a nested pipeline cannot end with a sink: {}", *name));
      }
      DUX_ASSIGN_OR_RETURN(SinkBody body, sink->parse(*this, *name, loc));
      pipeline.SetSink(Sink{std::move(body), loc});
      if (cursor_.LooksAt("|>")) return Error(loc, fmt::format("{} must be the last verb", *name));
      break;
    }
    if (Find(kSources, *name)) {
      return Error(loc, fmt::format("a source can only start a pipeline (combine pipelines with "
                                    "join or concat_rows): {}",
                                    Quote(*name)));
    }
    return Error(loc, fmt::format("unknown verb {}{}", Quote(*name),
                                  DidYouMean(*name, NamesOf(kVerbs, kSinks))));
  }
  // A nested pipeline ends where its enclosing call goes on; the call checks what follows.
  if (!nested) {
    cursor_.SkipTrivia();
    if (!cursor_.AtEnd()) {
      return Error(cursor_.Here(), fmt::format("syntax error: expected \"|>\" or end of input, "
                                               "got {}",
                                               Describe()));
    }
  }
  return pipeline;
}

Result<PipelinePtr> Parser::ReadNestedPipeline(const Arg& arg) {
  cursor_.SkipTrivia();
  if (!IsIdentStart(cursor_.Peek())) return Expected(arg, "a pipeline");
  if (nesting_ >= kMaxNesting) {
    return Error(cursor_.Here(),
                 fmt::format("syntax error: pipelines nested deeper than {}", kMaxNesting));
  }
  ++nesting_;
  Result<Pipeline> nested = ParsePipeline(/*nested=*/true);
  --nesting_;
  if (!nested.ok()) return nested.status();
  return std::make_shared<const Pipeline>(std::move(nested).value());
}

// ---- parser: calls and values -----------------------------------------------------------

Status Parser::ParseCall(std::string_view verb, const CallReaders& readers) {
  if (!cursor_.Consume("(")) return Status::OK();
  if (cursor_.Consume(")")) return Status::OK();
  std::vector<bool> given(readers.options.size(), false);
  int positional = 0;  // counts positional arguments only
  while (true) {
    cursor_.SkipTrivia();
    if (std::optional<Keyword> keyword = TryKeyword()) {
      const auto option = std::find_if(readers.options.begin(), readers.options.end(),
                                       [&](const auto& o) { return o.first == keyword->name; });
      if (option != readers.options.end()) {
        const size_t index = static_cast<size_t>(option - readers.options.begin());
        if (given[index]) {
          return Error(keyword->loc,
                       fmt::format("{}: duplicate option {}", verb, Quote(keyword->name)));
        }
        given[index] = true;
        DUX_RETURN_NOT_OK(option->second(Arg{verb, option->first}));
      } else if (readers.keyword) {
        DUX_RETURN_NOT_OK(readers.keyword(*keyword));
      } else {
        return Error(keyword->loc,
                     fmt::format("{}: unknown option {}", verb, Quote(keyword->name)));
      }
    } else if (readers.positional) {
      DUX_RETURN_NOT_OK(readers.positional(positional++));
    } else {
      return Unexpected(verb);
    }
    if (cursor_.Consume(",")) {
      if (cursor_.Consume(")")) return Status::OK();  // a trailing comma
      continue;
    }
    if (cursor_.Consume(")")) return Status::OK();
    return Error(Here(), fmt::format("syntax error: expected \")\" after arguments of {}", verb));
  }
}

std::optional<Keyword> Parser::TryKeyword() {
  cursor_.SkipTrivia();
  const size_t start = cursor_.pos();
  std::optional<std::string> name;
  if (cursor_.Peek() == '"') {
    name = cursor_.QuotedName();
  } else if (std::optional<std::string_view> id = cursor_.Identifier()) {
    name = std::string(*id);
  }
  if (name && !name->empty()) {
    cursor_.SkipTrivia();
    if (cursor_.Peek() == ':' && cursor_.Peek(1) != ':') {
      cursor_.Advance();
      return Keyword{std::move(*name), cursor_.LocationOf(start)};
    }
  }
  cursor_.Reset(start);
  return std::nullopt;
}

Result<Expr> Parser::ReadExpr(std::string_view verb) {
  const Location loc = Here();
  ScannedSql scanned = cursor_.ScanSql();
  if (!scanned.status.ok()) return scanned.status;
  const std::string_view sql = Trim(scanned.text);
  if (sql.empty()) return Error(loc, fmt::format("syntax error: empty expression in {}", verb));
  cursor_.Reset(scanned.end);
  return Expr{std::string(sql), loc};
}

Result<std::string> Parser::ScanString() {
  const Location open = cursor_.Here();
  cursor_.Advance();  // the opening quote
  std::string out;
  while (!cursor_.AtEnd()) {
    const char c = cursor_.Peek();
    if (c == '"') {
      cursor_.Advance();
      return out;
    }
    if (c != '\\') {
      out += c;
      cursor_.Advance();
      continue;
    }
    const Location escape_loc = cursor_.Here();
    cursor_.Advance();
    if (cursor_.AtEnd()) break;
    const char e = cursor_.Peek();
    switch (e) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      default: {
        const size_t start = cursor_.pos();
        cursor_.Advance();
        while (!cursor_.AtEnd() && IsContinuationByte(cursor_.Peek())) cursor_.Advance();
        return Error(escape_loc, fmt::format("syntax error: unknown escape in string \"\\{}\"",
                                             Printable(cursor_.Slice(start, cursor_.pos()),
                                                       /*quoted=*/true)));
      }
    }
    cursor_.Advance();
  }
  return Error(open, "syntax error: unterminated string");
}

Result<std::string> Parser::ScanSqlString() {
  const Location open = cursor_.Here();
  cursor_.Advance();  // the opening quote
  std::string out;
  while (!cursor_.AtEnd()) {
    const char c = cursor_.Peek();
    cursor_.Advance();
    if (c != '\'') {
      out += c;
    } else if (cursor_.Peek() == '\'' && !cursor_.AtEnd()) {
      out += '\'';
      cursor_.Advance();
    } else {
      return out;
    }
  }
  return Error(open, "syntax error: unterminated string");
}

Result<std::string> Parser::ReadString(const Arg& arg) {
  cursor_.SkipTrivia();
  const size_t start = cursor_.pos();
  if (cursor_.Peek() != '"') return Expected(arg, "a string");
  DUX_ASSIGN_OR_RETURN(std::string s, ScanString());
  if (!cursor_.AtValueEnd()) {
    cursor_.Reset(start);
    return Expected(arg, "a string");
  }
  return s;
}

Result<std::string> Parser::ReadName(const Arg& arg, std::string_view what) {
  cursor_.SkipTrivia();
  const size_t start = cursor_.pos();
  std::optional<std::string> name;
  if (cursor_.Peek() == '"') {
    name = cursor_.QuotedName();
    if (!name) return Error(cursor_.Here(), "syntax error: unterminated quoted name");
  } else if (std::optional<std::string_view> id = cursor_.Identifier()) {
    name = std::string(*id);
  }
  if (!name || name->empty() || !cursor_.AtValueEnd()) {
    cursor_.Reset(start);
    return Expected(arg, what);
  }
  return std::move(*name);
}

Result<std::string> Parser::ReadNameOrString(const Arg& arg, std::string_view what) {
  cursor_.SkipTrivia();
  if (cursor_.Peek() == '"') return ReadString(arg);
  return ReadName(arg, what);
}

Result<std::vector<std::string>> Parser::ReadNames(const Arg& arg) {
  std::vector<std::string> names;
  if (!cursor_.LooksAt("[")) {
    DUX_ASSIGN_OR_RETURN(std::string name, ReadName(arg, "a column name or a list of names"));
    names.push_back(std::move(name));
    return names;
  }
  DUX_RETURN_NOT_OK(ReadList(arg, [&]() -> Status {
    DUX_ASSIGN_OR_RETURN(std::string name, ReadName(arg));
    names.push_back(std::move(name));
    return Status::OK();
  }));
  return names;
}

Result<int64_t> Parser::ReadInt(const Arg& arg) {
  cursor_.SkipTrivia();
  const size_t start = cursor_.pos();
  if (cursor_.Peek() == '-') cursor_.Advance();
  const size_t digits = cursor_.pos();
  while (IsDigit(cursor_.Peek()) && !cursor_.AtEnd()) cursor_.Advance();
  const size_t end = cursor_.pos();
  if (end == digits || IsIdentChar(cursor_.Peek()) || cursor_.Peek() == '.' ||
      !cursor_.AtValueEnd()) {
    cursor_.Reset(start);
    return Expected(arg, "an integer");
  }
  const std::string_view text = cursor_.Slice(start, end);
  int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    cursor_.Reset(start);
    return Expected(arg, "an integer in the int64 range");
  }
  return value;
}

Result<int64_t> Parser::ReadIntAtLeast(const Arg& arg, int64_t min, std::string_view what) {
  cursor_.SkipTrivia();
  const size_t start = cursor_.pos();
  DUX_ASSIGN_OR_RETURN(int64_t value, ReadInt(arg));
  if (value < min) {
    cursor_.Reset(start);
    return Expected(arg, what);
  }
  return value;
}

Result<bool> Parser::ReadBool(const Arg& arg) {
  cursor_.SkipTrivia();
  const size_t start = cursor_.pos();
  const std::optional<std::string_view> word = cursor_.Identifier();
  if (word && cursor_.AtValueEnd()) {
    if (EqualsIgnoringAsciiCase(*word, "true")) return true;
    if (EqualsIgnoringAsciiCase(*word, "false")) return false;
  }
  cursor_.Reset(start);
  return Expected(arg, "true or false");
}

Status Parser::ReadList(const Arg& arg, const std::function<Status()>& item) {
  if (!cursor_.Consume("[")) return Expected(arg, "a list");
  if (cursor_.Consume("]")) return Status::OK();
  while (true) {
    cursor_.SkipTrivia();
    DUX_RETURN_NOT_OK(item());
    if (cursor_.Consume(",")) {
      if (cursor_.Consume("]")) return Status::OK();  // a trailing comma
      continue;
    }
    if (cursor_.Consume("]")) return Status::OK();
    return Error(Here(),
                 fmt::format("syntax error: expected \"]\" after list items of {}", arg.verb));
  }
}

Result<std::vector<JoinKey>> Parser::ReadJoinKeys(const Arg& arg) {
  constexpr std::string_view kWhat = "a column name or a [left: right] list";
  std::vector<JoinKey> keys;
  if (!cursor_.LooksAt("[")) {
    DUX_ASSIGN_OR_RETURN(std::string name, ReadName(arg, kWhat));
    keys.push_back({name, name});
    return keys;
  }
  DUX_RETURN_NOT_OK(ReadList(arg, [&]() -> Status {
    if (std::optional<Keyword> left = TryKeyword()) {
      DUX_ASSIGN_OR_RETURN(std::string right, ReadName(arg));
      keys.push_back({std::move(left->name), std::move(right)});
    } else {
      DUX_ASSIGN_OR_RETURN(std::string name, ReadName(arg, kWhat));
      keys.push_back({name, name});
    }
    return Status::OK();
  }));
  return keys;
}

Result<std::vector<std::pair<std::string, std::string>>> Parser::ReadTypes(const Arg& arg) {
  std::vector<std::pair<std::string, std::string>> types;
  DUX_RETURN_NOT_OK(ReadList(arg, [&]() -> Status {
    std::optional<Keyword> column = TryKeyword();
    if (!column) return Expected(arg, "a name: \"TYPE\" pair");
    DUX_ASSIGN_OR_RETURN(std::string type, ReadString(arg));
    types.emplace_back(std::move(column->name), std::move(type));
    return Status::OK();
  }));
  return types;
}

bool Parser::LooksAtPairList() {
  const size_t start = cursor_.pos();
  bool pairs = false;
  if (cursor_.Consume("[")) pairs = TryKeyword().has_value();
  cursor_.Reset(start);
  return pairs;
}

Result<Value> Parser::ReadLiteral(const Arg& arg) {
  constexpr std::string_view kWhat = "a literal";
  cursor_.SkipTrivia();
  const size_t start = cursor_.pos();
  const char c = cursor_.Peek();
  std::optional<Value> value;
  if (c == '\'' && !cursor_.AtEnd()) {
    DUX_ASSIGN_OR_RETURN(std::string text, ScanSqlString());
    if (!cursor_.Consume("::")) {
      value = Value::String(std::move(text));
    } else {
      // 'text'::TYPE: the type runs to the end of the item, as written.
      cursor_.SkipTrivia();
      const size_t type_start = cursor_.pos();
      ScannedSql type = cursor_.ScanSql();
      const std::string_view name = Trim(type.text);
      const bool plain = std::all_of(name.begin(), name.end(), [](char t) {
        return IsIdentChar(t) || IsSpace(t) || t == '(' || t == ')' || t == ',' || t == '[' ||
               t == ']' || t == '.';
      });
      if (!type.status.ok() || name.empty() || !plain) {
        cursor_.Reset(type_start);
        return Expected(arg, "a type name after \"::\"");
      }
      cursor_.Reset(type.end);
      value = Value::Typed(AsciiUpper(name), std::move(text));
    }
  } else if (c == '-' || c == '.' || IsDigit(c)) {
    DUX_ASSIGN_OR_RETURN(value, ScanNumber(arg));
  } else if (IsIdentStart(c)) {
    DUX_ASSIGN_OR_RETURN(value, ScanWordsLiteral());
  }
  if (!value || !cursor_.AtValueEnd()) {
    cursor_.Reset(start);
    return Expected(arg, kWhat);
  }
  return std::move(*value);
}

Result<std::optional<Value>> Parser::ScanNumber(const Arg& arg) {
  const size_t start = cursor_.pos();
  std::string text;
  auto take_digits = [&] {
    bool any = false;
    while (!cursor_.AtEnd() && IsDigit(cursor_.Peek())) {
      text += cursor_.Peek();
      cursor_.Advance();
      any = true;
    }
    return any;
  };
  if (cursor_.Peek() == '-') {
    text += '-';
    cursor_.Advance();
  }
  bool digits = take_digits();
  bool is_double = false;
  if (cursor_.Peek() == '.') {
    text += '.';
    cursor_.Advance();
    is_double = true;
    digits = take_digits() || digits;
  }
  if (digits && (cursor_.Peek() == 'e' || cursor_.Peek() == 'E')) {
    const size_t exponent = cursor_.pos();
    std::string exponent_text = "e";
    cursor_.Advance();
    if (cursor_.Peek() == '+' || cursor_.Peek() == '-') {
      exponent_text += cursor_.Peek();
      cursor_.Advance();
    }
    if (IsDigit(cursor_.Peek()) && !cursor_.AtEnd()) {
      text += exponent_text;
      take_digits();
      is_double = true;
    } else {
      cursor_.Reset(exponent);
    }
  }
  if (!digits || IsIdentChar(cursor_.Peek()) || cursor_.Peek() == '.') return std::nullopt;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (is_double) {
    double d = 0;
    const auto [ptr, ec] = std::from_chars(first, last, d);
    if (ec == std::errc() && ptr == last) return Value::Double(d);
    cursor_.Reset(start);
    return Expected(arg, "a number in the double range");
  }
  int64_t i = 0;
  const auto [ptr, ec] = std::from_chars(first, last, i);
  if (ec == std::errc() && ptr == last) return Value::Int(i);
  cursor_.Reset(start);
  return Expected(arg, "an integer in the int64 range");
}

Result<std::optional<Value>> Parser::ScanWordsLiteral() {
  std::vector<std::string_view> words;
  size_t after_word = cursor_.pos();
  while (std::optional<std::string_view> word = cursor_.Identifier()) {
    words.push_back(*word);
    after_word = cursor_.pos();
    cursor_.SkipTrivia();
    if (cursor_.Peek() == '\'' || !IsIdentStart(cursor_.Peek())) break;
  }
  if (cursor_.Peek() != '\'' || cursor_.AtEnd()) {
    cursor_.Reset(after_word);
    if (words.size() != 1) return std::nullopt;
    if (EqualsIgnoringAsciiCase(words[0], "null")) return Value::Null();
    if (EqualsIgnoringAsciiCase(words[0], "true")) return Value::Bool(true);
    if (EqualsIgnoringAsciiCase(words[0], "false")) return Value::Bool(false);
    return std::nullopt;
  }
  // E'...' is an escaped string, not a type called E.
  if (words.size() == 1 && EqualsIgnoringAsciiCase(words[0], "e") && after_word == cursor_.pos()) {
    return std::nullopt;
  }
  DUX_ASSIGN_OR_RETURN(std::string text, ScanSqlString());
  std::string type;
  for (std::string_view word : words) {
    if (!type.empty()) type += ' ';
    type += AsciiUpper(word);
  }
  return Value::Typed(std::move(type), std::move(text));
}

// ---- parser: messages -------------------------------------------------------------------

std::string Parser::Describe() {
  cursor_.SkipTrivia();
  if (cursor_.AtEnd()) return "end of input";
  const ScannedSql scanned = cursor_.ScanSql();
  std::string raw;
  bool space = false;
  for (char c : Trim(scanned.text)) {
    if (IsSpace(c)) {
      space = true;
      continue;
    }
    if (space) raw += ' ';
    space = false;
    raw += c;
  }
  if (raw.empty()) raw = std::string(1, cursor_.Peek());
  // A double-quoted string is shown as written; anything else is quoted.
  if (raw.front() == '"') return Printable(raw, /*quoted=*/false);
  return Quote(raw);
}

Status Parser::Expected(const Arg& arg, std::string_view what) {
  const Location loc = Here();
  const std::string for_option = arg.option.empty() ? "" : fmt::format(" for {}", arg.option);
  return Error(loc,
               fmt::format("{}: expected {}{}, got {}", arg.verb, what, for_option, Describe()));
}

Status Parser::Unexpected(std::string_view verb) {
  const Location loc = Here();
  return Error(loc, fmt::format("{}: unexpected argument {}", verb, Describe()));
}

}  // namespace

Result<Script> ParseScript(std::string_view text) { return Parser(text).ParseScript(); }

}  // namespace dux::pipeline
