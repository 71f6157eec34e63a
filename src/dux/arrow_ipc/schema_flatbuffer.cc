// The IPC side of the schema codec (schema_codec_internal.h): the schema model written as
// and read from the flatbuffer Schema of IPC messages (every type parameter checked), and
// the buffers each layout has in an IPC record batch.
#include <string_view>

#include "dux/arrow_ipc/schema_codec_internal.h"

namespace dux::arrow_ipc::internal {

namespace fb = flatbuf;

namespace {

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::KeyValue>>> BuildMetadata(
    flatbuffers::FlatBufferBuilder* b, const KeyValues& kvs) {
  if (kvs.empty()) return 0;
  std::vector<flatbuffers::Offset<fb::KeyValue>> entries;
  for (const auto& [key, value] : kvs) {
    auto k = b->CreateString(key);
    auto v = b->CreateString(value);
    entries.push_back(fb::CreateKeyValue(*b, k, v));
  }
  return b->CreateVector(entries);
}

fb::TimeUnit TimeUnitOf(char c) {
  switch (c) {
    case 's':
      return fb::TimeUnit::SECOND;
    case 'm':
      return fb::TimeUnit::MILLISECOND;
    case 'u':
      return fb::TimeUnit::MICROSECOND;
    default:
      return fb::TimeUnit::NANOSECOND;
  }
}

std::pair<fb::Type, flatbuffers::Offset<void>> BuildType(flatbuffers::FlatBufferBuilder* b,
                                                         const Field& f) {
  const std::string& fmt = f.format;
  switch (f.layout) {
    case Layout::kNull:
      return {fb::Type::Null, fb::CreateNull(*b).Union()};
    case Layout::kBool:
      return {fb::Type::Bool, fb::CreateBool(*b).Union()};
    case Layout::kBinary:
      return fmt == "u" ? std::make_pair(fb::Type::Utf8, fb::CreateUtf8(*b).Union())
                        : std::make_pair(fb::Type::Binary, fb::CreateBinary(*b).Union());
    case Layout::kLargeBinary:
      return fmt == "U" ? std::make_pair(fb::Type::LargeUtf8, fb::CreateLargeUtf8(*b).Union())
                        : std::make_pair(fb::Type::LargeBinary, fb::CreateLargeBinary(*b).Union());
    case Layout::kBinaryView:
      return fmt == "vu" ? std::make_pair(fb::Type::Utf8View, fb::CreateUtf8View(*b).Union())
                         : std::make_pair(fb::Type::BinaryView, fb::CreateBinaryView(*b).Union());
    case Layout::kList:
      return {fb::Type::List, fb::CreateList(*b).Union()};
    case Layout::kLargeList:
      return {fb::Type::LargeList, fb::CreateLargeList(*b).Union()};
    case Layout::kFixedSizeList:
      return {fb::Type::FixedSizeList,
              fb::CreateFixedSizeList(*b, static_cast<int32_t>(f.list_size)).Union()};
    case Layout::kStruct:
      return {fb::Type::Struct_, fb::CreateStruct_(*b).Union()};
    case Layout::kMap:
      return {fb::Type::Map, fb::CreateMap(*b, f.map_keys_sorted).Union()};
    case Layout::kSparseUnion:
    case Layout::kDenseUnion: {
      std::vector<int32_t> ids(f.type_ids.begin(), f.type_ids.end());
      auto id_vector = b->CreateVector(ids);
      auto mode = f.layout == Layout::kDenseUnion ? fb::UnionMode::Dense : fb::UnionMode::Sparse;
      return {fb::Type::Union, fb::CreateUnion(*b, mode, id_vector).Union()};
    }
    case Layout::kFixedWidth:
      break;
  }
  char c = fmt[0];
  if (fmt.size() == 1 && IntegerByteWidth(c) != 0) {
    bool is_signed = c >= 'a' && c <= 'z';
    return {fb::Type::Int,
            fb::CreateInt(*b, static_cast<int32_t>(IntegerByteWidth(c) * 8), is_signed).Union()};
  }
  if (fmt == "e" || fmt == "f" || fmt == "g") {
    auto precision = c == 'e'   ? fb::Precision::HALF
                     : c == 'f' ? fb::Precision::SINGLE
                                : fb::Precision::DOUBLE;
    return {fb::Type::FloatingPoint, fb::CreateFloatingPoint(*b, precision).Union()};
  }
  if (c == 'd') {
    return {fb::Type::Decimal,
            fb::CreateDecimal(*b, f.decimal_precision, f.decimal_scale, f.decimal_bits).Union()};
  }
  if (c == 'w') {
    return {fb::Type::FixedSizeBinary,
            fb::CreateFixedSizeBinary(*b, static_cast<int32_t>(f.byte_width)).Union()};
  }
  // Temporal: "td?", "tt?", "ts?:tz", "tD?", "ti?".
  char kind = fmt[1];
  char unit = fmt[2];
  switch (kind) {
    case 'd':
      return {
          fb::Type::Date,
          fb::CreateDate(*b, unit == 'D' ? fb::DateUnit::DAY : fb::DateUnit::MILLISECOND).Union()};
    case 't':
      return {fb::Type::Time,
              fb::CreateTime(*b, TimeUnitOf(unit), static_cast<int32_t>(f.byte_width * 8)).Union()};
    case 's': {
      auto tz = fmt.size() > 4 ? b->CreateString(fmt.substr(4)) : 0;
      return {fb::Type::Timestamp, fb::CreateTimestamp(*b, TimeUnitOf(unit), tz).Union()};
    }
    case 'D':
      return {fb::Type::Duration, fb::CreateDuration(*b, TimeUnitOf(unit)).Union()};
    default: {
      auto interval = unit == 'M'   ? fb::IntervalUnit::YEAR_MONTH
                      : unit == 'D' ? fb::IntervalUnit::DAY_TIME
                                    : fb::IntervalUnit::MONTH_DAY_NANO;
      return {fb::Type::Interval, fb::CreateInterval(*b, interval).Union()};
    }
  }
}

flatbuffers::Offset<fb::Field> BuildField(flatbuffers::FlatBufferBuilder* b, const Field& f) {
  std::vector<flatbuffers::Offset<fb::Field>> children;
  for (const Field& child : f.children) children.push_back(BuildField(b, child));
  auto children_vector = b->CreateVector(children);
  auto name = b->CreateString(f.name);
  auto metadata = BuildMetadata(b, f.metadata);
  auto [type_type, type] = BuildType(b, f);
  flatbuffers::Offset<fb::DictionaryEncoding> dictionary = 0;
  if (f.dictionary) {
    char c = f.dictionary->index_format[0];
    auto index = fb::CreateInt(*b, static_cast<int32_t>(f.dictionary->index_byte_width * 8),
                               c >= 'a' && c <= 'z');
    dictionary = fb::CreateDictionaryEncoding(*b, f.dictionary->id, index, f.dictionary->ordered);
  }
  return fb::CreateField(*b, name, f.nullable, type_type, type, dictionary, children_vector,
                         metadata);
}

Result<KeyValues> ReadMetadata(
    const flatbuffers::Vector<flatbuffers::Offset<fb::KeyValue>>* entries) {
  KeyValues out;
  if (entries == nullptr) return out;
  for (const fb::KeyValue* kv : *entries) {
    if (kv == nullptr) return Status::InvalidArgument("ipc: null custom metadata entry");
    out.emplace_back(kv->key() ? kv->key()->str() : "", kv->value() ? kv->value()->str() : "");
  }
  return out;
}

Result<char> TimeUnitChar(fb::TimeUnit unit) {
  switch (unit) {
    case fb::TimeUnit::SECOND:
      return 's';
    case fb::TimeUnit::MILLISECOND:
      return 'm';
    case fb::TimeUnit::MICROSECOND:
      return 'u';
    case fb::TimeUnit::NANOSECOND:
      return 'n';
  }
  return Status::InvalidArgument("ipc: unknown time unit " +
                                 std::to_string(static_cast<int>(unit)));
}

Result<std::string> IntegerFormat(const fb::Int* t) {
  if (t == nullptr) return Status::InvalidArgument("ipc: Int type without parameters");
  const char* chars = t->is_signed() ? "csil" : "CSIL";
  switch (t->bit_width()) {
    case 8:
      return std::string(1, chars[0]);
    case 16:
      return std::string(1, chars[1]);
    case 32:
      return std::string(1, chars[2]);
    case 64:
      return std::string(1, chars[3]);
    default:
      return Status::InvalidArgument("ipc: unsupported integer bit width " +
                                     std::to_string(t->bit_width()));
  }
}

// The C Data format string of a flatbuffer type; checks its parameters.
Result<std::string> FormatOf(const fb::Field* field, size_t n_children) {
  auto missing = [&]() {
    return Status::InvalidArgument(
        "ipc: type " + std::string(fb::EnumNameType(field->type_type())) + " without parameters");
  };
  switch (field->type_type()) {
    case fb::Type::Null:
      return std::string("n");
    case fb::Type::Int:
      return IntegerFormat(field->type_as_Int());
    case fb::Type::FloatingPoint: {
      auto* t = field->type_as_FloatingPoint();
      if (t == nullptr) return missing();
      switch (t->precision()) {
        case fb::Precision::HALF:
          return std::string("e");
        case fb::Precision::SINGLE:
          return std::string("f");
        case fb::Precision::DOUBLE:
          return std::string("g");
      }
      return Status::InvalidArgument("ipc: unknown floating point precision");
    }
    case fb::Type::Binary:
      return std::string("z");
    case fb::Type::Utf8:
      return std::string("u");
    case fb::Type::LargeBinary:
      return std::string("Z");
    case fb::Type::LargeUtf8:
      return std::string("U");
    case fb::Type::BinaryView:
      return std::string("vz");
    case fb::Type::Utf8View:
      return std::string("vu");
    case fb::Type::Bool:
      return std::string("b");
    case fb::Type::Decimal: {
      auto* t = field->type_as_Decimal();
      if (t == nullptr) return missing();
      int bits = t->bit_width();
      if (bits != 32 && bits != 64 && bits != 128 && bits != 256) {
        return Status::InvalidArgument("ipc: unsupported decimal bit width " +
                                       std::to_string(bits));
      }
      if (t->precision() <= 0) {
        return Status::InvalidArgument("ipc: decimal precision must be positive, got " +
                                       std::to_string(t->precision()));
      }
      std::string out = "d:" + std::to_string(t->precision()) + "," + std::to_string(t->scale());
      if (bits != 128) out += "," + std::to_string(bits);
      return out;
    }
    case fb::Type::Date: {
      auto* t = field->type_as_Date();
      if (t == nullptr) return missing();
      if (t->unit() == fb::DateUnit::DAY) return std::string("tdD");
      if (t->unit() == fb::DateUnit::MILLISECOND) return std::string("tdm");
      return Status::InvalidArgument("ipc: unknown date unit");
    }
    case fb::Type::Time: {
      auto* t = field->type_as_Time();
      if (t == nullptr) return missing();
      DUX_ASSIGN_OR_RETURN(char unit, TimeUnitChar(t->unit()));
      int want = (unit == 's' || unit == 'm') ? 32 : 64;
      if (t->bit_width() != want) {
        return Status::InvalidArgument("ipc: time bit width " + std::to_string(t->bit_width()) +
                                       " does not match its unit");
      }
      return std::string("tt") + unit;
    }
    case fb::Type::Timestamp: {
      auto* t = field->type_as_Timestamp();
      if (t == nullptr) return missing();
      DUX_ASSIGN_OR_RETURN(char unit, TimeUnitChar(t->unit()));
      return std::string("ts") + unit + ":" + (t->timezone() ? t->timezone()->str() : "");
    }
    case fb::Type::Duration: {
      auto* t = field->type_as_Duration();
      if (t == nullptr) return missing();
      DUX_ASSIGN_OR_RETURN(char unit, TimeUnitChar(t->unit()));
      return std::string("tD") + unit;
    }
    case fb::Type::Interval: {
      auto* t = field->type_as_Interval();
      if (t == nullptr) return missing();
      switch (t->unit()) {
        case fb::IntervalUnit::YEAR_MONTH:
          return std::string("tiM");
        case fb::IntervalUnit::DAY_TIME:
          return std::string("tiD");
        case fb::IntervalUnit::MONTH_DAY_NANO:
          return std::string("tin");
      }
      return Status::InvalidArgument("ipc: unknown interval unit");
    }
    case fb::Type::List:
      return std::string("+l");
    case fb::Type::LargeList:
      return std::string("+L");
    case fb::Type::Struct_:
      return std::string("+s");
    case fb::Type::Map:
      // ReadField reads keys_sorted from the table, so it must be there.
      if (field->type_as_Map() == nullptr) return missing();
      return std::string("+m");
    case fb::Type::FixedSizeList: {
      auto* t = field->type_as_FixedSizeList();
      if (t == nullptr) return missing();
      if (t->list_size() < 0) {
        return Status::InvalidArgument("ipc: negative fixed-size list size " +
                                       std::to_string(t->list_size()));
      }
      return "+w:" + std::to_string(t->list_size());
    }
    case fb::Type::FixedSizeBinary: {
      auto* t = field->type_as_FixedSizeBinary();
      if (t == nullptr) return missing();
      if (t->byte_width() < 0) {
        return Status::InvalidArgument("ipc: negative fixed-size binary width " +
                                       std::to_string(t->byte_width()));
      }
      return "w:" + std::to_string(t->byte_width());
    }
    case fb::Type::Union: {
      auto* t = field->type_as_Union();
      if (t == nullptr) return missing();
      std::string out;
      if (t->mode() == fb::UnionMode::Sparse) {
        out = "+us:";
      } else if (t->mode() == fb::UnionMode::Dense) {
        out = "+ud:";
      } else {
        return Status::InvalidArgument("ipc: unknown union mode");
      }
      if (t->type_ids() != nullptr) {
        for (size_t i = 0; i < t->type_ids()->size(); ++i) {
          if (i > 0) out += ",";
          out += std::to_string(t->type_ids()->Get(static_cast<flatbuffers::uoffset_t>(i)));
        }
      } else {
        for (size_t i = 0; i < n_children; ++i) {
          if (i > 0) out += ",";
          out += std::to_string(i);
        }
      }
      return out;
    }
    default:
      return Status::Unimplemented("ipc: unsupported type " +
                                   std::string(fb::EnumNameType(field->type_type())));
  }
}

Result<Field> ReadField(const fb::Field* fbf, int depth, int max_depth, bool in_dictionary) {
  if (fbf == nullptr) return Status::InvalidArgument("ipc: null field in schema");
  if (depth > max_depth) {
    return Status::InvalidArgument("ipc: schema nesting deeper than " + std::to_string(max_depth));
  }
  Field f;
  f.name = fbf->name() ? fbf->name()->str() : "";
  f.nullable = fbf->nullable();
  DUX_ASSIGN_OR_RETURN(f.metadata, ReadMetadata(fbf->custom_metadata()));
  if (fbf->dictionary() != nullptr) {
    if (in_dictionary) {
      return Status::Unimplemented("ipc: nested dictionary encoding in field " + Quote(f.name));
    }
    const fb::DictionaryEncoding* d = fbf->dictionary();
    if (d->dictionary_kind() != fb::DictionaryKind::DenseArray) {
      return Status::InvalidArgument("ipc: unknown dictionary kind");
    }
    DictionaryEncoding encoding;
    encoding.id = d->id();
    if (d->index_type() == nullptr) {
      encoding.index_format = "i";
    } else {
      DUX_ASSIGN_OR_RETURN(encoding.index_format, IntegerFormat(d->index_type()));
    }
    encoding.index_byte_width = IntegerByteWidth(encoding.index_format[0]);
    encoding.ordered = d->is_ordered();
    f.dictionary = std::move(encoding);
  }
  if (fbf->children() != nullptr) {
    for (const fb::Field* child : *fbf->children()) {
      DUX_ASSIGN_OR_RETURN(Field c, ReadField(child, depth + 1, max_depth,
                                              in_dictionary || f.dictionary.has_value()));
      f.children.push_back(std::move(c));
    }
  }
  auto format = FormatOf(fbf, f.children.size());
  if (!format.ok()) return format.status().WithSuffix("(field " + Quote(f.name) + ")");
  f.format = std::move(format).value();
  if (f.format == "+m") f.map_keys_sorted = fbf->type_as_Map()->keys_sorted();
  DUX_RETURN_NOT_OK(ResolveLayout(&f));
  return f;
}

}  // namespace

int IpcBufferCount(Layout layout) {
  switch (layout) {
    case Layout::kNull:
      return 0;
    case Layout::kFixedSizeList:
    case Layout::kStruct:
    case Layout::kSparseUnion:
      return 1;
    case Layout::kBool:
    case Layout::kFixedWidth:
    case Layout::kBinaryView:
    case Layout::kList:
    case Layout::kLargeList:
    case Layout::kMap:
    case Layout::kDenseUnion:
      return 2;
    case Layout::kBinary:
    case Layout::kLargeBinary:
      return 3;
  }
  return 0;
}

flatbuffers::Offset<fb::Schema> BuildSchema(flatbuffers::FlatBufferBuilder* b,
                                            const Schema& schema) {
  std::vector<flatbuffers::Offset<fb::Field>> fields;
  for (const Field& f : schema.fields) fields.push_back(BuildField(b, f));
  auto field_vector = b->CreateVector(fields);
  auto metadata = BuildMetadata(b, schema.metadata);
  return fb::CreateSchema(*b, fb::Endianness::Little, field_vector, metadata);
}

Result<Schema> ReadSchema(const fb::Schema* schema, int max_depth) {
  if (schema == nullptr) return Status::InvalidArgument("ipc: message without a schema");
  if (schema->endianness() != fb::Endianness::Little) {
    return Status::Unimplemented("ipc: big-endian data is not supported");
  }
  Schema out;
  DUX_ASSIGN_OR_RETURN(out.metadata, ReadMetadata(schema->custom_metadata()));
  if (schema->fields() != nullptr) {
    for (const fb::Field* f : *schema->fields()) {
      DUX_ASSIGN_OR_RETURN(Field field, ReadField(f, 1, max_depth, false));
      out.fields.push_back(std::move(field));
    }
  }
  return out;
}

}  // namespace dux::arrow_ipc::internal