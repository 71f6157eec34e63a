// The pipeline language's script and pipeline level (language.h): attach statements, a
// source, `|>` and the verb or sink each name stands for, and nested pipelines. Calls and
// values are read by argument_parser.cc, each source, verb and sink by its parser.
#include "dux/pipeline/language.h"

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dux/common/edit_distance.h"
#include "dux/pipeline/parser_internal.h"

namespace dux::pipeline::internal {

namespace {

constexpr int kMaxNesting = 64;  // nested pipelines (join inside join ...)

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

template <typename Body>
const Entry<Body>* Find(std::span<const Entry<Body>> table, std::string_view name) {
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

}  // namespace

// ---- parser: script and pipelines -------------------------------------------------------

Result<Script> Parser::ParseScript() {
  std::vector<Attachment> attachments;
  S3Settings s3;
  bool statements = false;
  while (true) {
    cursor_.SkipTrivia();
    const size_t start = cursor_.pos();
    const Location loc = cursor_.Here();
    std::optional<std::string_view> word = cursor_.Identifier();
    if (word == "attach") {
      DUX_ASSIGN_OR_RETURN(Attachment attachment, ParseAttach(loc));
      attachments.push_back(std::move(attachment));
    } else if (word == "s3" && !cursor_.AtEnd() && cursor_.Peek() == '(') {
      if (!s3.empty()) return Error(loc, "s3: given twice (one s3 statement holds every setting)");
      DUX_ASSIGN_OR_RETURN(s3, ParseS3(loc));
    } else {
      cursor_.Reset(start);
      break;
    }
    statements = true;
  }
  cursor_.SkipTrivia();
  if (cursor_.AtEnd()) {
    if (!statements) return Status::InvalidArgument("empty pipeline");
    return Error(cursor_.Here(), "empty pipeline: nothing follows the attach and s3 statements");
  }
  DUX_ASSIGN_OR_RETURN(Pipeline pipeline, ParsePipeline(/*nested=*/false));
  return Script{std::move(attachments), std::move(pipeline), std::move(s3)};
}

Result<S3Settings> Parser::ParseS3(Location loc) {
  constexpr std::string_view kVerb = "s3";
  S3Settings settings;
  static constexpr Choices<std::string_view, 3> kStyles = {
      {"path", "path"}, {"virtual", "virtual"}, {"auto", "auto"}};
  std::string_view style;
  // Scripts are shown by explain and sent to workers: a key in one would travel with it.
  OptionReader refuse_credentials = [this](const Arg& arg) -> Status {
    return Error(Here(), fmt::format("{}: {} cannot be given in a pipeline (explain shows it, and "
                                     "it travels to workers): use the AWS environment "
                                     "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or a profile",
                                     arg.verb, arg.option));
  };
  DUX_RETURN_NOT_OK(
      ParseCall(kVerb, {.positional = OnlyKeywords(*this, kVerb, "settings (region: \"...\", ...)"),
                        .options = {
                            {"region", Store(*this, &Parser::ReadString, &settings.region)},
                            {"endpoint", Store(*this, &Parser::ReadString, &settings.endpoint)},
                            {"url_style", Choose(*this, kStyles, /*strings_only=*/false, &style)},
                            {"tls", Store(*this, &Parser::ReadBool, &settings.tls)},
                            {"profile", Store(*this, &Parser::ReadString, &settings.profile)},
                            {"access_key_id", refuse_credentials},
                            {"secret_access_key", refuse_credentials},
                            {"session_token", refuse_credentials},
                        }}));
  if (!style.empty()) settings.url_style = std::string(style);
  if (settings.empty()) return Error(loc, fmt::format("{}: needs at least one setting", kVerb));
  settings.loc = loc;
  return settings;
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
  if (const auto* source = Find(SourceParsers(), *name)) {
    DUX_ASSIGN_OR_RETURN(SourceBody body, source->parse(*this, *name, loc));
    return Source{std::move(body), loc};
  }
  if (Find(VerbParsers(), *name) || Find(SinkParsers(), *name)) {
    return Error(loc, fmt::format("a pipeline must start with a source, got {}", Quote(*name)));
  }
  return Error(loc, fmt::format("unknown source {}{}", Quote(*name),
                                DidYouMean(*name, NamesOf(SourceParsers()))));
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
    if (const auto* verb = Find(VerbParsers(), *name)) {
      DUX_ASSIGN_OR_RETURN(OpBody body, verb->parse(*this, *name, loc));
      pipeline.Append(Op{std::move(body), loc});
      continue;
    }
    if (const auto* sink = Find(SinkParsers(), *name)) {
      if (nested) {
        return Error(loc, fmt::format("a nested pipeline cannot end with a sink: {}", *name));
      }
      DUX_ASSIGN_OR_RETURN(SinkBody body, sink->parse(*this, *name, loc));
      pipeline.SetSink(Sink{std::move(body), loc});
      if (cursor_.LooksAt("|>")) return Error(loc, fmt::format("{} must be the last verb", *name));
      break;
    }
    if (Find(SourceParsers(), *name)) {
      return Error(loc, fmt::format("a source can only start a pipeline (combine pipelines with "
                                    "join or concat_rows): {}",
                                    Quote(*name)));
    }
    return Error(loc, fmt::format("unknown verb {}{}", Quote(*name),
                                  DidYouMean(*name, NamesOf(VerbParsers(), SinkParsers()))));
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

}  // namespace dux::pipeline::internal

namespace dux::pipeline {

Result<Script> ParseScript(std::string_view text) { return internal::Parser(text).ParseScript(); }

}  // namespace dux::pipeline
