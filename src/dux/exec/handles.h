// One move-only RAII owner per DuckDB C handle; each destroy function runs on every path.
#pragma once

#include <duckdb.h>

#include <utility>

namespace dux::exec {

/// Owns a C handle `H`, destroyed with `Destroy(&handle)` unless null. Move-only.
template <typename H, void (*Destroy)(H*)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(H h) : handle_(h) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : handle_(std::exchange(o.handle_, nullptr)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      Reset();
      handle_ = std::exchange(o.handle_, nullptr);
    }
    return *this;
  }
  ~Handle() { Reset(); }

  H get() const { return handle_; }
  /// For C functions that fill a handle: destroys the current one first.
  H* out() {
    Reset();
    return &handle_;
  }
  explicit operator bool() const { return handle_ != nullptr; }

 private:
  void Reset() {
    if (handle_) Destroy(&handle_);
    handle_ = nullptr;
  }
  H handle_ = nullptr;
};

using DatabaseHandle = Handle<duckdb_database, duckdb_close>;
using ConnectionHandle = Handle<duckdb_connection, duckdb_disconnect>;
using PreparedHandle = Handle<duckdb_prepared_statement, duckdb_destroy_prepare>;
using ConfigHandle = Handle<duckdb_config, duckdb_destroy_config>;
using DataChunkHandle = Handle<duckdb_data_chunk, duckdb_destroy_data_chunk>;
using LogicalTypeHandle = Handle<duckdb_logical_type, duckdb_destroy_logical_type>;
using ArrowConvertedSchemaHandle =
    Handle<duckdb_arrow_converted_schema, duckdb_destroy_arrow_converted_schema>;

inline void DestroyAppender(duckdb_appender* appender) { (void)duckdb_appender_destroy(appender); }
inline void DestroySelection(duckdb_selection_vector* sel) {
  duckdb_destroy_selection_vector(*sel);
}
using AppenderHandle = Handle<duckdb_appender, DestroyAppender>;
using SelectionHandle = Handle<duckdb_selection_vector, DestroySelection>;

/// duckdb_result is a struct, not a pointer: it has its own owner.
class ResultHandle {
 public:
  ResultHandle() = default;
  ResultHandle(const ResultHandle&) = delete;
  ResultHandle& operator=(const ResultHandle&) = delete;
  ResultHandle(ResultHandle&& o) noexcept
      : result_(o.result_), live_(std::exchange(o.live_, false)) {}
  ResultHandle& operator=(ResultHandle&& o) noexcept {
    if (this != &o) {
      Reset();
      result_ = o.result_;
      live_ = std::exchange(o.live_, false);
    }
    return *this;
  }
  ~ResultHandle() { Reset(); }

  duckdb_result* get() { return &result_; }
  /// For functions that fill a result; the result must be destroyed even when they fail.
  duckdb_result* out() {
    Reset();
    live_ = true;
    return &result_;
  }

 private:
  void Reset() {
    if (live_) duckdb_destroy_result(&result_);
    live_ = false;
  }
  duckdb_result result_{};
  bool live_ = false;
};

}  // namespace dux::exec
