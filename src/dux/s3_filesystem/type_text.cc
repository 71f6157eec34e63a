#include "dux/s3_filesystem/type_text.h"

#include "duckdb/common/types.hpp"

namespace dux::s3_filesystem {

std::string TypeText(duckdb_logical_type type) {
  // The C API's handle is a heap LogicalType (duckdb/main/capi/logical_types-c.cpp).
  return reinterpret_cast<const duckdb::LogicalType*>(type)->ToString();
}

}  // namespace dux::s3_filesystem
