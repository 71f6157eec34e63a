#include "dux/sql/quote.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

namespace dux::sql {

using pipeline::Value;
using pipeline::ValueKind;

std::string QuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string QuoteIdentifiers(const std::vector<std::string>& names) {
  std::vector<std::string> quoted;
  quoted.reserve(names.size());
  for (const auto& n : names) quoted.push_back(QuoteIdentifier(n));
  return fmt::format("{}", fmt::join(quoted, ", "));
}

std::string StringList(const std::vector<std::string>& texts) {
  std::vector<std::string> quoted;
  quoted.reserve(texts.size());
  for (const auto& t : texts) quoted.push_back(QuoteString(t));
  return fmt::format("[{}]", fmt::join(quoted, ", "));
}

std::string QuoteString(std::string_view text) {
  std::string out = "'";
  bool spliced = false;
  for (char c : text) {
    if (c == '\0') {
      out += "' || chr(0) || '";
      spliced = true;
      continue;
    }
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return spliced ? "(" + out + ")" : out;
}

Status CheckTypeName(std::string_view type) {
  int parens = 0, brackets = 0;
  bool any = false;
  for (size_t i = 0; i < type.size(); ++i) {
    char c = type[i];
    if (c == '"') {  // a quoted struct field name: skip to its closing quote ("" escapes)
      size_t j = i + 1;
      for (;; ++j) {
        if (j >= type.size())
          return Status::InvalidArgument("unterminated quote in type " + std::string(type));
        if (type[j] == '"') {
          if (j + 1 < type.size() && type[j + 1] == '"') {
            ++j;
            continue;
          }
          break;
        }
      }
      i = j;
      continue;
    }
    bool word =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    any = any || word;
    if (c == '(') ++parens;
    if (c == ')' && --parens < 0) break;
    if (c == '[') ++brackets;
    if (c == ']' && --brackets < 0) break;
    if (!word && c != ' ' && c != ',' && c != '(' && c != ')' && c != '[' && c != ']') {
      return Status::InvalidArgument("invalid character in type name \"" + std::string(type) +
                                     "\"");
    }
  }
  if (!any || parens != 0 || brackets != 0) {
    return Status::InvalidArgument("malformed type name \"" + std::string(type) + "\"");
  }
  return Status::OK();
}

Result<std::string> RenderLiteral(const Value& value) {
  std::string out;
  switch (value.kind()) {
    case ValueKind::kNull:
      out = "NULL";
      break;
    case ValueKind::kBool:
      out = value.bool_value() ? "true" : "false";
      break;
    case ValueKind::kInt:
      // BIGINT's minimum has no positive counterpart, so it cannot be written as -(literal).
      out = value.int_value() == INT64_MIN ? "CAST('-9223372036854775808' AS BIGINT)"
                                           : fmt::format("CAST({} AS BIGINT)", value.int_value());
      break;
    case ValueKind::kUInt:
      out = fmt::format("CAST({} AS UBIGINT)", value.uint_value());
      break;
    case ValueKind::kDouble: {
      double d = value.double_value();
      if (std::isnan(d)) {
        out = "CAST('nan' AS DOUBLE)";
      } else if (std::isinf(d)) {
        out = d > 0 ? "CAST('inf' AS DOUBLE)" : "CAST('-inf' AS DOUBLE)";
      } else if (d == 0 && std::signbit(d)) {
        out = "CAST('-0.0' AS DOUBLE)";
      } else {
        out = fmt::format("CAST({:.17g} AS DOUBLE)", d);
      }
      break;
    }
    case ValueKind::kString:
      out = QuoteString(value.text());
      break;
    case ValueKind::kBlob: {
      std::string hex;
      for (unsigned char c : value.text()) hex += fmt::format("\\x{:02X}", c);
      out = "CAST('" + hex + "' AS BLOB)";
      break;
    }
    case ValueKind::kTyped:
      DUX_RETURN_NOT_OK(CheckTypeName(value.type_name()));
      out = "CAST(" + QuoteString(value.text()) + " AS " + value.type_name() + ")";
      break;
  }
  return out;
}

}  // namespace dux::sql
