// Parser's reading of a call (parser_internal.h): the argument list and its keywords, each
// kind of argument value (expressions, strings, names, integers, booleans, lists, join keys,
// types, from_values literals), and the messages that say what was expected instead.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "dux/common/ascii.h"
#include "dux/pipeline/parser_internal.h"

namespace dux::pipeline::internal {

// ---- argument readers shared by the verb parsers ----------------------------------------

PositionalReader SoleString(Parser& p, std::string_view verb, std::optional<std::string>* out) {
  return [&p, verb, out](int index) -> Status {
    if (index > 0) return p.Unexpected(verb);
    return Assign(p.ReadString({verb, ""}), out);
  };
}

PositionalReader OnlyKeywords(Parser& p, std::string_view verb, std::string_view what) {
  return [&p, verb, what](int) { return p.Expected({verb, ""}, what); };
}

Status Required(Parser& p, std::string_view verb, Location loc,
                const std::optional<std::string>& value, std::string_view what) {
  if (value) return Status::OK();
  return p.Error(loc, fmt::format("{}: needs {}", verb, what));
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

}  // namespace dux::pipeline::internal
