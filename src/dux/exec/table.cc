#include "dux/exec/table.h"

#include <algorithm>
#include <map>

namespace dux::exec {

using pipeline::Value;
using pipeline::ValueKind;

std::vector<std::vector<Value>> Table::ToColumns() const {
  std::vector<std::vector<Value>> columns(schema.columns.size());
  for (auto& c : columns) c.reserve(rows.size());
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) columns[c].push_back(row[c]);
  }
  return columns;
}

namespace {

// Display width in terminal cells, counting each UTF-8 code point as one.
size_t Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string DisplayType(const std::string& type) {
  static const std::map<std::string, std::string> kShort = {
      {"TINYINT", "int8"},    {"SMALLINT", "int16"},   {"INTEGER", "int32"},
      {"BIGINT", "int64"},    {"HUGEINT", "int128"},   {"UTINYINT", "uint8"},
      {"USMALLINT", "uint16"}, {"UINTEGER", "uint32"}, {"UBIGINT", "uint64"},
      {"UHUGEINT", "uint128"}};
  auto it = kShort.find(type);
  if (it != kShort.end()) return it->second;
  std::string lower;
  for (char c : type) lower += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return lower;
}

bool RightAligned(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kInt:
    case ValueKind::kUInt:
    case ValueKind::kDouble: return true;
    case ValueKind::kTyped:
      return v.type_name().rfind("DECIMAL", 0) == 0 || v.type_name() == "HUGEINT" ||
             v.type_name() == "UHUGEINT";
    default: return false;
  }
}

// Control characters would break the box; show them escaped.
std::string Printable(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

std::string Table::Format(size_t max_rows) const {
  size_t num_columns = schema.columns.size();
  std::vector<size_t> shown;
  bool elided = rows.size() > max_rows;
  for (size_t r = 0; r < rows.size(); ++r) {
    if (!elided || r < max_rows / 2 || r >= rows.size() - max_rows / 2) shown.push_back(r);
  }
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> widths(num_columns, 1);
  std::vector<std::string> names, types;
  for (size_t c = 0; c < num_columns; ++c) {
    names.push_back(Printable(schema.columns[c].name));
    types.push_back(DisplayType(schema.columns[c].type));
    widths[c] = std::max({widths[c], Width(names[c]), Width(types[c])});
  }
  for (size_t r : shown) {
    std::vector<std::string> row;
    for (size_t c = 0; c < num_columns; ++c) {
      row.push_back(Printable(rows[r][c].ToString()));
      widths[c] = std::max(widths[c], Width(row.back()));
    }
    cells.push_back(std::move(row));
  }
  auto rule = [&](const char* left, const char* mid, const char* right) {
    std::string line = left;
    for (size_t c = 0; c < num_columns; ++c) {
      line += Repeat("─", widths[c] + 2) + (c + 1 < num_columns ? mid : right);
    }
    return line + "\n";
  };
  auto line = [&](const std::vector<std::string>& values, const std::vector<bool>& right) {
    std::string out = "│";
    for (size_t c = 0; c < num_columns; ++c) {
      std::string pad(widths[c] - Width(values[c]), ' ');
      out += " " + (right[c] ? pad + values[c] : values[c] + pad) + " │";
    }
    return out + "\n";
  };
  if (num_columns == 0) return "(no columns, " + std::to_string(rows.size()) + " rows)\n";
  std::string out = rule("┌", "┬", "┐");
  std::vector<bool> left(num_columns, false);
  out += line(names, left) + line(types, left) + rule("├", "┼", "┤");
  for (size_t i = 0; i < cells.size(); ++i) {
    std::vector<bool> right;
    for (size_t c = 0; c < num_columns; ++c) right.push_back(RightAligned(rows[shown[i]][c]));
    out += line(cells[i], right);
    if (elided && i + 1 == max_rows / 2) {
      std::vector<std::string> dots(num_columns, "·");
      out += line(dots, left);
    }
  }
  out += rule("└", "┴", "┘");
  if (elided) {
    out += std::to_string(rows.size()) + " rows (" + std::to_string(shown.size()) + " shown)\n";
  } else if (rows.empty()) {
    out += "0 rows\n";
  }
  return out;
}

}  // namespace dux::exec
