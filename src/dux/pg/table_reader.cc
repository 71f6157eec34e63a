#include "dux/pg/table_reader.h"

#include <duckdb.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "dux/exec/handles.h"
#include "dux/sql/quote.h"

namespace dux::pg {

namespace {

// ---- the binary COPY format (PostgreSQL docs, "COPY ... Binary Format") -------------------

constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // 11 bytes with its NUL
constexpr size_t kSignatureSize = 11;

int16_t Int16(const char* p) {
  return static_cast<int16_t>((static_cast<uint16_t>(static_cast<uint8_t>(p[0])) << 8) |
                              static_cast<uint8_t>(p[1]));
}
uint32_t UInt32(const char* p) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(p[0])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(p[2])) << 8) | static_cast<uint8_t>(p[3]);
}
int32_t Int32(const char* p) { return static_cast<int32_t>(UInt32(p)); }
uint64_t UInt64(const char* p) { return (static_cast<uint64_t>(UInt32(p)) << 32) | UInt32(p + 4); }
int64_t Int64(const char* p) { return static_cast<int64_t>(UInt64(p)); }

// PostgreSQL counts dates and timestamps from 2000-01-01, DuckDB from 1970-01-01.
constexpr int32_t kPgEpochDays = 10957;
constexpr int64_t kPgEpochMicros = 946684800LL * 1000000;

using Int128 = __int128;

// ---- decoding one value into a DuckDB vector ---------------------------------------------

/// How one output column is decoded. `vector` changes with every chunk.
struct ColumnDecoder {
  std::string name;
  std::string pg_type;
  ColumnType type;
  duckdb_type decimal_storage = DUCKDB_TYPE_INVALID;  ///< for DECIMAL: its physical type
};

Status Malformed(const ColumnDecoder& d, const char* what) {
  return Status(
      StatusCode::kDataLoss,
      fmt::format("column \"{}\" ({}): malformed {} from PostgreSQL", d.name, d.pg_type, what));
}

Status NeedSize(const ColumnDecoder& d, int32_t len, int32_t want) {
  if (len == want) return Status::OK();
  return Malformed(d, "value");
}

// PostgreSQL's numeric: base-10000 digits with a weight, a sign and a display scale.
struct Numeric {
  int16_t ndigits = 0;
  int16_t weight = 0;
  uint16_t sign = 0;
  int16_t dscale = 0;
  const char* digits = nullptr;
  int16_t Digit(int i) const { return Int16(digits + 2 * static_cast<ptrdiff_t>(i)); }
};

constexpr uint16_t kNumericNegative = 0x4000;
constexpr uint16_t kNumericNaN = 0xC000;
constexpr uint16_t kNumericPosInf = 0xD000;
constexpr uint16_t kNumericNegInf = 0xF000;

bool ParseNumeric(const char* p, int32_t len, Numeric* n) {
  if (len < 8) return false;
  n->ndigits = Int16(p);
  n->weight = Int16(p + 2);
  n->sign = static_cast<uint16_t>(Int16(p + 4));
  n->dscale = Int16(p + 6);
  n->digits = p + 8;
  return n->ndigits >= 0 && len == 8 + 2 * n->ndigits;
}

double NumericToDouble(const Numeric& n) {
  if (n.sign == kNumericNaN) return std::numeric_limits<double>::quiet_NaN();
  if (n.sign == kNumericPosInf) return std::numeric_limits<double>::infinity();
  if (n.sign == kNumericNegInf) return -std::numeric_limits<double>::infinity();
  if (n.ndigits == 0) return 0.0;
  // Decimal text then strtod: correctly rounded, whatever the number of digits.
  std::string text = n.sign == kNumericNegative ? "-" : "";
  for (int i = 0; i < n.ndigits; ++i) text += fmt::format("{:04d}", n.Digit(i));
  text += fmt::format("e{}", 4 * (n.weight - n.ndigits + 1));
  return std::strtod(text.c_str(), nullptr);
}

// The numeric as an integer scaled by 10^scale (rounded half away from zero); false when
// it needs more than DuckDB's 38 digits. Walks the decimal digits, most significant first.
bool NumericToScaled(const Numeric& n, int scale, Int128* out) {
  Int128 ten37 = 1;
  for (int i = 0; i < 37; ++i) ten37 *= 10;
  const Int128 ten38 = ten37 * 10;
  Int128 value = 0;
  int last = 0;  // decimal exponent of the last digit taken into `value`
  bool taken = false;
  int round_digit = 0;
  static constexpr int kPowers[] = {1000, 100, 10, 1};
  Int128 ten34 = ten37 / 1000;
  for (int i = 0; i < n.ndigits; ++i) {
    int group = n.Digit(i);
    if (4 * (n.weight - i) >= -scale && value < ten34) {
      // The common case: the whole group lies above the scale's last digit.
      value = value * 10000 + group;
      last = 4 * (n.weight - i);
      taken = true;
      continue;
    }
    for (int k = 0; k < 4; ++k) {
      int digit = (group / kPowers[k]) % 10;
      int exponent = 4 * (n.weight - i) + 3 - k;
      if (exponent >= -scale) {
        if (value >= ten37) return false;
        value = value * 10 + digit;
        last = exponent;
        taken = true;
      } else if (exponent == -scale - 1) {
        round_digit = digit;
      }
    }
  }
  if (taken) {
    for (int e = last; e > -scale; --e) {
      if (value >= ten37) return false;
      value *= 10;
    }
  }
  if (round_digit >= 5) ++value;
  if (value >= ten38) return false;
  *out = n.sign == kNumericNegative ? -value : value;
  return true;
}

void SetValidity(duckdb_vector vector, idx_t row, bool valid) {
  duckdb_vector_ensure_validity_writable(vector);
  duckdb_validity_set_row_validity(duckdb_vector_get_validity(vector), row, valid);
}

Status PutScalar(const ColumnDecoder& d, duckdb_vector vector, idx_t row, const char* p,
                 int32_t len) {
  void* data = duckdb_vector_get_data(vector);
  switch (d.type.kind) {
    case Kind::kBool:
      DUX_RETURN_NOT_OK(NeedSize(d, len, 1));
      static_cast<bool*>(data)[row] = p[0] != 0;
      return Status::OK();
    case Kind::kInt2:
      DUX_RETURN_NOT_OK(NeedSize(d, len, 2));
      static_cast<int16_t*>(data)[row] = Int16(p);
      return Status::OK();
    case Kind::kInt4:
      DUX_RETURN_NOT_OK(NeedSize(d, len, 4));
      static_cast<int32_t*>(data)[row] = Int32(p);
      return Status::OK();
    case Kind::kOid:
      DUX_RETURN_NOT_OK(NeedSize(d, len, 4));
      static_cast<uint32_t*>(data)[row] = UInt32(p);
      return Status::OK();
    case Kind::kInt8:
      DUX_RETURN_NOT_OK(NeedSize(d, len, 8));
      static_cast<int64_t*>(data)[row] = Int64(p);
      return Status::OK();
    case Kind::kFloat4: {
      DUX_RETURN_NOT_OK(NeedSize(d, len, 4));
      uint32_t bits = UInt32(p);
      std::memcpy(&static_cast<float*>(data)[row], &bits, 4);
      return Status::OK();
    }
    case Kind::kFloat8: {
      DUX_RETURN_NOT_OK(NeedSize(d, len, 8));
      uint64_t bits = UInt64(p);
      std::memcpy(&static_cast<double*>(data)[row], &bits, 8);
      return Status::OK();
    }
    case Kind::kText:
    case Kind::kBytea:
    case Kind::kJson:
      duckdb_vector_assign_string_element_len(vector, row, p, static_cast<idx_t>(len));
      return Status::OK();
    case Kind::kJsonb:
      // A version byte (1), then the JSON text.
      if (len < 1 || p[0] != 1) return Malformed(d, "jsonb");
      duckdb_vector_assign_string_element_len(vector, row, p + 1, static_cast<idx_t>(len - 1));
      return Status::OK();
    case Kind::kDate: {
      DUX_RETURN_NOT_OK(NeedSize(d, len, 4));
      int32_t days = Int32(p);
      int32_t out;
      if (days == std::numeric_limits<int32_t>::max()) {
        out = days;  // infinity in both
      } else if (days == std::numeric_limits<int32_t>::min()) {
        out = -std::numeric_limits<int32_t>::max();  // DuckDB's -infinity
      } else {
        out = days + kPgEpochDays;
      }
      static_cast<duckdb_date*>(data)[row].days = out;
      return Status::OK();
    }
    case Kind::kTimestamp:
    case Kind::kTimestampTz: {
      DUX_RETURN_NOT_OK(NeedSize(d, len, 8));
      int64_t micros = Int64(p);
      int64_t out;
      if (micros == std::numeric_limits<int64_t>::max()) {
        out = micros;
      } else if (micros == std::numeric_limits<int64_t>::min()) {
        out = -std::numeric_limits<int64_t>::max();
      } else {
        out = micros + kPgEpochMicros;
      }
      static_cast<duckdb_timestamp*>(data)[row].micros = out;
      return Status::OK();
    }
    case Kind::kTime:
      DUX_RETURN_NOT_OK(NeedSize(d, len, 8));
      static_cast<duckdb_time*>(data)[row].micros = Int64(p);
      return Status::OK();
    case Kind::kTimeTz: {
      DUX_RETURN_NOT_OK(NeedSize(d, len, 12));
      // PostgreSQL keeps the zone as seconds west of UTC, DuckDB as seconds east.
      static_cast<duckdb_time_tz*>(data)[row] = duckdb_create_time_tz(Int64(p), -Int32(p + 8));
      return Status::OK();
    }
    case Kind::kInterval: {
      DUX_RETURN_NOT_OK(NeedSize(d, len, 16));
      duckdb_interval& out = static_cast<duckdb_interval*>(data)[row];
      out.micros = Int64(p);
      out.days = Int32(p + 8);
      out.months = Int32(p + 12);
      return Status::OK();
    }
    case Kind::kUuid: {
      DUX_RETURN_NOT_OK(NeedSize(d, len, 16));
      // DuckDB stores a UUID as a HUGEINT with the top bit flipped, so that it sorts as text.
      duckdb_hugeint& out = static_cast<duckdb_hugeint*>(data)[row];
      out.upper = static_cast<int64_t>(UInt64(p) ^ (uint64_t{1} << 63));
      out.lower = UInt64(p + 8);
      return Status::OK();
    }
    case Kind::kNumeric: {
      Numeric n;
      if (!ParseNumeric(p, len, &n)) return Malformed(d, "numeric");
      if (!d.type.IsDecimal()) {
        static_cast<double*>(data)[row] = NumericToDouble(n);
        return Status::OK();
      }
      if (n.sign != 0 && n.sign != kNumericNegative) {
        return Status::InvalidArgument(fmt::format(
            "column \"{}\" ({}) holds {}, which DECIMAL({},{}) cannot hold", d.name, d.pg_type,
            n.sign == kNumericNaN ? "NaN" : "an infinity", d.type.precision, d.type.scale));
      }
      Int128 scaled = 0;
      if (!NumericToScaled(n, d.type.scale, &scaled)) {
        return Status::InvalidArgument(
            fmt::format("column \"{}\" ({}) holds a value too large for DECIMAL({},{})", d.name,
                        d.pg_type, d.type.precision, d.type.scale));
      }
      switch (d.decimal_storage) {
        case DUCKDB_TYPE_SMALLINT:
          static_cast<int16_t*>(data)[row] = static_cast<int16_t>(scaled);
          break;
        case DUCKDB_TYPE_INTEGER:
          static_cast<int32_t*>(data)[row] = static_cast<int32_t>(scaled);
          break;
        case DUCKDB_TYPE_BIGINT:
          static_cast<int64_t*>(data)[row] = static_cast<int64_t>(scaled);
          break;
        default: {
          duckdb_hugeint& out = static_cast<duckdb_hugeint*>(data)[row];
          out.lower = static_cast<uint64_t>(scaled);
          out.upper = static_cast<int64_t>(scaled >> 64);
        }
      }
      return Status::OK();
    }
  }
  return Malformed(d, "value");
}

// A one-dimensional array: a header, then each element with its length (-1 for NULL).
Status PutArray(const ColumnDecoder& d, duckdb_vector vector, idx_t row, const char* p,
                int32_t len) {
  if (len < 12) return Malformed(d, "array");
  int32_t ndim = Int32(p);
  auto* entries = static_cast<duckdb_list_entry*>(duckdb_vector_get_data(vector));
  idx_t offset = duckdb_list_vector_get_size(vector);
  if (ndim == 0) {
    entries[row] = {offset, 0};
    return Status::OK();
  }
  if (ndim != 1) {
    return Status::InvalidArgument(fmt::format(
        "column \"{}\" ({}) holds a {}-dimensional array; dux reads one-dimensional arrays only",
        d.name, d.pg_type, ndim));
  }
  if (len < 20) return Malformed(d, "array");
  int32_t count = Int32(p + 12);
  if (count < 0) return Malformed(d, "array");
  const char* at = p + 20;
  const char* end = p + len;
  if (duckdb_list_vector_reserve(vector, offset + count) == DuckDBError) {
    return Status(StatusCode::kResourceExhausted, "cannot grow a DuckDB list vector");
  }
  duckdb_vector child = duckdb_list_vector_get_child(vector);
  for (int32_t i = 0; i < count; ++i) {
    if (end - at < 4) return Malformed(d, "array");
    int32_t element = Int32(at);
    at += 4;
    idx_t index = offset + static_cast<idx_t>(i);
    if (element < 0) {
      SetValidity(child, index, false);  // reserved rows start valid: only NULLs are marked
      continue;
    }
    if (end - at < element) return Malformed(d, "array");
    DUX_RETURN_NOT_OK(PutScalar(d, child, index, at, element));
    at += element;
  }
  if (duckdb_list_vector_set_size(vector, offset + count) == DuckDBError) {
    return Status::Internal("cannot set a DuckDB list's size");
  }
  entries[row] = {offset, static_cast<uint64_t>(count)};
  return Status::OK();
}

// ---- the appender ------------------------------------------------------------------------

/// Owns a duckdb_appender (its destroy function returns a state, so Handle does not fit).
class Appender {
 public:
  Appender() = default;
  Appender(const Appender&) = delete;
  Appender& operator=(const Appender&) = delete;
  ~Appender() {
    if (appender_) duckdb_appender_destroy(&appender_);
  }
  duckdb_appender* out() { return &appender_; }
  duckdb_appender get() const { return appender_; }

  Status Error(const std::string& what) const {
    std::string message = "unknown error";
    duckdb_error_data error = duckdb_appender_error_data(appender_);
    if (error) {
      message = exec::CleanDuckDbError(duckdb_error_data_message(error));
      duckdb_destroy_error_data(&error);
    }
    return Status::InvalidArgument(what + ": " + message);
  }

 private:
  duckdb_appender appender_ = nullptr;
};

/// Decodes a binary COPY stream, in pieces of any size, into chunks appended to a table.
/// Not thread-safe.
class CopyDecoder {
 public:
  CopyDecoder(std::vector<ColumnDecoder> columns, Appender* appender, duckdb_data_chunk chunk)
      : columns_(std::move(columns)), appender_(appender), chunk_(chunk) {}

  Status Feed(std::string_view piece) {
    if (pending_.empty()) {
      size_t used = 0;
      Status s = Parse(piece, &used);
      pending_.assign(piece.substr(used));
      return s;
    }
    pending_.append(piece);
    size_t used = 0;
    Status s = Parse(pending_, &used);
    pending_.erase(0, used);
    return s;
  }

  /// Appends the last chunk; fails when the stream stopped before its trailer.
  Result<int64_t> Finish() {
    if (!ended_ || !pending_.empty()) {
      return Status(StatusCode::kDataLoss, "PostgreSQL's COPY stream ended early");
    }
    DUX_RETURN_NOT_OK(Flush());
    if (duckdb_appender_close(appender_->get()) == DuckDBError) {
      return appender_->Error("cannot append to DuckDB");
    }
    return rows_;
  }

 private:
  // Decodes every complete tuple of `data`; `*used` is where the first incomplete one starts.
  Status Parse(std::string_view data, size_t* used) {
    const char* base = data.data();
    size_t pos = 0;
    if (!header_done_) {
      if (data.size() < kSignatureSize + 8) return Status::OK();
      if (std::memcmp(base, kSignature, kSignatureSize) != 0) {
        return Status(StatusCode::kDataLoss, "PostgreSQL's COPY stream has no binary header");
      }
      size_t extension = UInt32(base + kSignatureSize + 4);
      if (data.size() < kSignatureSize + 8 + extension) return Status::OK();
      pos = kSignatureSize + 8 + extension;
      header_done_ = true;
    }
    const size_t n = data.size();
    const int16_t want = static_cast<int16_t>(columns_.size());
    while (n - pos >= 2) {
      int16_t fields = Int16(base + pos);
      if (fields == -1) {
        ended_ = true;
        pos += 2;
        continue;
      }
      if (fields != want) {
        return Status(StatusCode::kDataLoss,
                      fmt::format("PostgreSQL sent {} fields for {} columns", fields, want));
      }
      // First check that the whole tuple is here, then decode it.
      size_t at = pos + 2;
      bool complete = true;
      for (int16_t f = 0; f < fields; ++f) {
        if (n - at < 4) {
          complete = false;
          break;
        }
        int32_t len = Int32(base + at);
        at += 4;
        if (len > 0) {
          if (n - at < static_cast<size_t>(len)) {
            complete = false;
            break;
          }
          at += len;
        }
      }
      if (!complete) break;
      DUX_RETURN_NOT_OK(DecodeRow(base + pos + 2));
      pos = at;
    }
    *used = pos;
    return Status::OK();
  }

  // The vectors of the chunk being filled; reset after every flush.
  void StartChunk() {
    vectors_.resize(columns_.size());
    for (size_t c = 0; c < columns_.size(); ++c) {
      vectors_[c] = duckdb_data_chunk_get_vector(chunk_, c);
    }
  }

  Status DecodeRow(const char* p) {
    if (row_ == 0) StartChunk();
    for (size_t c = 0; c < columns_.size(); ++c) {
      duckdb_vector vector = vectors_[c];
      int32_t len = Int32(p);
      p += 4;
      // A reset chunk starts with every row valid: only NULLs are marked.
      if (len < 0) {
        SetValidity(vector, row_, false);
        continue;
      }
      const ColumnDecoder& d = columns_[c];
      DUX_RETURN_NOT_OK(d.type.is_array ? PutArray(d, vector, row_, p, len)
                                        : PutScalar(d, vector, row_, p, len));
      p += len;
    }
    if (++row_ == duckdb_vector_size()) DUX_RETURN_NOT_OK(Flush());
    return Status::OK();
  }

  Status Flush() {
    if (row_ == 0) return Status::OK();
    duckdb_data_chunk_set_size(chunk_, row_);
    if (duckdb_append_data_chunk(appender_->get(), chunk_) == DuckDBError) {
      return appender_->Error("cannot append to DuckDB");
    }
    rows_ += static_cast<int64_t>(row_);
    row_ = 0;
    duckdb_data_chunk_reset(chunk_);
    return Status::OK();
  }

  std::vector<ColumnDecoder> columns_;
  std::vector<duckdb_vector> vectors_;
  Appender* appender_;
  duckdb_data_chunk chunk_;
  std::string pending_;  ///< an incomplete tuple carried over to the next piece
  bool header_done_ = false;
  bool ended_ = false;
  idx_t row_ = 0;
  int64_t rows_ = 0;
};

std::vector<size_t> Columns(const TableDescription& table, const ReadSpec& spec) {
  if (!spec.columns.empty()) return spec.columns;
  std::vector<size_t> all(table.columns.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  return all;
}

}  // namespace

std::string SelectSql(const TableDescription& table, const ReadSpec& spec) {
  std::string select;
  for (size_t i : Columns(table, spec)) {
    select += (select.empty() ? "" : ", ") + QuoteIdentifier(table.columns[i].name);
  }
  std::string sql = "SELECT " + select + " FROM " + table.name.Quoted();
  for (size_t i = 0; i < spec.predicates.size(); ++i) {
    sql += (i == 0 ? " WHERE (" : " AND (") + spec.predicates[i] + ")";
  }
  return sql;
}

Result<std::string> CreateTableSql(const TableDescription& table, const ReadSpec& spec,
                                   const std::string& duck_table) {
  std::string columns;
  for (size_t i : Columns(table, spec)) {
    const PgColumn& c = table.columns[i];
    if (!c.unsupported.empty()) return Status::InvalidArgument(c.unsupported);
    columns +=
        (columns.empty() ? "" : ", ") + sql::QuoteIdentifier(c.name) + " " + c.type.DuckDbType();
  }
  return "CREATE TEMPORARY TABLE " + sql::QuoteIdentifier(duck_table) + " (" + columns + ")";
}

Result<int64_t> ReadInto(Connection& pg, exec::Connection& duck, const TableDescription& table,
                         const ReadSpec& spec, const std::string& duck_table) {
  std::vector<ColumnDecoder> decoders;
  for (size_t i : Columns(table, spec)) {
    const PgColumn& c = table.columns[i];
    if (!c.unsupported.empty()) return Status::InvalidArgument(c.unsupported);
    decoders.push_back({c.name, c.catalog.name, c.type, DUCKDB_TYPE_INVALID});
  }
  Appender appender;
  if (duckdb_appender_create_ext(duck.get(), "temp", "main", duck_table.c_str(), appender.out()) ==
      DuckDBError) {
    return appender.Error("cannot append to DuckDB table \"" + duck_table + "\"");
  }
  if (duckdb_appender_column_count(appender.get()) != decoders.size()) {
    return Status::Internal("the DuckDB table does not have the columns read from PostgreSQL");
  }
  std::vector<exec::LogicalTypeHandle> types;
  std::vector<duckdb_logical_type> raw;
  for (size_t c = 0; c < decoders.size(); ++c) {
    types.emplace_back(duckdb_appender_column_type(appender.get(), c));
    raw.push_back(types.back().get());
    if (decoders[c].type.IsDecimal()) {
      decoders[c].decimal_storage = duckdb_decimal_internal_type(types.back().get());
    }
  }
  exec::DataChunkHandle chunk(duckdb_create_data_chunk(raw.data(), raw.size()));
  CopyDecoder decoder(std::move(decoders), &appender, chunk.get());
  DUX_RETURN_NOT_OK(pg.CopyOut("COPY (" + SelectSql(table, spec) + ") TO STDOUT (FORMAT binary)",
                               [&](std::string_view data) { return decoder.Feed(data); }));
  return decoder.Finish();
}

}  // namespace dux::pg
