#include "dux/exec/comoments_aggregate.h"

#include <cmath>
#include <cstdint>
#include <new>
#include <string>

#include "dux/common/library_callback.h"
#include "dux/exec/handles.h"

namespace dux::exec {

namespace {

// The state of one group. POD: DuckDB allocates it, Init fills it, nothing is destroyed.
struct Comoments {
  int64_t n;
  double mean_x, mean_y;
  double m2x, m2y, cxy;  // sums of squared and crossed deviations from the means
};

Comoments& StateOf(duckdb_aggregate_state state) { return *reinterpret_cast<Comoments*>(state); }

idx_t StateSize(duckdb_function_info) { return sizeof(Comoments); }

void Init(duckdb_function_info, duckdb_aggregate_state state) {
  new (state) Comoments{0, 0, 0, 0, 0, 0};
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
    const double dx = x - s.mean_x;
    s.mean_x += dx / n;
    const double dy = y - s.mean_y;
    s.mean_y += dy / n;
    s.m2x += dx * (x - s.mean_x);
    s.m2y += dy * (y - s.mean_y);
    s.cxy += dx * (y - s.mean_y);
  }
}

// Chan et al.'s pairwise merge of `a` into `t`. The means move by the difference times the
// source's share, so two states of one constant keep it exactly (and their moments exactly
// 0), where a pooled sum / count could differ from it in the last bit.
void Merge(const Comoments& a, Comoments& t) {
  if (a.n == 0) return;
  if (t.n == 0) {
    t = a;
    return;
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

void Combine(duckdb_function_info, duckdb_aggregate_state* sources, duckdb_aggregate_state* targets,
             idx_t count) {
  for (idx_t i = 0; i < count; ++i) Merge(StateOf(sources[i]), StateOf(targets[i]));
}

enum Field : idx_t { kN, kAvgX, kAvgY, kSxx, kSyy, kSxy, kFields };
constexpr const char* kFieldNames[kFields] = {"n", "avgx", "avgy", "sxx", "syy", "sxy"};

// DuckDB's regr_sxx: n * var_pop, where var_pop is 0 below two values and must be finite.
bool SumOfSquares(const Comoments& s, double m2, double* out) {
  if (s.n < 2) {
    *out = 0;
    return true;
  }
  *out = m2;
  return std::isfinite(m2 / static_cast<double>(s.n));
}

// The merging overload's update: each row is a finished state (the struct Finalize gives),
// merged into its group's. A NULL row, or one without pairs, adds nothing; one with pairs
// but a field missing is not a state Finalize gives, and fails the query.
void MergeUpdate(duckdb_function_info info, duckdb_data_chunk input,
                 duckdb_aggregate_state* states) {
  const idx_t rows = duckdb_data_chunk_get_size(input);
  duckdb_vector partials = duckdb_data_chunk_get_vector(input, 0);
  uint64_t* row_valid = duckdb_vector_get_validity(partials);
  const void* data[kFields] = {};
  uint64_t* valid[kFields] = {};
  for (idx_t f = 0; f < kFields; ++f) {
    duckdb_vector child = duckdb_struct_vector_get_child(partials, f);
    data[f] = duckdb_vector_get_data(child);
    valid[f] = duckdb_vector_get_validity(child);
  }
  const auto* ns = static_cast<const int64_t*>(data[kN]);
  auto value = [&](idx_t f, idx_t i) { return static_cast<const double*>(data[f])[i]; };
  auto present = [&](idx_t f, idx_t i) {
    return valid[f] == nullptr || duckdb_validity_row_is_valid(valid[f], i);
  };
  for (idx_t i = 0; i < rows; ++i) {
    if ((row_valid != nullptr && !duckdb_validity_row_is_valid(row_valid, i)) || !present(kN, i) ||
        ns[i] <= 0) {
      continue;
    }
    for (idx_t f = kAvgX; f < kFields; ++f) {
      if (!present(f, i)) {
        const std::string error =
            std::string(kComomentsAggregate) + ": a partial with pairs has no " + kFieldNames[f];
        duckdb_aggregate_function_set_error(info, error.c_str());
        return;
      }
    }
    const Comoments partial{ns[i],          value(kAvgX, i), value(kAvgY, i),
                            value(kSxx, i), value(kSyy, i),  value(kSxy, i)};
    Merge(partial, StateOf(states[i]));
  }
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

  duckdb_aggregate_function_set set = duckdb_create_aggregate_function_set(kComomentsAggregate);
  bool added = true;
  // (y, x): the moments of the pairs; (partial): the merge of such structs.
  for (bool merging : {false, true}) {
    duckdb_aggregate_function f = duckdb_create_aggregate_function();
    duckdb_aggregate_function_set_name(f, kComomentsAggregate);
    if (merging) {
      duckdb_aggregate_function_add_parameter(f, result.get());
    } else {
      duckdb_aggregate_function_add_parameter(f, dbl.get());
      duckdb_aggregate_function_add_parameter(f, dbl.get());
    }
    duckdb_aggregate_function_set_return_type(f, result.get());
    duckdb_aggregate_function_set_functions(
        f, LibraryCallback<StateSize>::Call, LibraryCallback<Init>::Call,
        merging ? LibraryCallback<MergeUpdate>::Call : LibraryCallback<Update>::Call,
        LibraryCallback<Combine>::Call, LibraryCallback<Finalize>::Call);
    // NULLs reach the updates, which skip a pair with either value missing and a NULL partial.
    duckdb_aggregate_function_set_special_handling(f);
    added = duckdb_add_aggregate_function_to_set(set, f) == DuckDBSuccess && added;
    duckdb_destroy_aggregate_function(&f);
  }
  const bool registered =
      added && duckdb_register_aggregate_function_set(connection.get(), set) == DuckDBSuccess;
  duckdb_destroy_aggregate_function_set(&set);
  if (!registered) return Status::Internal(std::string("cannot register ") + kComomentsAggregate);
  return Status::OK();
}

}  // namespace dux::exec
