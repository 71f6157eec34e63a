// Hand-built C Data arrays and their logical rendering, for the codec tests.
#include "dux/arrow_ipc/array_builder_testing.h"

#include <algorithm>
#include <cstdio>

namespace dux::arrow_ipc::testing {

namespace {

bool Bit(const void* bits, int64_t i) {
  return (static_cast<const uint8_t*>(bits)[i >> 3] >> (i & 7)) & 1;
}

std::vector<bool> ValidOf(const std::vector<std::optional<std::string>>& values) {
  std::vector<bool> valid;
  valid.reserve(values.size());
  for (const auto& v : values) valid.push_back(v.has_value());
  return valid;
}

int64_t CountNulls(const std::vector<bool>& valid) {
  return static_cast<int64_t>(std::count(valid.begin(), valid.end(), false));
}

template <typename T>
std::vector<uint8_t> Bytes(const std::vector<T>& values) {
  std::vector<uint8_t> out(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

std::string EncodeMetadata(const std::vector<std::pair<std::string, std::string>>& kvs) {
  std::string out;
  auto put = [&out](int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  put(static_cast<int32_t>(kvs.size()));
  for (const auto& [k, v] : kvs) {
    put(static_cast<int32_t>(k.size()));
    out += k;
    put(static_cast<int32_t>(v.size()));
    out += v;
  }
  return out;
}

struct SchemaHolder {
  std::string format, name, metadata;
  std::vector<ArrowSchema> children;
  std::vector<ArrowSchema*> pointers;
  ArrowSchema dictionary{};
};

void ReleaseSchema(ArrowSchema* s) {
  auto* h = static_cast<SchemaHolder*>(s->private_data);
  for (auto& c : h->children) {
    if (c.release) c.release(&c);
  }
  if (h->dictionary.release) h->dictionary.release(&h->dictionary);
  delete h;
  s->release = nullptr;
}

struct ArrayHolder {
  std::vector<std::optional<std::vector<uint8_t>>> bytes;
  std::vector<const void*> buffers;
  std::vector<ArrowArray> children;
  std::vector<ArrowArray*> pointers;
  ArrowArray dictionary{};
};

void ReleaseArray(ArrowArray* a) {
  auto* h = static_cast<ArrayHolder*>(a->private_data);
  for (auto& c : h->children) {
    if (c.release) c.release(&c);
  }
  if (h->dictionary.release) h->dictionary.release(&h->dictionary);
  delete h;
  a->release = nullptr;
}

int64_t FixedWidth(const std::string& f) {
  if (f.size() == 1) {
    switch (f[0]) {
      case 'c':
      case 'C':
        return 1;
      case 's':
      case 'S':
      case 'e':
        return 2;
      case 'i':
      case 'I':
      case 'f':
        return 4;
      case 'l':
      case 'L':
      case 'g':
        return 8;
      default:
        return 0;
    }
  }
  if (f == "tdD" || f == "tts" || f == "ttm" || f == "tiM") return 4;
  if (f == "tin") return 16;
  if (f.rfind("td", 0) == 0 || f.rfind("tt", 0) == 0 || f.rfind("ts", 0) == 0 ||
      f.rfind("tD", 0) == 0 || f == "tiD") {
    return 8;
  }
  if (f.rfind("d:", 0) == 0) {
    size_t last = f.rfind(',');
    size_t first = f.find(',');
    if (last != first) return std::stoi(f.substr(last + 1)) / 8;
    return 16;
  }
  if (f.rfind("w:", 0) == 0) return std::stoi(f.substr(2));
  return 0;
}

std::string Hex(const uint8_t* p, int64_t n) {
  std::string out;
  char buf[3];
  for (int64_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof(buf), "%02x", p[i]);
    out += buf;
  }
  return out;
}

std::string Quoted(const uint8_t* p, int64_t n) { return "'" + Hex(p, n) + "'"; }

int64_t ReadIndex(const std::string& f, const void* buffer, int64_t j) {
  const auto* b = static_cast<const uint8_t*>(buffer);
  switch (f[0]) {
    case 'c':
      return reinterpret_cast<const int8_t*>(b)[j];
    case 'C':
      return b[j];
    case 's':
      return reinterpret_cast<const int16_t*>(b)[j];
    case 'S':
      return reinterpret_cast<const uint16_t*>(b)[j];
    case 'i':
      return reinterpret_cast<const int32_t*>(b)[j];
    case 'I':
      return reinterpret_cast<const uint32_t*>(b)[j];
    default:
      return reinterpret_cast<const int64_t*>(b)[j];
  }
}

std::string Value(const ArrowSchema& s, const ArrowArray& a, int64_t i) {
  int64_t j = a.offset + i;
  std::string f = s.format;
  bool is_union = f.rfind("+u", 0) == 0;
  if (f == "n") return "null";
  if (!is_union && a.n_buffers > 0 && a.buffers[0] != nullptr && !Bit(a.buffers[0], j)) {
    return "null";
  }
  if (s.dictionary != nullptr) {
    return Value(*s.dictionary, *a.dictionary, ReadIndex(f, a.buffers[1], j));
  }
  if (f == "b") return Bit(a.buffers[1], j) ? "true" : "false";
  if (int64_t w = FixedWidth(f); w > 0 || f == "w:0") {
    return Hex(static_cast<const uint8_t*>(a.buffers[1]) + j * w, w);
  }
  if (f == "u" || f == "z") {
    const auto* o = static_cast<const int32_t*>(a.buffers[1]);
    return Quoted(static_cast<const uint8_t*>(a.buffers[2]) + o[j], o[j + 1] - o[j]);
  }
  if (f == "U" || f == "Z") {
    const auto* o = static_cast<const int64_t*>(a.buffers[1]);
    return Quoted(static_cast<const uint8_t*>(a.buffers[2]) + o[j], o[j + 1] - o[j]);
  }
  if (f == "vu" || f == "vz") {
    const uint8_t* view = static_cast<const uint8_t*>(a.buffers[1]) + j * 16;
    int32_t n, index, offset;
    std::memcpy(&n, view, 4);
    if (n <= 12) return Quoted(view + 4, n);
    std::memcpy(&index, view + 8, 4);
    std::memcpy(&offset, view + 12, 4);
    return Quoted(static_cast<const uint8_t*>(a.buffers[2 + index]) + offset, n);
  }
  std::string out;
  auto list = [&](int64_t start, int64_t end) {
    out = "[";
    for (int64_t k = start; k < end; ++k) {
      if (k > start) out += ", ";
      out += Value(*s.children[0], *a.children[0], k);
    }
    return out + "]";
  };
  if (f == "+l" || f == "+m") {
    const auto* o = static_cast<const int32_t*>(a.buffers[1]);
    return list(o[j], o[j + 1]);
  }
  if (f == "+L") {
    const auto* o = static_cast<const int64_t*>(a.buffers[1]);
    return list(o[j], o[j + 1]);
  }
  if (f.rfind("+w:", 0) == 0) {
    int64_t n = std::stoll(f.substr(3));
    return list(j * n, (j + 1) * n);
  }
  if (f == "+s") {
    out = "{";
    for (int64_t k = 0; k < s.n_children; ++k) {
      if (k > 0) out += ", ";
      out += Value(*s.children[k], *a.children[k], j);
    }
    return out + "}";
  }
  if (is_union) {
    int8_t id = static_cast<const int8_t*>(a.buffers[0])[j];
    // Child position of the id in the format's id list.
    std::string ids = f.substr(4);
    int64_t position = 0;
    size_t start = 0;
    while (true) {
      size_t comma = ids.find(',', start);
      if (std::stoi(ids.substr(start, comma - start)) == id) break;
      ++position;
      start = comma + 1;
    }
    int64_t child_index = f[2] == 'd' ? static_cast<const int32_t*>(a.buffers[1])[j] : j;
    return "<" + std::to_string(id) + ":" +
           Value(*s.children[position], *a.children[position], child_index) + ">";
  }
  return "?" + f;
}

}  // namespace

std::optional<std::vector<uint8_t>> Bitmap(const std::vector<bool>& valid) {
  if (std::all_of(valid.begin(), valid.end(), [](bool v) { return v; })) return std::nullopt;
  std::vector<uint8_t> bits((valid.size() + 7) / 8);
  for (size_t i = 0; i < valid.size(); ++i) {
    if (valid[i]) bits[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
  }
  return bits;
}

TestArray FixedBytes(std::string format, int width,
                     const std::vector<std::optional<std::string>>& values) {
  TestArray a;
  a.format = std::move(format);
  a.length = static_cast<int64_t>(values.size());
  std::vector<uint8_t> data(values.size() * static_cast<size_t>(width));
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i]) std::memcpy(data.data() + i * width, values[i]->data(), width);
  }
  auto valid = ValidOf(values);
  a.null_count = CountNulls(valid);
  a.buffers = {Bitmap(valid), data};
  return a;
}

TestArray Bools(const std::vector<std::optional<bool>>& values) {
  TestArray a;
  a.format = "b";
  a.length = static_cast<int64_t>(values.size());
  std::vector<bool> valid, bits;
  for (const auto& v : values) {
    valid.push_back(v.has_value());
    bits.push_back(v.value_or(false));
  }
  a.null_count = CountNulls(valid);
  auto packed = Bitmap(bits);
  if (!packed) packed = std::vector<uint8_t>((values.size() + 7) / 8, 0xff);
  a.buffers = {Bitmap(valid), packed};
  return a;
}

TestArray Nulls(int64_t length) {
  TestArray a;
  a.format = "n";
  a.length = length;
  a.null_count = length;
  return a;
}

TestArray Strings(std::string format, const std::vector<std::optional<std::string>>& values) {
  TestArray a;
  bool large = format == "U" || format == "Z";
  a.format = std::move(format);
  a.length = static_cast<int64_t>(values.size());
  std::vector<int64_t> offsets{0};
  std::vector<uint8_t> data;
  for (const auto& v : values) {
    if (v) data.insert(data.end(), v->begin(), v->end());
    offsets.push_back(static_cast<int64_t>(data.size()));
  }
  auto valid = ValidOf(values);
  a.null_count = CountNulls(valid);
  std::vector<uint8_t> offset_bytes =
      large ? Bytes(offsets) : Bytes(std::vector<int32_t>(offsets.begin(), offsets.end()));
  a.buffers = {Bitmap(valid), offset_bytes, data};
  return a;
}

TestArray Views(std::string format, const std::vector<std::optional<std::string>>& values) {
  TestArray a;
  a.format = std::move(format);
  a.length = static_cast<int64_t>(values.size());
  std::vector<uint8_t> views(values.size() * 16);
  std::vector<uint8_t> data[2];
  int next = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!values[i]) continue;
    const std::string& v = *values[i];
    auto n = static_cast<int32_t>(v.size());
    uint8_t* view = views.data() + i * 16;
    std::memcpy(view, &n, 4);
    if (n <= 12) {
      std::copy(v.begin(), v.end(), view + 4);
      continue;
    }
    std::memcpy(view + 4, v.data(), 4);
    int32_t index = next, offset = static_cast<int32_t>(data[next].size());
    std::memcpy(view + 8, &index, 4);
    std::memcpy(view + 12, &offset, 4);
    data[next].insert(data[next].end(), v.begin(), v.end());
    next = 1 - next;
  }
  auto valid = ValidOf(values);
  a.null_count = CountNulls(valid);
  std::vector<int64_t> sizes{static_cast<int64_t>(data[0].size()),
                             static_cast<int64_t>(data[1].size())};
  a.buffers = {Bitmap(valid), views, data[0], data[1], Bytes(sizes)};
  return a;
}

TestArray List(std::string format, TestArray child, const std::vector<std::optional<int>>& sizes) {
  TestArray a;
  bool large = format == "+L";
  a.format = std::move(format);
  a.length = static_cast<int64_t>(sizes.size());
  std::vector<int64_t> offsets{0};
  std::vector<bool> valid;
  for (const auto& n : sizes) {
    valid.push_back(n.has_value());
    offsets.push_back(offsets.back() + n.value_or(0));
  }
  a.null_count = CountNulls(valid);
  a.buffers = {Bitmap(valid), large ? Bytes(offsets)
                                    : Bytes(std::vector<int32_t>(offsets.begin(), offsets.end()))};
  a.children.push_back(std::move(child));
  return a;
}

TestArray FixedSizeList(int size, TestArray child, const std::vector<bool>& valid) {
  TestArray a;
  a.format = "+w:" + std::to_string(size);
  a.length = static_cast<int64_t>(valid.size());
  a.null_count = CountNulls(valid);
  a.buffers = {Bitmap(valid)};
  a.children.push_back(std::move(child));
  return a;
}

TestArray Struct(std::vector<TestArray> children, const std::vector<bool>& valid) {
  TestArray a;
  a.format = "+s";
  a.length = valid.empty() ? (children.empty() ? 0 : children[0].length)
                           : static_cast<int64_t>(valid.size());
  a.null_count = CountNulls(valid);
  a.buffers = {Bitmap(valid)};
  a.children = std::move(children);
  return a;
}

static std::string IdList(const std::vector<int8_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
  return out;
}

TestArray SparseUnion(const std::vector<int8_t>& ids, std::vector<TestArray> children,
                      const std::vector<int8_t>& type_ids) {
  TestArray a;
  a.format = "+us:" + IdList(ids);
  a.length = static_cast<int64_t>(type_ids.size());
  a.buffers = {Bytes(type_ids)};
  a.children = std::move(children);
  return a;
}

TestArray DenseUnion(const std::vector<int8_t>& ids, std::vector<TestArray> children,
                     const std::vector<int8_t>& type_ids, const std::vector<int32_t>& offsets) {
  TestArray a;
  a.format = "+ud:" + IdList(ids);
  a.length = static_cast<int64_t>(type_ids.size());
  a.buffers = {Bytes(type_ids), Bytes(offsets)};
  a.children = std::move(children);
  return a;
}

TestArray Dictionary(TestArray indices, TestArray values, bool ordered) {
  if (ordered) indices.flags |= ARROW_FLAG_DICTIONARY_ORDERED;
  indices.dictionary = std::make_shared<TestArray>(std::move(values));
  return indices;
}

TestArray Slice(TestArray a, int64_t offset, int64_t length) {
  a.offset += offset;
  a.length = length;
  a.null_count = -1;
  return a;
}

TestArray Batch(std::vector<TestArray> columns) {
  TestArray a = Struct(std::move(columns));
  a.flags = 0;
  a.buffers = {std::nullopt};
  return a;
}

void ExportSchema(const TestArray& a, ArrowSchema* out) {
  auto* h = new SchemaHolder();
  h->format = a.format;
  h->name = a.name;
  if (!a.metadata.empty()) h->metadata = EncodeMetadata(a.metadata);
  h->children.resize(a.children.size());
  for (size_t i = 0; i < a.children.size(); ++i) {
    ExportSchema(a.children[i], &h->children[i]);
    h->pointers.push_back(&h->children[i]);
  }
  if (a.dictionary) ExportSchema(*a.dictionary, &h->dictionary);
  out->format = h->format.c_str();
  out->name = h->name.c_str();
  out->metadata = h->metadata.empty() ? nullptr : h->metadata.c_str();
  out->flags = a.flags;
  out->n_children = static_cast<int64_t>(h->children.size());
  out->children = h->pointers.data();
  out->dictionary = a.dictionary ? &h->dictionary : nullptr;
  out->release = ReleaseSchema;
  out->private_data = h;
}

void ExportArray(const TestArray& a, ArrowArray* out) {
  auto* h = new ArrayHolder();
  h->bytes = a.buffers;
  for (auto& b : h->bytes) {
    // Distinct non-null pointers even for empty buffers.
    if (b && b->empty()) b->reserve(1);
    h->buffers.push_back(b ? static_cast<const void*>(b->data()) : nullptr);
  }
  h->children.resize(a.children.size());
  for (size_t i = 0; i < a.children.size(); ++i) {
    ExportArray(a.children[i], &h->children[i]);
    h->pointers.push_back(&h->children[i]);
  }
  if (a.dictionary) ExportArray(*a.dictionary, &h->dictionary);
  out->length = a.length;
  out->null_count = a.null_count;
  out->offset = a.offset;
  out->n_buffers = static_cast<int64_t>(h->buffers.size());
  out->n_children = static_cast<int64_t>(h->children.size());
  out->buffers = h->buffers.data();
  out->children = h->pointers.data();
  out->dictionary = a.dictionary ? &h->dictionary : nullptr;
  out->release = ReleaseArray;
  out->private_data = h;
}

std::string RenderSchema(const ArrowSchema& s) {
  std::string out = std::string(s.format) + " \"" + (s.name ? s.name : "") +
                    "\" flags=" + std::to_string(s.flags);
  if (s.metadata != nullptr) {
    const char* p = s.metadata;
    int32_t n;
    std::memcpy(&n, p, 4);
    p += 4;
    out += " meta{";
    for (int32_t i = 0; i < n; ++i) {
      int32_t len;
      std::memcpy(&len, p, 4);
      out += std::string(p + 4, len) + "=";
      p += 4 + len;
      std::memcpy(&len, p, 4);
      out += std::string(p + 4, len) + ";";
      p += 4 + len;
    }
    out += "}";
  }
  if (s.dictionary) out += " dict(" + RenderSchema(*s.dictionary) + ")";
  if (s.n_children > 0) {
    out += " (";
    for (int64_t i = 0; i < s.n_children; ++i)
      out += (i ? ", " : "") + RenderSchema(*s.children[i]);
    out += ")";
  }
  return out;
}

std::string RenderBatch(const ArrowSchema& schema, const ArrowArray& batch) {
  std::string out;
  for (int64_t row = 0; row < batch.length; ++row) {
    for (int64_t c = 0; c < schema.n_children; ++c) {
      if (c > 0) out += " | ";
      out += Value(*schema.children[c], *batch.children[c], batch.offset + row);
    }
    out += "\n";
  }
  return out;
}

}  // namespace dux::arrow_ipc::testing
