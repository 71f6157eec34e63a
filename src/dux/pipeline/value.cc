#include "dux/pipeline/value.h"

#include <fmt/format.h>

#include <cmath>

namespace dux::pipeline {

Value Value::Bool(bool v) {
  Value r;
  r.kind_ = ValueKind::kBool;
  r.int_ = v ? 1 : 0;
  return r;
}

Value Value::Int(int64_t v) {
  Value r;
  r.kind_ = ValueKind::kInt;
  r.int_ = v;
  return r;
}

Value Value::UInt(uint64_t v) {
  Value r;
  r.kind_ = ValueKind::kUInt;
  r.int_ = static_cast<int64_t>(v);
  return r;
}

Value Value::Double(double v) {
  Value r;
  r.kind_ = ValueKind::kDouble;
  r.double_ = v;
  return r;
}

Value Value::String(std::string v) {
  Value r;
  r.kind_ = ValueKind::kString;
  r.text_ = std::move(v);
  return r;
}

Value Value::Blob(std::string bytes) {
  Value r;
  r.kind_ = ValueKind::kBlob;
  r.text_ = std::move(bytes);
  return r;
}

Value Value::Typed(std::string type_name, std::string text) {
  Value r;
  r.kind_ = ValueKind::kTyped;
  r.type_ = std::move(type_name);
  r.text_ = std::move(text);
  return r;
}

std::string Value::ToString() const {
  switch (kind_) {
    case ValueKind::kNull:
      return "NULL";
    case ValueKind::kBool:
      return int_ ? "true" : "false";
    case ValueKind::kInt:
      return std::to_string(int_);
    case ValueKind::kUInt:
      return std::to_string(uint_value());
    case ValueKind::kDouble:
      if (std::isnan(double_)) return "nan";
      if (std::isinf(double_)) return double_ > 0 ? "inf" : "-inf";
      return fmt::format("{}", double_);  // shortest round-trip form, like DuckDB
    case ValueKind::kBlob: {
      std::string out;
      for (unsigned char c : text_) {
        if (c >= 32 && c < 127 && c != '\\' && c != '\'') {
          out += static_cast<char>(c);
        } else {
          out += fmt::format("\\x{:02X}", c);
        }
      }
      return out;
    }
    case ValueKind::kString:
    case ValueKind::kTyped:
      return text_;
  }
  return "";
}

bool Value::operator==(const Value& other) const {
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case ValueKind::kNull:
      return true;
    case ValueKind::kBool:
    case ValueKind::kInt:
    case ValueKind::kUInt:
      return int_ == other.int_;
    case ValueKind::kDouble:
      return double_ == other.double_ || (std::isnan(double_) && std::isnan(other.double_));
    case ValueKind::kString:
    case ValueKind::kBlob:
      return text_ == other.text_;
    case ValueKind::kTyped:
      return type_ == other.type_ && text_ == other.text_;
  }
  return false;
}

}  // namespace dux::pipeline
