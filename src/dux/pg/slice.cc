#include "dux/pg/slice.h"

#include <fmt/format.h>

namespace dux::pg {

Result<SliceMethod> DefaultSliceMethod(const ColumnType& type, const std::string& column) {
  if (type.is_array) {
    return Status::InvalidArgument(
        fmt::format("partition_by column \"{}\" is an array; use a scalar column", column));
  }
  switch (type.kind) {
    case Kind::kInt2:
    case Kind::kInt4:
    case Kind::kInt8:
    case Kind::kOid:
      return SliceMethod::kModulus;
    default:
      return SliceMethod::kHash;
  }
}

Result<std::optional<KeyRange>> ReadKeyRange(Connection& connection, const TableName& table,
                                             const std::string& column) {
  const std::string key = QuoteIdentifier(column);
  DUX_ASSIGN_OR_RETURN(TextRows rows, connection.Query("SELECT min(" + key + ")::int8, max(" + key +
                                                       ")::int8 FROM " + table.Quoted()));
  if (rows.size() != 1 || !rows[0][0] || !rows[0][1]) return std::optional<KeyRange>();
  return std::optional<KeyRange>(KeyRange{std::stoll(*rows[0][0]), std::stoll(*rows[0][1])});
}

Result<std::string> SlicePredicate(const std::string& column, SliceMethod method, int index,
                                   int count, const std::optional<KeyRange>& range) {
  if (count < 1 || index < 0 || index >= count) {
    return Status::InvalidArgument(fmt::format("no slice {} of {}", index, count));
  }
  if (count == 1) return std::string();
  const std::string key = QuoteIdentifier(column);
  // NULL keys have no slice of their own: slice 0 takes them.
  const std::string nulls = index == 0 ? " OR " + key + " IS NULL" : "";
  std::string test;
  switch (method) {
    case SliceMethod::kModulus:
      // `%` keeps the sign of the key; adding N first makes every remainder non-negative
      // (|key % N| < N, so the sum cannot overflow).
      test = fmt::format("(({} % {}) + {}) % {} = {}", key, count, count, count, index);
      break;
    case SliceMethod::kHash:
      test = fmt::format("((hashtext({}::text) % {}) + {}) % {} = {}", key, count, count, count,
                         index);
      break;
    case SliceMethod::kRange: {
      if (!range || range->max < range->min) {
        // Nothing to split (no range, or an empty table): slice 0 reads everything.
        return index == 0 ? std::string() : std::string("false");
      }
      // Bounds b_i = min + floor(width * i / count), computed without overflow.
      auto bound = [&](int i) {
        __int128 width = static_cast<__int128>(range->max) - range->min + 1;
        return static_cast<int64_t>(range->min + width * i / count);
      };
      std::string lower = index == 0 ? "" : fmt::format("{} >= {}", key, bound(index));
      std::string upper = index == count - 1 ? "" : fmt::format("{} < {}", key, bound(index + 1));
      if (lower.empty() && upper.empty()) return std::string();
      test = lower.empty() ? upper : upper.empty() ? lower : lower + " AND " + upper;
      break;
    }
  }
  return "(" + test + nulls + ")";
}

}  // namespace dux::pg
