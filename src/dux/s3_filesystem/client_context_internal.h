// The C++ client context behind a C API connection.
#pragma once

#include "duckdb.h"
#include "duckdb/main/capi/capi_internal.hpp"
#include "duckdb/main/client_context.hpp"

namespace dux::s3_filesystem {

/// The client context of `connection` (the C API's handle, released with this). The context
/// belongs to the connection: not to be used while another thread uses the connection.
class ClientContextOf {
 public:
  explicit ClientContextOf(duckdb_connection connection) {
    if (connection != nullptr) duckdb_connection_get_client_context(connection, &handle_);
  }
  ~ClientContextOf() { duckdb_destroy_client_context(&handle_); }
  ClientContextOf(const ClientContextOf&) = delete;
  ClientContextOf& operator=(const ClientContextOf&) = delete;

  /// False for a null connection.
  explicit operator bool() const { return handle_ != nullptr; }
  duckdb::ClientContext& get() const {
    // The C handle wraps the C++ context (duckdb/main/capi/capi_internal.hpp).
    return reinterpret_cast<duckdb::CClientContextWrapper*>(handle_)->context;
  }

 private:
  duckdb_client_context handle_ = nullptr;
};

}  // namespace dux::s3_filesystem
