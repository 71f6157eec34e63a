// The parsers of the sinks (to_parquet, to_csv, to_ndjson, to_arrow, insert_into): each
// reads a sink's call into its SinkBody, and SinkParsers() lists them by name.
#include <fmt/format.h>

#include <optional>
#include <string>
#include <utility>

#include "dux/pipeline/parser_internal.h"

namespace dux::pipeline::internal {

namespace {

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

constexpr Entry<SinkBody> kSinks[] = {
    {"to_parquet", ParseToParquet},   {"to_csv", ParseToCsv},     {"to_ndjson", ParseToNdjson},
    {"insert_into", ParseInsertInto}, {"to_arrow", ParseToArrow},
};

}  // namespace

std::span<const Entry<SinkBody>> SinkParsers() { return kSinks; }

}  // namespace dux::pipeline::internal
