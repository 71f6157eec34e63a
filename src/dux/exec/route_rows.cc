// The hash router (route_rows.h): each chunk's rows selected per bucket and copied into the
// bucket's pending chunk, which goes to its sink whenever it is full.
#include "dux/exec/route_rows.h"

#include <duckdb.h>

#include <algorithm>

#include "dux/exec/arrow_bridge_internal.h"

namespace dux::exec {

using internal::DescribeArrow;
using internal::FetchChunks;
using internal::RunStreaming;

Result<std::vector<int64_t>> RouteRows(Connection& connection, const std::string& select_sql,
                                       int n_buckets, const RowSinkFactory& open) {
  if (n_buckets < 1) return Status::InvalidArgument("routing needs a bucket at least");
  DUX_ASSIGN_OR_RETURN(ResultHandle result, RunStreaming(connection, select_sql));
  idx_t n = duckdb_column_count(result.get());
  LogicalTypeHandle last(n > 0 ? duckdb_column_logical_type(result.get(), n - 1) : nullptr);
  if (!last || duckdb_get_type_id(last.get()) != DUCKDB_TYPE_UBIGINT) {
    return Status::InvalidArgument("a routed query ends in a UBIGINT hash column");
  }
  idx_t width = n - 1;
  DUX_ASSIGN_OR_RETURN(auto description, DescribeArrow(result, width));
  RoutedColumns columns{description->names, description->types, &description->described,
                        description->options.get()};
  const idx_t capacity = duckdb_vector_size();
  struct Bucket {
    std::unique_ptr<RowSink> sink;
    DataChunkHandle pending;
    idx_t size = 0;
    SelectionHandle selection;
    idx_t selected = 0;
    int64_t rows = 0;
  };
  std::vector<Bucket> buckets(static_cast<size_t>(n_buckets));
  for (int b = 0; b < n_buckets; ++b) {
    Bucket& bucket = buckets[static_cast<size_t>(b)];
    DUX_ASSIGN_OR_RETURN(bucket.sink, open(b, columns));
    bucket.pending = DataChunkHandle(duckdb_create_data_chunk(description->types.data(), width));
    bucket.selection = SelectionHandle(duckdb_create_selection_vector(capacity));
  }
  auto flush = [&](Bucket& bucket) -> Status {
    if (bucket.size == 0) return Status::OK();
    duckdb_data_chunk_set_size(bucket.pending.get(), bucket.size);
    DUX_RETURN_NOT_OK(bucket.sink->Take(&bucket.pending));
    if (bucket.pending) {
      duckdb_data_chunk_reset(bucket.pending.get());
    } else {  // kept by the sink
      bucket.pending = DataChunkHandle(duckdb_create_data_chunk(description->types.data(), width));
    }
    bucket.size = 0;
    return Status::OK();
  };
  std::vector<sel_t*> rows_of(buckets.size());
  // Copies the selected rows [from, to) of `chunk` to the end of the bucket's pending chunk.
  auto copy = [&](Bucket& bucket, duckdb_data_chunk chunk, idx_t from, idx_t to) {
    for (idx_t c = 0; c < width; ++c) {
      duckdb_vector_copy_sel(duckdb_data_chunk_get_vector(chunk, c),
                             duckdb_data_chunk_get_vector(bucket.pending.get(), c),
                             bucket.selection.get(), to, from, bucket.size);
    }
    bucket.size += to - from;
  };
  // Selects each bucket's rows of the chunk, then appends them to its pending chunk, which
  // goes to the sink whenever it is full.
  auto route = [&](duckdb_data_chunk chunk) -> Status {
    idx_t size = duckdb_data_chunk_get_size(chunk);
    const auto* hashes = static_cast<const uint64_t*>(
        duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, width)));
    for (size_t b = 0; b < buckets.size(); ++b) {
      buckets[b].selected = 0;
      rows_of[b] = duckdb_selection_vector_get_data_ptr(buckets[b].selection.get());
    }
    for (idx_t row = 0; row < size; ++row) {
      size_t b = BucketOfHash(hashes[row], buckets.size());  // hash() is never NULL
      rows_of[b][buckets[b].selected++] = static_cast<sel_t>(row);
    }
    for (auto& bucket : buckets) {
      for (idx_t done = 0; done < bucket.selected;) {
        idx_t take = std::min(bucket.selected - done, capacity - bucket.size);
        copy(bucket, chunk, done, done + take);
        done += take;
        if (bucket.size == capacity) DUX_RETURN_NOT_OK(flush(bucket));
      }
      bucket.rows += static_cast<int64_t>(bucket.selected);
    }
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(
      FetchChunks(result, [&](DataChunkHandle& chunk) { return route(chunk.get()); }).status());
  std::vector<int64_t> rows;
  for (auto& bucket : buckets) {
    DUX_RETURN_NOT_OK(flush(bucket));
    DUX_RETURN_NOT_OK(bucket.sink->Finish());
    rows.push_back(bucket.rows);
  }
  return rows;
}

}  // namespace dux::exec
