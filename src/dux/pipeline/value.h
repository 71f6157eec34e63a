// Value: one typed scalar bound from C++ (or written as a literal in the pipeline language).
#pragma once

#include <cstdint>
#include <string>

namespace dux::pipeline {

enum class ValueKind { kNull, kBool, kInt, kUInt, kDouble, kString, kBlob, kTyped };

/// An immutable scalar. Plain kinds cover C++'s own types; kTyped carries any other DuckDB
/// scalar as its type name and its text form (DATE '2024-01-31', DECIMAL(18,3) '1.250',
/// INTERVAL '1 day', a LIST or STRUCT in DuckDB's text syntax, ...). Values reach SQL only
/// through sql::RenderLiteral, so no value can inject SQL.
class Value {
 public:
  Value() = default;  // NULL
  static Value Null() { return Value(); }
  static Value Bool(bool v);
  static Value Int(int64_t v);
  static Value UInt(uint64_t v);
  static Value Double(double v);
  static Value String(std::string v);
  static Value Blob(std::string bytes);
  static Value Typed(std::string type_name, std::string text);
  static Value Date(std::string iso_date) { return Typed("DATE", std::move(iso_date)); }
  static Value Timestamp(std::string iso) { return Typed("TIMESTAMP", std::move(iso)); }

  ValueKind kind() const { return kind_; }
  bool is_null() const { return kind_ == ValueKind::kNull; }
  bool bool_value() const { return int_ != 0; }
  int64_t int_value() const { return int_; }
  uint64_t uint_value() const { return static_cast<uint64_t>(int_); }
  double double_value() const { return double_; }
  /// The bytes of a string or blob, the text of a typed value.
  const std::string& text() const { return text_; }
  /// The DuckDB type name of a typed value; empty for plain kinds.
  const std::string& type_name() const { return type_; }

  /// Human-readable form, as DuckDB prints the value ("NULL" for null).
  std::string ToString() const;

  bool operator==(const Value& other) const;
  bool operator!=(const Value& other) const { return !(*this == other); }

 private:
  ValueKind kind_ = ValueKind::kNull;
  int64_t int_ = 0;
  double double_ = 0;
  std::string text_;
  std::string type_;
};

}  // namespace dux::pipeline
