// Private to pipeline/: the recursive-descent parser of the pipeline language (language.h)
// as its parts share it: Parser and its argument readers (argument_parser.cc), the helpers
// that build a call's readers, and the tables of source, verb and sink parsers
// (source_parsers.cc, verb_parsers.cc, sink_parsers.cc) that the script parser
// (language.cc) looks names up in.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dux/common/ascii.h"
#include "dux/common/status.h"
#include "dux/pipeline/lexer_internal.h"
#include "dux/pipeline/pipeline.h"

namespace dux::pipeline::internal {

/// Moves the value of `result` into `*out`, or returns its error.
template <typename T, typename Out>
Status Assign(Result<T> result, Out* out) {
  if (!result.ok()) return result.status();
  *out = std::move(result).value();
  return Status::OK();
}

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

/// Recursive-descent parser over a Cursor. The source, verb and sink parsers use its
/// readers; each reader skips leading trivia, reads one value and leaves the cursor after it.
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
  Result<S3Settings> ParseS3(Location loc);
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
PositionalReader SoleString(Parser& p, std::string_view verb, std::optional<std::string>* out);

/// A positional reader for a call that takes only keyword arguments of the form `what`.
PositionalReader OnlyKeywords(Parser& p, std::string_view verb, std::string_view what);

/// An error at the verb unless the required positional argument `value` was given.
Status Required(Parser& p, std::string_view verb, Location loc,
                const std::optional<std::string>& value, std::string_view what);

/// Words accepted by an option and what each one means.
template <typename T, size_t N>
using Choices = std::pair<std::string_view, T>[N];

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

// ---- tables -----------------------------------------------------------------------------

/// A source, verb or sink: its name and the parser of its call, which starts after the name.
template <typename Body>
struct Entry {
  std::string_view name;
  Result<Body> (*parse)(Parser&, std::string_view verb, Location loc);
};

/// The sources (from_*), by name.
std::span<const Entry<SourceBody>> SourceParsers();
/// The verbs between a source and a sink, by name (summarise also as summarize).
std::span<const Entry<OpBody>> VerbParsers();
/// The sinks (to_*, insert_into), by name.
std::span<const Entry<SinkBody>> SinkParsers();

}  // namespace dux::pipeline::internal
