// The C Data Interface side of the schema codec (schema_codec_internal.h): format strings
// parsed into a Field's layout, and C schemas (ArrowSchema) imported into and exported from
// the schema model, with their metadata encoding.
#include <charconv>
#include <cstring>
#include <string_view>

#include "dux/arrow_ipc/schema_codec_internal.h"
#include "dux/common/library_callback.h"

namespace dux::arrow_ipc::internal {

namespace {

bool ParseInt(std::string_view text, int64_t min, int64_t max, int64_t* out) {
  if (text.empty()) return false;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  if (value < min || value > max) return false;
  *out = value;
  return true;
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = text.find(separator, start);
    if (pos == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, pos - start));
    start = pos + 1;
  }
}

bool IsTimeUnit(char c) { return c == 's' || c == 'm' || c == 'u' || c == 'n'; }

Status BadFormat(const Field& f) {
  return Status::InvalidArgument("ipc: malformed Arrow format " + Quote(f.format) + " for field " +
                                 Quote(f.name));
}

Status ExpectChildren(const Field& f, size_t n) {
  if (f.children.size() != n) {
    return Status::InvalidArgument("ipc: field " + Quote(f.name) + " of format " + Quote(f.format) +
                                   " needs " + std::to_string(n) + " children, has " +
                                   std::to_string(f.children.size()));
  }
  return Status::OK();
}

Status Fixed(Field* f, int64_t width) {
  f->layout = Layout::kFixedWidth;
  f->byte_width = width;
  return ExpectChildren(*f, 0);
}

// C Data metadata: int32 count, then per pair int32 length + key bytes, int32 length + value.
Result<KeyValues> ParseCMetadata(const char* metadata) {
  KeyValues out;
  if (metadata == nullptr) return out;
  auto read_i32 = [](const char*& p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    p += 4;
    return v;
  };
  const char* p = metadata;
  int32_t n = read_i32(p);
  if (n < 0 || n > (1 << 20)) return Status::InvalidArgument("ipc: malformed C schema metadata");
  for (int32_t i = 0; i < n; ++i) {
    int32_t key_length = read_i32(p);
    if (key_length < 0) return Status::InvalidArgument("ipc: malformed C schema metadata");
    std::string key(p, static_cast<size_t>(key_length));
    p += key_length;
    int32_t value_length = read_i32(p);
    if (value_length < 0) return Status::InvalidArgument("ipc: malformed C schema metadata");
    std::string value(p, static_cast<size_t>(value_length));
    p += value_length;
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

std::string EncodeCMetadata(const KeyValues& kvs) {
  std::string out;
  auto put_i32 = [&out](size_t v) {
    int32_t x = static_cast<int32_t>(v);
    out.append(reinterpret_cast<const char*>(&x), 4);
  };
  put_i32(kvs.size());
  for (const auto& [key, value] : kvs) {
    put_i32(key.size());
    out += key;
    put_i32(value.size());
    out += value;
  }
  return out;
}

Result<Field> ImportField(const ArrowSchema& s, int depth, int max_depth, bool in_dictionary) {
  if (depth > max_depth) {
    return Status::InvalidArgument("ipc: schema nesting deeper than " + std::to_string(max_depth));
  }
  if (s.release == nullptr) return Status::InvalidArgument("ipc: released ArrowSchema");
  if (s.format == nullptr) return Status::InvalidArgument("ipc: ArrowSchema without a format");
  Field f;
  f.name = s.name != nullptr ? s.name : "";
  f.nullable = (s.flags & ARROW_FLAG_NULLABLE) != 0;
  DUX_ASSIGN_OR_RETURN(f.metadata, ParseCMetadata(s.metadata));
  const ArrowSchema* values = &s;
  if (s.dictionary != nullptr) {
    if (in_dictionary || s.dictionary->dictionary != nullptr) {
      return Status::Unimplemented("ipc: nested dictionary encoding in field " + Quote(f.name));
    }
    DictionaryEncoding encoding;
    encoding.index_format = s.format;
    encoding.index_byte_width =
        encoding.index_format.size() == 1 ? IntegerByteWidth(encoding.index_format[0]) : 0;
    if (encoding.index_byte_width == 0) {
      return Status::InvalidArgument("ipc: dictionary index format " + Quote(s.format) +
                                     " is not an integer (field " + Quote(f.name) + ")");
    }
    encoding.ordered = (s.flags & ARROW_FLAG_DICTIONARY_ORDERED) != 0;
    f.dictionary = std::move(encoding);
    values = s.dictionary;
    if (values->format == nullptr || values->release == nullptr) {
      return Status::InvalidArgument("ipc: invalid dictionary schema in field " + Quote(f.name));
    }
  }
  f.format = values->format;
  f.map_keys_sorted = (values->flags & ARROW_FLAG_MAP_KEYS_SORTED) != 0;
  if (values->n_children < 0 || (values->n_children > 0 && values->children == nullptr)) {
    return Status::InvalidArgument("ipc: invalid children in C schema of field " + Quote(f.name));
  }
  for (int64_t i = 0; i < values->n_children; ++i) {
    if (values->children[i] == nullptr) {
      return Status::InvalidArgument("ipc: null child in C schema of field " + Quote(f.name));
    }
    DUX_ASSIGN_OR_RETURN(Field child, ImportField(*values->children[i], depth + 1, max_depth,
                                                  in_dictionary || f.dictionary.has_value()));
    f.children.push_back(std::move(child));
  }
  DUX_RETURN_NOT_OK(ResolveLayout(&f));
  return f;
}

// private_data of exported schemas.
struct ExportedSchema {
  std::string format, name, metadata;
  std::vector<ArrowSchema> children;
  std::vector<ArrowSchema*> child_pointers;
  ArrowSchema dictionary{};
};

void ReleaseExportedSchema(ArrowSchema* schema) {
  if (schema == nullptr || schema->release == nullptr) return;
  auto* exported = static_cast<ExportedSchema*>(schema->private_data);
  for (ArrowSchema& child : exported->children) {
    if (child.release != nullptr) child.release(&child);
  }
  if (exported->dictionary.release != nullptr) exported->dictionary.release(&exported->dictionary);
  delete exported;
  schema->release = nullptr;
  schema->private_data = nullptr;
}

void FillSchema(ExportedSchema* exported, int64_t flags, ArrowSchema* out) {
  exported->child_pointers.resize(exported->children.size());
  for (size_t i = 0; i < exported->children.size(); ++i) {
    exported->child_pointers[i] = &exported->children[i];
  }
  out->format = exported->format.c_str();
  out->name = exported->name.c_str();
  out->metadata = exported->metadata.empty() ? nullptr : exported->metadata.c_str();
  out->flags = flags;
  out->n_children = static_cast<int64_t>(exported->children.size());
  out->children = exported->child_pointers.empty() ? nullptr : exported->child_pointers.data();
  out->dictionary = exported->dictionary.release != nullptr ? &exported->dictionary : nullptr;
  out->release = LibraryCallback<ReleaseExportedSchema>::Call;
  out->private_data = exported;
}

// The value type of `f` (ignoring its dictionary encoding) as a C schema.
void ExportValues(const Field& f, const std::string& name, bool with_metadata, int64_t flags,
                  ArrowSchema* out) {
  auto* exported = new ExportedSchema();
  exported->format = f.format;
  exported->name = name;
  if (with_metadata && !f.metadata.empty()) exported->metadata = EncodeCMetadata(f.metadata);
  exported->children.resize(f.children.size());
  for (size_t i = 0; i < f.children.size(); ++i) ExportField(f.children[i], &exported->children[i]);
  if (f.layout == Layout::kMap && f.map_keys_sorted) flags |= ARROW_FLAG_MAP_KEYS_SORTED;
  FillSchema(exported, flags, out);
}

void NumberDictionaries(std::vector<Field>* fields, int64_t* next) {
  for (Field& f : *fields) {
    if (f.dictionary) f.dictionary->id = (*next)++;
    NumberDictionaries(&f.children, next);
  }
}

}  // namespace

int64_t IntegerByteWidth(char c) {
  switch (c) {
    case 'c':
    case 'C':
      return 1;
    case 's':
    case 'S':
      return 2;
    case 'i':
    case 'I':
      return 4;
    case 'l':
    case 'L':
      return 8;
    default:
      return 0;
  }
}

Status ResolveLayout(Field* f) {
  const std::string& fmt = f->format;
  if (fmt.empty()) return BadFormat(*f);
  if (fmt.size() == 1) {
    char c = fmt[0];
    if (IntegerByteWidth(c) != 0) return Fixed(f, IntegerByteWidth(c));
    switch (c) {
      case 'n':
        f->layout = Layout::kNull;
        return ExpectChildren(*f, 0);
      case 'b':
        f->layout = Layout::kBool;
        return ExpectChildren(*f, 0);
      case 'e':
        return Fixed(f, 2);
      case 'f':
        return Fixed(f, 4);
      case 'g':
        return Fixed(f, 8);
      case 'z':
      case 'u':
        f->layout = Layout::kBinary;
        return ExpectChildren(*f, 0);
      case 'Z':
      case 'U':
        f->layout = Layout::kLargeBinary;
        return ExpectChildren(*f, 0);
      default:
        break;
    }
    return Status::Unimplemented("ipc: unsupported Arrow format " + Quote(fmt));
  }
  if (fmt == "vz" || fmt == "vu") {
    f->layout = Layout::kBinaryView;
    return ExpectChildren(*f, 0);
  }
  if (fmt.rfind("d:", 0) == 0) {
    auto parts = Split(std::string_view(fmt).substr(2), ',');
    int64_t precision = 0, scale = 0, bits = 128;
    if (parts.size() < 2 || parts.size() > 3 || !ParseInt(parts[0], 1, 1000, &precision) ||
        !ParseInt(parts[1], -1000, 1000, &scale) ||
        (parts.size() == 3 && !ParseInt(parts[2], 32, 256, &bits))) {
      return BadFormat(*f);
    }
    if (bits != 32 && bits != 64 && bits != 128 && bits != 256) return BadFormat(*f);
    f->decimal_precision = static_cast<int32_t>(precision);
    f->decimal_scale = static_cast<int32_t>(scale);
    f->decimal_bits = static_cast<int32_t>(bits);
    return Fixed(f, bits / 8);
  }
  if (fmt.rfind("w:", 0) == 0) {
    int64_t width = 0;
    if (!ParseInt(std::string_view(fmt).substr(2), 0, INT32_MAX, &width)) return BadFormat(*f);
    return Fixed(f, width);
  }
  if (fmt[0] == 't' && fmt.size() >= 3) {
    char kind = fmt[1], unit = fmt[2];
    if (kind == 's' && IsTimeUnit(unit) && fmt.size() >= 4 && fmt[3] == ':') return Fixed(f, 8);
    if (fmt.size() == 3) {
      if (fmt == "tdD" || fmt == "tts" || fmt == "ttm" || fmt == "tiM") return Fixed(f, 4);
      if (fmt == "tdm" || fmt == "ttu" || fmt == "ttn" || fmt == "tiD") return Fixed(f, 8);
      if (fmt == "tin") return Fixed(f, 16);
      if (kind == 'D' && IsTimeUnit(unit)) return Fixed(f, 8);
    }
    return Status::Unimplemented("ipc: unsupported Arrow format " + Quote(fmt));
  }
  if (fmt == "+l" || fmt == "+L") {
    f->layout = fmt == "+l" ? Layout::kList : Layout::kLargeList;
    return ExpectChildren(*f, 1);
  }
  if (fmt.rfind("+w:", 0) == 0) {
    if (!ParseInt(std::string_view(fmt).substr(3), 0, INT32_MAX, &f->list_size)) {
      return BadFormat(*f);
    }
    f->layout = Layout::kFixedSizeList;
    return ExpectChildren(*f, 1);
  }
  if (fmt == "+s") {
    f->layout = Layout::kStruct;
    return Status::OK();
  }
  if (fmt == "+m") {
    f->layout = Layout::kMap;
    DUX_RETURN_NOT_OK(ExpectChildren(*f, 1));
    const Field& entries = f->children[0];
    if (entries.layout != Layout::kStruct || entries.children.size() != 2 || entries.dictionary) {
      return Status::InvalidArgument("ipc: map field " + Quote(f->name) +
                                     " needs a struct child with a key and a value");
    }
    return Status::OK();
  }
  if (fmt.rfind("+ud:", 0) == 0 || fmt.rfind("+us:", 0) == 0) {
    f->layout = fmt[2] == 'd' ? Layout::kDenseUnion : Layout::kSparseUnion;
    f->type_ids.clear();
    std::string_view ids = std::string_view(fmt).substr(4);
    if (!ids.empty()) {
      for (std::string_view part : Split(ids, ',')) {
        int64_t id = 0;
        if (!ParseInt(part, 0, 127, &id)) return BadFormat(*f);
        for (int8_t seen : f->type_ids) {
          if (seen == id) return BadFormat(*f);
        }
        f->type_ids.push_back(static_cast<int8_t>(id));
      }
    }
    return ExpectChildren(*f, f->type_ids.size());
  }
  return Status::Unimplemented("ipc: unsupported Arrow format " + Quote(fmt));
}

Result<Schema> ImportSchema(const ArrowSchema& schema, int max_depth) {
  if (schema.release == nullptr) return Status::InvalidArgument("ipc: released ArrowSchema");
  if (schema.format == nullptr || std::string_view(schema.format) != "+s" ||
      schema.dictionary != nullptr) {
    return Status::InvalidArgument("ipc: a record batch schema must be a struct (\"+s\")");
  }
  Schema out;
  DUX_ASSIGN_OR_RETURN(out.metadata, ParseCMetadata(schema.metadata));
  if (schema.n_children < 0 || (schema.n_children > 0 && schema.children == nullptr)) {
    return Status::InvalidArgument("ipc: invalid children in record batch schema");
  }
  for (int64_t i = 0; i < schema.n_children; ++i) {
    if (schema.children[i] == nullptr) {
      return Status::InvalidArgument("ipc: null column in record batch schema");
    }
    DUX_ASSIGN_OR_RETURN(Field f, ImportField(*schema.children[i], 1, max_depth, false));
    out.fields.push_back(std::move(f));
  }
  return out;
}

void ExportField(const Field& f, ArrowSchema* out) {
  int64_t flags = f.nullable ? ARROW_FLAG_NULLABLE : 0;
  if (!f.dictionary) {
    ExportValues(f, f.name, true, flags, out);
    return;
  }
  if (f.dictionary->ordered) flags |= ARROW_FLAG_DICTIONARY_ORDERED;
  auto* exported = new ExportedSchema();
  exported->format = f.dictionary->index_format;
  exported->name = f.name;
  if (!f.metadata.empty()) exported->metadata = EncodeCMetadata(f.metadata);
  ExportValues(f, "", false, ARROW_FLAG_NULLABLE, &exported->dictionary);
  FillSchema(exported, flags, out);
}

void ExportSchema(const Schema& schema, ArrowSchema* out) {
  auto* exported = new ExportedSchema();
  exported->format = "+s";
  if (!schema.metadata.empty()) exported->metadata = EncodeCMetadata(schema.metadata);
  exported->children.resize(schema.fields.size());
  for (size_t i = 0; i < schema.fields.size(); ++i) {
    ExportField(schema.fields[i], &exported->children[i]);
  }
  FillSchema(exported, 0, out);
}

void AssignDictionaryIds(Schema* schema) {
  int64_t next = 0;
  NumberDictionaries(&schema->fields, &next);
}

}  // namespace dux::arrow_ipc::internal
