// The schema model the codec works on (one Field per node of the type tree, parsed from C
// Data format strings) and its conversions: ArrowSchema <-> Field (schema_c_data.cc) and
// Field <-> flatbuffer Schema (schema_flatbuffer.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dux/arrow_ipc/arrow_c.h"
#include "dux/arrow_ipc/format/Schema_generated.h"
#include "dux/common/status.h"

namespace dux::arrow_ipc::internal {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

/// `s` in double quotes, for messages that name a field, a column or a format.
inline std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

/// Physical layout of one array node: decides its buffers and children.
enum class Layout {
  kNull,           // no buffers
  kBool,           // validity, bit-packed values
  kFixedWidth,     // validity, values of byte_width bytes
  kBinary,         // validity, int32 offsets, data
  kLargeBinary,    // validity, int64 offsets, data
  kBinaryView,     // validity, 16-byte views, variadic data buffers
  kList,           // validity, int32 offsets; one child
  kLargeList,      // validity, int64 offsets; one child
  kFixedSizeList,  // validity; one child of list_size values per slot
  kStruct,         // validity; children
  kMap,            // validity, int32 offsets; one struct child (key, value)
  kSparseUnion,    // int8 type ids; children
  kDenseUnion,     // int8 type ids, int32 offsets; children
};

/// Buffers of a layout in an IPC record batch, not counting variadic ones.
int IpcBufferCount(Layout layout);

struct DictionaryEncoding {
  int64_t id = -1;
  std::string index_format;  // one of c C s S i I l L
  int64_t index_byte_width = 4;
  bool ordered = false;
};

/// One node of the type tree. For a dictionary-encoded node, `format` and `children` describe
/// the values and `dictionary` the indices.
struct Field {
  std::string name;
  std::string format;
  bool nullable = true;
  bool map_keys_sorted = false;
  KeyValues metadata;
  std::vector<Field> children;
  std::optional<DictionaryEncoding> dictionary;

  // Derived from `format` by ResolveLayout.
  Layout layout = Layout::kNull;
  int64_t byte_width = 0;  // kFixedWidth
  int64_t list_size = 0;   // kFixedSizeList
  int32_t decimal_precision = 0;
  int32_t decimal_scale = 0;
  int32_t decimal_bits = 0;      // 0 unless a decimal
  std::vector<int8_t> type_ids;  // unions: the type id of each child
};

struct Schema {
  std::vector<Field> fields;
  KeyValues metadata;
};

/// Parses `field->format`, checks the children it needs and fills the derived members.
Status ResolveLayout(Field* field);

/// The byte width of an integer format character (c C s S i I l L); 0 for any other.
int64_t IntegerByteWidth(char c);

/// A copy of a C schema, which must be a struct ("+s") whose children are the columns.
Result<Schema> ImportSchema(const ArrowSchema& schema, int max_depth);
/// Fills `out` with a struct schema that owns copies of everything.
void ExportSchema(const Schema& schema, ArrowSchema* out);
/// A C schema for one field: the index type with the values as its dictionary when
/// dictionary-encoded.
void ExportField(const Field& field, ArrowSchema* out);

/// Numbers every dictionary-encoded field in pre-order, from 0.
void AssignDictionaryIds(Schema* schema);

flatbuffers::Offset<flatbuf::Schema> BuildSchema(flatbuffers::FlatBufferBuilder* builder,
                                                 const Schema& schema);
/// Reads a verified flatbuffer Schema; checks every type parameter.
Result<Schema> ReadSchema(const flatbuf::Schema* schema, int max_depth);

}  // namespace dux::arrow_ipc::internal
