// The Arrow C Data and C Stream Interfaces (the ABI structs from the Arrow specification,
// which duckdb.h only declares) and move-only owners that release them on every path.
#pragma once

#include <cstdint>
#include <utility>

// Names fixed by the Arrow specification: other copies of these structs test the same guards.
// NOLINTBEGIN(readability-identifier-naming)
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;
  void (*release)(struct ArrowSchema*);
  void* private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;
  void (*release)(struct ArrowArray*);
  void* private_data;
};

#endif  // ARROW_C_DATA_INTERFACE

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE

struct ArrowArrayStream {
  int (*get_schema)(struct ArrowArrayStream*, struct ArrowSchema* out);
  int (*get_next)(struct ArrowArrayStream*, struct ArrowArray* out);
  const char* (*get_last_error)(struct ArrowArrayStream*);
  void (*release)(struct ArrowArrayStream*);
  void* private_data;
};

#endif  // ARROW_C_STREAM_INTERFACE
// NOLINTEND(readability-identifier-naming)

namespace dux::arrow_ipc {

/// Owns a C Data struct `T` (ArrowSchema or ArrowArray): releases it on destruction unless
/// it was moved out or already released. Move-only; the struct itself lives inside.
template <typename T>
class CDataOwner {
 public:
  CDataOwner() = default;
  CDataOwner(const CDataOwner&) = delete;
  CDataOwner& operator=(const CDataOwner&) = delete;
  CDataOwner(CDataOwner&& o) noexcept : value_(o.value_) { o.value_.release = nullptr; }
  CDataOwner& operator=(CDataOwner&& o) noexcept {
    if (this != &o) {
      Reset();
      value_ = o.value_;
      o.value_.release = nullptr;
    }
    return *this;
  }
  ~CDataOwner() { Reset(); }

  T* get() { return &value_; }
  const T* get() const { return &value_; }
  T* operator->() { return &value_; }
  const T* operator->() const { return &value_; }
  /// For producers that fill the struct: releases the current one first.
  T* out() {
    Reset();
    return &value_;
  }
  /// Moves the struct to a consumer that takes ownership (per the C Data Interface's move).
  void MoveTo(T* dest) {
    *dest = value_;
    value_.release = nullptr;
  }
  bool valid() const { return value_.release != nullptr; }

 private:
  void Reset() {
    if (value_.release) value_.release(&value_);
    value_.release = nullptr;
  }
  T value_{};
};

using SchemaOwner = CDataOwner<ArrowSchema>;

/// A deep copy of `in` (format, name, metadata, flags, children, dictionary) into `out`,
/// released independently of `in`.
void CopySchema(const ArrowSchema& in, ArrowSchema* out);
using ArrayOwner = CDataOwner<ArrowArray>;

}  // namespace dux::arrow_ipc
