// The SQL spelling of DuckDB logical types (logical_type_sql.h).
#include "dux/exec/logical_type_sql.h"

#include <fmt/format.h>

#include "dux/exec/arrow_bridge_internal.h"
#include "dux/exec/handles.h"
#include "dux/sql/quote.h"

namespace dux::exec {

using internal::TakeString;

Result<std::string> LogicalTypeSql(duckdb_logical_type type) {
  switch (duckdb_get_type_id(type)) {
    case DUCKDB_TYPE_BOOLEAN:
      return "BOOLEAN";
    case DUCKDB_TYPE_TINYINT:
      return "TINYINT";
    case DUCKDB_TYPE_SMALLINT:
      return "SMALLINT";
    case DUCKDB_TYPE_INTEGER:
      return "INTEGER";
    case DUCKDB_TYPE_BIGINT:
      return "BIGINT";
    case DUCKDB_TYPE_UTINYINT:
      return "UTINYINT";
    case DUCKDB_TYPE_USMALLINT:
      return "USMALLINT";
    case DUCKDB_TYPE_UINTEGER:
      return "UINTEGER";
    case DUCKDB_TYPE_UBIGINT:
      return "UBIGINT";
    case DUCKDB_TYPE_HUGEINT:
      return "HUGEINT";
    case DUCKDB_TYPE_UHUGEINT:
      return "UHUGEINT";
    case DUCKDB_TYPE_FLOAT:
      return "FLOAT";
    case DUCKDB_TYPE_DOUBLE:
      return "DOUBLE";
    case DUCKDB_TYPE_VARCHAR:
      return "VARCHAR";
    case DUCKDB_TYPE_BLOB:
      return "BLOB";
    case DUCKDB_TYPE_DATE:
      return "DATE";
    case DUCKDB_TYPE_TIME:
      return "TIME";
    case DUCKDB_TYPE_TIME_TZ:
      return "TIME WITH TIME ZONE";
    case DUCKDB_TYPE_TIME_NS:
      return "TIME_NS";
    case DUCKDB_TYPE_TIMESTAMP:
      return "TIMESTAMP";
    case DUCKDB_TYPE_TIMESTAMP_S:
      return "TIMESTAMP_S";
    case DUCKDB_TYPE_TIMESTAMP_MS:
      return "TIMESTAMP_MS";
    case DUCKDB_TYPE_TIMESTAMP_NS:
      return "TIMESTAMP_NS";
    case DUCKDB_TYPE_TIMESTAMP_TZ:
      return "TIMESTAMP WITH TIME ZONE";
    case DUCKDB_TYPE_INTERVAL:
      return "INTERVAL";
    case DUCKDB_TYPE_UUID:
      return "UUID";
    case DUCKDB_TYPE_BIT:
      return "BIT";
    case DUCKDB_TYPE_BIGNUM:
      return "BIGNUM";
    case DUCKDB_TYPE_SQLNULL:
      return "\"NULL\"";
    case DUCKDB_TYPE_DECIMAL:
      return fmt::format("DECIMAL({},{})", duckdb_decimal_width(type), duckdb_decimal_scale(type));
    case DUCKDB_TYPE_ENUM: {
      std::string out = "ENUM(";
      for (uint32_t i = 0; i < duckdb_enum_dictionary_size(type); ++i) {
        out +=
            (i ? ", " : "") + sql::QuoteString(TakeString(duckdb_enum_dictionary_value(type, i)));
      }
      return out + ")";
    }
    case DUCKDB_TYPE_LIST: {
      LogicalTypeHandle child(duckdb_list_type_child_type(type));
      DUX_ASSIGN_OR_RETURN(std::string c, LogicalTypeSql(child.get()));
      return c + "[]";
    }
    case DUCKDB_TYPE_ARRAY: {
      LogicalTypeHandle child(duckdb_array_type_child_type(type));
      DUX_ASSIGN_OR_RETURN(std::string c, LogicalTypeSql(child.get()));
      return fmt::format("{}[{}]", c, duckdb_array_type_array_size(type));
    }
    case DUCKDB_TYPE_MAP: {
      LogicalTypeHandle key(duckdb_map_type_key_type(type));
      LogicalTypeHandle value(duckdb_map_type_value_type(type));
      DUX_ASSIGN_OR_RETURN(std::string k, LogicalTypeSql(key.get()));
      DUX_ASSIGN_OR_RETURN(std::string v, LogicalTypeSql(value.get()));
      return "MAP(" + k + ", " + v + ")";
    }
    case DUCKDB_TYPE_STRUCT:
    case DUCKDB_TYPE_UNION: {
      bool is_union = duckdb_get_type_id(type) == DUCKDB_TYPE_UNION;
      idx_t n =
          is_union ? duckdb_union_type_member_count(type) : duckdb_struct_type_child_count(type);
      std::string out = is_union ? "UNION(" : "STRUCT(";
      for (idx_t i = 0; i < n; ++i) {
        std::string name = TakeString(is_union ? duckdb_union_type_member_name(type, i)
                                               : duckdb_struct_type_child_name(type, i));
        LogicalTypeHandle child(is_union ? duckdb_union_type_member_type(type, i)
                                         : duckdb_struct_type_child_type(type, i));
        DUX_ASSIGN_OR_RETURN(std::string c, LogicalTypeSql(child.get()));
        out += (i ? ", " : "") + sql::QuoteIdentifier(name) + " " + c;
      }
      return out + ")";
    }
    default:
      return Status::Unimplemented(fmt::format("no SQL spelling for DuckDB type id {}",
                                               static_cast<int>(duckdb_get_type_id(type))));
  }
}

}  // namespace dux::exec
