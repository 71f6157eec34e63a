// libFuzzer target for the Arrow IPC decoder: hands the input to arrow_ipc::Reader as a stream or
// a file, then reads every byte of every buffer the exported C Data arrays promise, so that
// ASan catches a buffer shorter than its array and the checks below catch an array that
// breaks the C Data Interface's rules (offsets, dictionary indices, union ids, views).
#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "dux/arrow_ipc/arrow_c.h"
#include "dux/arrow_ipc/ipc_reader.h"
#include "dux/arrow_ipc/streams.h"

namespace dux::arrow_ipc::fuzz {
namespace {

// Limits a hostile input of a few KiB should never need more than; the defaults (8 GiB of
// body) would let one input ask for more memory than the fuzzer's RSS limit.
ReadLimits FuzzLimits() {
  ReadLimits limits;
  limits.max_body_bytes = int64_t{256} << 20;
  return limits;
}

[[noreturn]] void Fail(const char* format, ...) {
  std::va_list args;
  va_start(args, format);
  std::fputs("ipc_reader_fuzzer: ", stderr);
  std::vfprintf(stderr, format, args);
  std::fputc('\n', stderr);
  va_end(args);
  std::abort();
}

// Every byte read goes into this sum, so no load can be optimized away.
volatile uint64_t g_sink = 0;

class Walker {
 public:
  uint64_t sum() const { return sum_; }

  void Schema(const ArrowSchema& s, int depth) {
    if (s.release == nullptr) Fail("released schema node");
    if (depth > 200) Fail("schema deeper than 200");
    if (s.format == nullptr) Fail("schema without a format");
    Touch(s.format, static_cast<int64_t>(std::strlen(s.format)));
    if (s.name != nullptr) Touch(s.name, static_cast<int64_t>(std::strlen(s.name)));
    Metadata(s.metadata);
    if (s.n_children < 0 || (s.n_children > 0 && s.children == nullptr)) {
      Fail("schema %s has %" PRId64 " children", s.format, s.n_children);
    }
    for (int64_t i = 0; i < s.n_children; ++i) {
      if (s.children[i] == nullptr) Fail("null schema child");
      Schema(*s.children[i], depth + 1);
    }
    if (s.dictionary != nullptr) Schema(*s.dictionary, depth + 1);
  }

  // The array `a` of type `s`: every slot in [0, offset + length).
  void Array(const ArrowSchema& s, const ArrowArray& a, int depth) {
    if (a.release == nullptr) Fail("released array");
    if (depth > 200) Fail("array deeper than 200");
    if (a.length < 0 || a.offset < 0 || a.length > INT64_MAX - a.offset) {
      Fail("array %s: length %" PRId64 ", offset %" PRId64, s.format, a.length, a.offset);
    }
    if (a.n_buffers < 0 || (a.n_buffers > 0 && a.buffers == nullptr)) {
      Fail("array %s: %" PRId64 " buffers", s.format, a.n_buffers);
    }
    if (a.n_children < 0 || (a.n_children > 0 && a.children == nullptr)) {
      Fail("array %s: %" PRId64 " children", s.format, a.n_children);
    }
    for (int64_t i = 0; i < a.n_children; ++i) {
      if (a.children[i] == nullptr) Fail("array %s: null child %" PRId64, s.format, i);
    }
    std::string_view f(s.format);
    if (s.dictionary != nullptr) return Dictionary(s, a, depth);
    if (a.dictionary != nullptr) Fail("array %s has a dictionary its schema lacks", s.format);
    if (a.n_children != s.n_children) {
      Fail("array %s: %" PRId64 " children, its schema %" PRId64, s.format, a.n_children,
           s.n_children);
    }
    if (int64_t w = FixedWidth(f); w != 0) return Fixed(s, a, w);
    if (f == "n") return Buffers(s, a, 0);
    if (f == "b") {
      Buffers(s, a, 2);
      Validity(s, a);
      Bits(a, 1, a.offset + a.length);
      return;
    }
    if (f == "u" || f == "z") return Binary<int32_t>(s, a);
    if (f == "U" || f == "Z") return Binary<int64_t>(s, a);
    if (f == "vu" || f == "vz") return Views(s, a);
    if (f == "+l" || f == "+m") return List<int32_t>(s, a, depth);
    if (f == "+L") return List<int64_t>(s, a, depth);
    if (f.substr(0, 3) == "+w:") return FixedSizeList(s, a, Number(f.substr(3), s), depth);
    if (f == "+s") {
      Buffers(s, a, 1);
      Validity(s, a);
      for (int64_t i = 0; i < a.n_children; ++i) {
        Child(s, a, i, a.offset + a.length, depth);
      }
      return;
    }
    if (f.substr(0, 4) == "+us:" || f.substr(0, 4) == "+ud:") return Union(s, a, depth);
    Fail("unknown format \"%s\"", s.format);
  }

 private:
  static int64_t FixedWidth(std::string_view f) {
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
    if (f == "tdm" || f == "ttu" || f == "ttn" || f == "tiD") return 8;
    if (f == "tin") return 16;
    if (f.size() == 3 && f.substr(0, 2) == "tD") return 8;
    if (f.size() >= 4 && f.substr(0, 2) == "ts" && f[3] == ':') return 8;
    if (f.substr(0, 2) == "d:") {
      // d:precision,scale[,bits]
      size_t first = f.find(',');
      size_t second = first == std::string_view::npos ? first : f.find(',', first + 1);
      if (second == std::string_view::npos) return 16;
      int64_t bits = 0;
      for (char c : f.substr(second + 1)) bits = c >= '0' && c <= '9' ? bits * 10 + (c - '0') : -1;
      if (bits != 32 && bits != 64 && bits != 128 && bits != 256) return -1;
      return bits / 8;
    }
    if (f.substr(0, 2) == "w:") return -2;  // handled by Fixed through Number
    return 0;
  }

  static int64_t Number(std::string_view digits, const ArrowSchema& s) {
    if (digits.empty() || digits.size() > 10) Fail("bad number in format \"%s\"", s.format);
    int64_t n = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') Fail("bad number in format \"%s\"", s.format);
      n = n * 10 + (c - '0');
    }
    return n;
  }

  void Touch(const void* p, int64_t n) {
    const auto* bytes = static_cast<const uint8_t*>(p);
    uint64_t sum = sum_;
    for (int64_t i = 0; i < n; ++i) sum = sum * 31 + bytes[i];
    sum_ = sum;
  }

  // C Data metadata: int32 count, then per pair int32 length + key, int32 length + value.
  void Metadata(const char* metadata) {
    if (metadata == nullptr) return;
    int32_t n;
    std::memcpy(&n, metadata, 4);
    if (n < 0) Fail("negative metadata count %d", n);
    const char* p = metadata + 4;
    for (int32_t i = 0; i < 2 * n; ++i) {
      int32_t length;
      std::memcpy(&length, p, 4);
      if (length < 0) Fail("negative metadata length %d", length);
      Touch(p + 4, length);
      p += 4 + length;
    }
  }

  static const uint8_t* Buffer(const ArrowArray& a, int64_t i) {
    return static_cast<const uint8_t*>(a.buffers[i]);
  }

  void Buffers(const ArrowSchema& s, const ArrowArray& a, int64_t n) {
    if (a.n_buffers != n) {
      Fail("array %s: %" PRId64 " buffers, the C Data Interface says %" PRId64, s.format,
           a.n_buffers, n);
    }
  }

  // Buffer `i` must hold bits [0, bits): it is read whole.
  void Bits(const ArrowArray& a, int64_t i, int64_t bits) {
    if (bits == 0) return;
    const uint8_t* p = Buffer(a, i);
    if (p == nullptr) Fail("null bit buffer %" PRId64 " for %" PRId64 " slots", i, bits);
    Touch(p, (bits + 7) / 8);
  }

  // Reads the validity bitmap and checks the null count against it.
  void Validity(const ArrowSchema& s, const ArrowArray& a) {
    const uint8_t* bits = Buffer(a, 0);
    if (bits == nullptr) {
      if (a.null_count != 0 && a.length > 0) {
        Fail("array %s: null count %" PRId64 " without a validity bitmap", s.format, a.null_count);
      }
      return;
    }
    int64_t end = a.offset + a.length;
    Touch(bits, (end + 7) / 8);
    if (a.null_count == -1) return;
    int64_t nulls = 0;
    for (int64_t i = a.offset; i < end; ++i) nulls += !GetBit(bits, i);
    if (nulls != a.null_count) {
      Fail("array %s: null count %" PRId64 " but the bitmap has %" PRId64 " nulls", s.format,
           a.null_count, nulls);
    }
  }

  static bool GetBit(const uint8_t* bits, int64_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }

  // Whether a consumer may read slot `i`: one that trusts a zero null count skips the
  // bitmap (DuckDB does), so a slot counts as valid when either reading says so.
  static bool MayRead(const ArrowArray& a, int64_t i) {
    const uint8_t* bits = Buffer(a, 0);
    return bits == nullptr || GetBit(bits, i) || a.null_count == 0;
  }

  void Fixed(const ArrowSchema& s, const ArrowArray& a, int64_t width) {
    std::string_view f(s.format);
    if (width == -2) width = Number(f.substr(2), s);
    if (width < 0) Fail("bad format \"%s\"", s.format);
    Buffers(s, a, 2);
    Validity(s, a);
    int64_t bytes = 0;
    if (__builtin_mul_overflow(a.offset + a.length, width, &bytes)) {
      Fail("array %s: %" PRId64 " slots of %" PRId64 " bytes overflow", s.format,
           a.offset + a.length, width);
    }
    if (bytes == 0) return;
    if (Buffer(a, 1) == nullptr) Fail("array %s: null values buffer", s.format);
    Touch(Buffer(a, 1), bytes);
  }

  template <typename T>
  void Offsets(const ArrowSchema& s, const ArrowArray& a, int64_t limit, int64_t* first,
               int64_t* last) {
    const T* offsets = reinterpret_cast<const T*>(Buffer(a, 1));
    int64_t end = a.offset + a.length;
    if (offsets == nullptr) {
      if (a.length == 0) {
        *first = *last = 0;
        return;
      }
      Fail("array %s: null offsets buffer", s.format);
    }
    Touch(offsets, (end + 1) * static_cast<int64_t>(sizeof(T)));
    if (offsets[a.offset] < 0) Fail("array %s: negative first offset", s.format);
    for (int64_t i = a.offset; i < end; ++i) {
      if (offsets[i + 1] < offsets[i]) {
        Fail("array %s: offsets decrease at slot %" PRId64, s.format, i);
      }
    }
    if (static_cast<int64_t>(offsets[end]) > limit) {
      Fail("array %s: offsets end at %" PRId64 ", past %" PRId64, s.format,
           static_cast<int64_t>(offsets[end]), limit);
    }
    *first = offsets[a.offset];
    *last = offsets[end];
  }

  template <typename T>
  void Binary(const ArrowSchema& s, const ArrowArray& a) {
    Buffers(s, a, 3);
    Validity(s, a);
    // The data buffer's size is not in the C struct: the offsets say how much of it to read.
    int64_t first = 0, last = 0;
    Offsets<T>(s, a, INT64_MAX, &first, &last);
    if (last > first && Buffer(a, 2) == nullptr) Fail("array %s: null data buffer", s.format);
    if (last > first) Touch(Buffer(a, 2) + first, last - first);
  }

  void Views(const ArrowSchema& s, const ArrowArray& a) {
    if (a.n_buffers < 3) Fail("view array with %" PRId64 " buffers", a.n_buffers);
    Validity(s, a);
    int64_t n_data = a.n_buffers - 3;
    const auto* sizes = reinterpret_cast<const int64_t*>(Buffer(a, a.n_buffers - 1));
    if (n_data > 0 && sizes == nullptr) Fail("view array without buffer sizes");
    std::vector<int64_t> data_sizes(static_cast<size_t>(n_data));
    for (int64_t i = 0; i < n_data; ++i) {
      std::memcpy(&data_sizes[static_cast<size_t>(i)], sizes + i, 8);
      int64_t size = data_sizes[static_cast<size_t>(i)];
      if (size < 0) Fail("view data buffer %" PRId64 " has size %" PRId64, i, size);
      if (size > 0 && Buffer(a, 2 + i) == nullptr) Fail("null view data buffer %" PRId64, i);
      if (size > 0) Touch(Buffer(a, 2 + i), size);
    }
    int64_t end = a.offset + a.length;
    if (end == 0) return;
    const uint8_t* views = Buffer(a, 1);
    if (views == nullptr) Fail("null views buffer");
    Touch(views, end * 16);
    for (int64_t i = a.offset; i < end; ++i) {
      if (!MayRead(a, i)) continue;
      const uint8_t* view = views + i * 16;
      int32_t size, index, offset;
      std::memcpy(&size, view, 4);
      std::memcpy(&index, view + 8, 4);
      std::memcpy(&offset, view + 12, 4);
      if (size < 0) Fail("view %" PRId64 ": negative length %d", i, size);
      if (size <= 12) continue;
      if (index < 0 || index >= n_data || offset < 0 ||
          int64_t{offset} + size > data_sizes[static_cast<size_t>(index)]) {
        Fail("view %" PRId64 " (length %d, buffer %d, offset %d) points outside its buffers", i,
             size, index, offset);
      }
      Touch(Buffer(a, 2 + index) + offset, size);
    }
  }

  // Child `i` of `a` must hold `need` slots; then it is walked whole.
  void Child(const ArrowSchema& s, const ArrowArray& a, int64_t i, int64_t need, int depth) {
    const ArrowArray& child = *a.children[i];
    if (child.length < need) {
      Fail("array %s: child %" PRId64 " has %" PRId64 " slots, needs %" PRId64, s.format, i,
           child.length, need);
    }
    Array(*s.children[i], child, depth + 1);
  }

  template <typename T>
  void List(const ArrowSchema& s, const ArrowArray& a, int depth) {
    Buffers(s, a, 2);
    if (a.n_children != 1) Fail("list with %" PRId64 " children", a.n_children);
    Validity(s, a);
    int64_t first = 0, last = 0;
    Offsets<T>(s, a, a.children[0]->length, &first, &last);
    if (std::string_view(s.format) == "+m") {
      const ArrowSchema& entries = *s.children[0];
      if (std::string_view(entries.format) != "+s" || entries.n_children != 2) {
        Fail("map entries of format %s with %" PRId64 " children", entries.format,
             entries.n_children);
      }
    }
    Child(s, a, 0, last, depth);
  }

  void FixedSizeList(const ArrowSchema& s, const ArrowArray& a, int64_t size, int depth) {
    Buffers(s, a, 1);
    if (a.n_children != 1) Fail("fixed-size list with %" PRId64 " children", a.n_children);
    Validity(s, a);
    int64_t need = 0;
    if (__builtin_mul_overflow(a.offset + a.length, size, &need)) {
      Fail("fixed-size list of %" PRId64 " x %" PRId64 " overflows", a.offset + a.length, size);
    }
    Child(s, a, 0, need, depth);
  }

  void Union(const ArrowSchema& s, const ArrowArray& a, int depth) {
    std::string_view f(s.format);
    bool dense = f[2] == 'd';
    Buffers(s, a, dense ? 2 : 1);
    if (a.null_count != 0) Fail("union with null count %" PRId64, a.null_count);
    std::vector<int> child_of(128, -1);
    std::string_view ids = f.substr(4);
    int n_ids = 0;
    while (!ids.empty()) {
      size_t comma = ids.find(',');
      int64_t id = Number(ids.substr(0, comma), s);
      if (id > 127 || child_of[static_cast<size_t>(id)] >= 0) Fail("bad union %s", s.format);
      child_of[static_cast<size_t>(id)] = n_ids++;
      ids = comma == std::string_view::npos ? std::string_view() : ids.substr(comma + 1);
    }
    if (n_ids != a.n_children) Fail("union %s with %" PRId64 " children", s.format, a.n_children);
    int64_t end = a.offset + a.length;
    const auto* type_ids = reinterpret_cast<const int8_t*>(Buffer(a, 0));
    const auto* offsets = dense ? reinterpret_cast<const uint8_t*>(Buffer(a, 1)) : nullptr;
    if (end > 0 && (type_ids == nullptr || (dense && offsets == nullptr))) {
      Fail("union %s without its buffers", s.format);
    }
    if (end > 0) Touch(type_ids, end);
    if (end > 0 && dense) Touch(offsets, end * 4);
    for (int64_t i = a.offset; i < end; ++i) {
      int8_t id = type_ids[i];
      if (id < 0 || child_of[static_cast<size_t>(id)] < 0) {
        Fail("union %s: undeclared type id %d at slot %" PRId64, s.format, id, i);
      }
      if (dense) {
        int32_t offset;
        std::memcpy(&offset, offsets + i * 4, 4);
        const ArrowArray& child = *a.children[child_of[static_cast<size_t>(id)]];
        if (offset < 0 || offset >= child.length) {
          Fail("dense union %s: offset %d at slot %" PRId64 " outside a child of %" PRId64,
               s.format, offset, i, child.length);
        }
      }
    }
    for (int64_t i = 0; i < a.n_children; ++i) Child(s, a, i, dense ? 0 : end, depth);
  }

  void Dictionary(const ArrowSchema& s, const ArrowArray& a, int depth) {
    std::string_view f(s.format);
    int64_t width = f.size() == 1 ? FixedWidth(f) : 0;
    if (width <= 0 || f == "e" || f == "f" || f == "g") {
      Fail("dictionary index format \"%s\"", s.format);
    }
    if (a.dictionary == nullptr) Fail("dictionary-encoded array without a dictionary");
    if (a.n_children != 0) Fail("dictionary indices with children");
    Fixed(s, a, width);
    const ArrowArray& values = *a.dictionary;
    const uint8_t* p = Buffer(a, 1);
    bool is_signed = f[0] >= 'a';
    for (int64_t i = a.offset; i < a.offset + a.length; ++i) {
      if (!MayRead(a, i)) continue;
      uint64_t u = 0;
      int64_t v = 0;
      std::memcpy(&u, p + i * width, static_cast<size_t>(width));
      if (is_signed && width < 8 && (u >> (8 * width - 1)) != 0) u |= ~uint64_t{0} << (8 * width);
      std::memcpy(&v, &u, 8);
      bool in_range =
          is_signed ? v >= 0 && v < values.length : u < static_cast<uint64_t>(values.length);
      if (!in_range) {
        Fail("dictionary index %" PRId64 " at slot %" PRId64 " outside a dictionary of %" PRId64, v,
             i, values.length);
      }
    }
    Array(*s.dictionary, values, depth + 1);
  }

  uint64_t sum_ = 0;
};

// Decodes `in` to the end or the first error; returns the outcome and the number of batches.
struct Outcome {
  std::string status;
  int batches = 0;
};

Outcome Decode(InputStream* in) {
  Outcome outcome;
  auto reader = Reader::Open(in, FuzzLimits());
  if (!reader.ok()) {
    outcome.status = reader.status().ToString();
    return outcome;
  }
  SchemaOwner schema;
  Status st = (*reader)->ExportSchema(schema.out());
  if (!st.ok()) Fail("ExportSchema failed after Open: %s", st.ToString().c_str());
  Walker walker;
  walker.Schema(*schema.get(), 0);
  if (std::string_view(schema->format) != "+s") Fail("schema of format %s", schema->format);
  while (true) {
    ArrayOwner batch;
    auto more = (*reader)->Next(batch.out());
    if (!more.ok()) {
      outcome.status = more.status().ToString();
      if (batch.valid()) Fail("Next failed but filled its output");
      // Errors are sticky.
      ArrayOwner again;
      auto second = (*reader)->Next(again.out());
      if (second.ok() || second.status().ToString() != outcome.status) {
        Fail("Next after an error: %s", second.ok() ? "ok" : second.status().ToString().c_str());
      }
      break;
    }
    if (!*more) {
      outcome.status = "OK";
      break;
    }
    ++outcome.batches;
    if (batch->null_count > 0) Fail("record batch with null rows");
    walker.Array(*schema.get(), *batch.get(), 0);
  }
  g_sink = g_sink + walker.sum();
  return outcome;
}

// A non-seekable stream that hands out the bytes a few at a time, as a socket would.
class TrickleInputStream : public InputStream {
 public:
  TrickleInputStream(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  Result<size_t> Read(void* data, size_t size) override {
    size_t n = std::min({size, size_ - position_, size_t{1} + (calls_++ % 13)});
    if (n > 0) std::memcpy(data, data_ + position_, n);
    position_ += n;
    return n;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t position_ = 0;
  size_t calls_ = 0;
};

}  // namespace
}  // namespace dux::arrow_ipc::fuzz

// Every UBSan report aborts with a stack trace; UBSAN_OPTIONS adds to these.
// NOLINTNEXTLINE(bugprone-reserved-identifier,readability-identifier-naming): UBSan's name.
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dux::arrow_ipc;
  using namespace dux::arrow_ipc::fuzz;
  StringInputStream memory(data, size);
  Outcome whole = Decode(&memory);
  static const bool kVerbose = std::getenv("DUX_FUZZ_VERBOSE") != nullptr;
  if (kVerbose) std::fprintf(stderr, "%d batches, %s\n", whole.batches, whole.status.c_str());
  // The streaming format must not depend on how the bytes arrive.
  bool is_file = size >= 6 && std::memcmp(data, "ARROW1", 6) == 0;
  if (!is_file) {
    TrickleInputStream trickle(data, size);
    Outcome pieces = Decode(&trickle);
    if (pieces.status != whole.status || pieces.batches != whole.batches) {
      Fail("memory and trickled reads disagree: %s after %d batches vs %s after %d batches",
           whole.status.c_str(), whole.batches, pieces.status.c_str(), pieces.batches);
    }
  }
  return 0;
}
