#include "dux/exec/comoments_aggregate.h"

#include <cmath>
#include <cstdint>
#include <new>

#include "dux/common/library_callback.h"
#include "dux/exec/handles.h"

namespace dux::exec {

namespace {

// The state of one group. POD: DuckDB allocates it, Init fills it, nothing is destroyed.
struct Comoments {
  int64_t n;
  double mean_x, mean_y;
  double m2x, m2y, cxy;  // sums of squared and crossed deviations from the means
  double x, y;           // the first pair seen
};

Comoments& StateOf(duckdb_aggregate_state state) { return *reinterpret_cast<Comoments*>(state); }

idx_t StateSize(duckdb_function_info) { return sizeof(Comoments); }

void Init(duckdb_function_info, duckdb_aggregate_state state) {
  new (state) Comoments{0, 0, 0, 0, 0, 0, 0, 0};
}

// Welford's update, in the order DuckDB's covar and stddev states apply it, so one partition
// on one thread gives DuckDB's own moments.
void Update(duckdb_function_info, duckdb_data_chunk input, duckdb_aggregate_state* states) {
  const idx_t rows = duckdb_data_chunk_get_size(input);
  duckdb_vector yv = duckdb_data_chunk_get_vector(input, 0);
  duckdb_vector xv = duckdb_data_chunk_get_vector(input, 1);
  const auto* ys = static_cast<const double*>(duckdb_vector_get_data(yv));
  const auto* xs = static_cast<const double*>(duckdb_vector_get_data(xv));
  uint64_t* y_valid = duckdb_vector_get_validity(yv);
  uint64_t* x_valid = duckdb_vector_get_validity(xv);
  for (idx_t i = 0; i < rows; ++i) {
    if ((y_valid != nullptr && !duckdb_validity_row_is_valid(y_valid, i)) ||
        (x_valid != nullptr && !duckdb_validity_row_is_valid(x_valid, i))) {
      continue;
    }
    Comoments& s = StateOf(states[i]);
    const double x = xs[i], y = ys[i];
    const auto n = static_cast<double>(++s.n);
    if (s.n == 1) {
      s.x = x;
      s.y = y;
    }
    const double dx = x - s.mean_x;
    s.mean_x += dx / n;
    const double dy = y - s.mean_y;
    s.mean_y += dy / n;
    s.m2x += dx * (x - s.mean_x);
    s.m2y += dy * (y - s.mean_y);
    s.cxy += dx * (y - s.mean_y);
  }
}

// Chan et al.'s pairwise merge. The means move by the difference times the source's share,
// so two states of one constant keep it exactly (and their moments exactly 0).
void Combine(duckdb_function_info, duckdb_aggregate_state* sources, duckdb_aggregate_state* targets,
             idx_t count) {
  for (idx_t i = 0; i < count; ++i) {
    const Comoments& a = StateOf(sources[i]);
    Comoments& t = StateOf(targets[i]);
    if (a.n == 0) continue;
    if (t.n == 0) {
      t = a;
      continue;
    }
    const auto na = static_cast<double>(a.n), nt = static_cast<double>(t.n);
    const double n = na + nt;
    const double dx = a.mean_x - t.mean_x, dy = a.mean_y - t.mean_y;
    const double weight = na * nt / n;
    t.m2x += a.m2x + dx * dx * weight;
    t.m2y += a.m2y + dy * dy * weight;
    t.cxy += a.cxy + dx * dy * weight;
    t.mean_x += dx * na / n;
    t.mean_y += dy * na / n;
    t.n += a.n;
  }
}

enum Field : idx_t { kN, kAvgX, kAvgY, kSxx, kSyy, kSxy, kX, kY, kFields };
constexpr const char* kFieldNames[kFields] = {"n", "avgx", "avgy", "sxx", "syy", "sxy", "x", "y"};

// DuckDB's regr_sxx: n * var_pop, where var_pop is 0 below two values and must be finite.
bool SumOfSquares(const Comoments& s, double m2, double* out) {
  if (s.n < 2) {
    *out = 0;
    return true;
  }
  *out = m2;
  return std::isfinite(m2 / static_cast<double>(s.n));
}

void Finalize(duckdb_function_info info, duckdb_aggregate_state* sources, duckdb_vector result,
              idx_t count, idx_t offset) {
  duckdb_vector children[kFields];
  double* values[kFields] = {};
  for (idx_t f = 0; f < kFields; ++f) {
    children[f] = duckdb_struct_vector_get_child(result, f);
    if (f != kN) values[f] = static_cast<double*>(duckdb_vector_get_data(children[f]));
  }
  auto* ns = static_cast<int64_t*>(duckdb_vector_get_data(children[kN]));
  for (idx_t i = 0; i < count; ++i) {
    const Comoments& s = StateOf(sources[i]);
    const idx_t row = offset + i;
    ns[row] = s.n;
    if (s.n == 0) {
      for (idx_t f = kAvgX; f < kFields; ++f) {
        duckdb_vector_ensure_validity_writable(children[f]);
        duckdb_validity_set_row_invalid(duckdb_vector_get_validity(children[f]), row);
      }
      continue;
    }
    values[kAvgX][row] = s.mean_x;
    values[kAvgY][row] = s.mean_y;
    if (!SumOfSquares(s, s.m2x, &values[kSxx][row]) ||
        !SumOfSquares(s, s.m2y, &values[kSyy][row])) {
      duckdb_aggregate_function_set_error(info, "VARPOP is out of range!");
      return;
    }
    values[kSxy][row] = s.cxy;
    values[kX][row] = s.x;
    values[kY][row] = s.y;
  }
}

}  // namespace

Status RegisterComomentsAggregate(const Database& db) {
  DUX_ASSIGN_OR_RETURN(Connection connection, Connection::Open(db));
  LogicalTypeHandle bigint(duckdb_create_logical_type(DUCKDB_TYPE_BIGINT));
  LogicalTypeHandle dbl(duckdb_create_logical_type(DUCKDB_TYPE_DOUBLE));
  duckdb_logical_type member_types[kFields];
  for (idx_t f = 0; f < kFields; ++f) member_types[f] = f == kN ? bigint.get() : dbl.get();
  LogicalTypeHandle result(
      duckdb_create_struct_type(member_types, const_cast<const char**>(kFieldNames), kFields));

  duckdb_aggregate_function f = duckdb_create_aggregate_function();
  duckdb_aggregate_function_set_name(f, kComomentsAggregate);
  duckdb_aggregate_function_add_parameter(f, dbl.get());
  duckdb_aggregate_function_add_parameter(f, dbl.get());
  duckdb_aggregate_function_set_return_type(f, result.get());
  duckdb_aggregate_function_set_functions(
      f, LibraryCallback<StateSize>::Call, LibraryCallback<Init>::Call,
      LibraryCallback<Update>::Call, LibraryCallback<Combine>::Call,
      LibraryCallback<Finalize>::Call);
  // NULLs reach Update, which skips a pair with either value missing.
  duckdb_aggregate_function_set_special_handling(f);
  duckdb_state registered = duckdb_register_aggregate_function(connection.get(), f);
  duckdb_destroy_aggregate_function(&f);
  if (registered == DuckDBError) {
    return Status::Internal(std::string("cannot register ") + kComomentsAggregate);
  }
  return Status::OK();
}

}  // namespace dux::exec
