#include "dux/exec/table.h"

#include <algorithm>
#include <cstdint>
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

// Terminal cells of one code point: 0 for combining marks, 2 for East Asian wide and
// emoji ranges, 1 otherwise (a small stand-in for wcwidth, which needs a UTF-8 locale).
int CellsOf(uint32_t cp) {
  if ((cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x200B && cp <= 0x200F) ||
      (cp >= 0xFE00 && cp <= 0xFE0F)) {
    return 0;
  }
  bool wide = (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
              (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
              (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
              (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
              (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD);
  return wide ? 2 : 1;
}

// Display width in terminal cells of UTF-8 text.
size_t Width(const std::string& s) {
  size_t cells = 0;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    uint32_t cp = n == 1 ? c : c & (0xFF >> (n + 1));
    for (int k = 1; k < n && i + k < s.size(); ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    cells += CellsOf(cp);
    i += n;
  }
  return cells;
}

std::string DisplayType(const std::string& type) {
  static const std::map<std::string, std::string> kShort = {
      {"TINYINT", "int8"},     {"SMALLINT", "int16"},  {"INTEGER", "int32"},
      {"BIGINT", "int64"},     {"HUGEINT", "int128"},  {"UTINYINT", "uint8"},
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
    case ValueKind::kDouble:
      return true;
    case ValueKind::kTyped:
      return v.type_name().rfind("DECIMAL", 0) == 0 || v.type_name() == "HUGEINT" ||
             v.type_name() == "UHUGEINT";
    default:
      return false;
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
  bool elided = NumRows() > max_rows;
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
    out += std::to_string(NumRows()) + " rows (" + std::to_string(shown.size()) + " shown)\n";
  } else if (rows.empty()) {
    out += "0 rows\n";
  }
  return out;
}

}  // namespace dux::exec
