#include "dux/worker/bucket_store.h"

#include <duckdb.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "dux/common/library_callback.h"
#include "dux/exec/logical_type_sql.h"
#include "dux/sql/quote.h"

namespace dux::worker {

namespace {

constexpr const char* kScanFunction = "__dux_bucket_scan";

// The bytes of `count` values of a flat vector (chunks from DuckDB's C API are flat).
int64_t VectorBytes(duckdb_vector vector, duckdb_logical_type type, idx_t count) {
  auto n = static_cast<int64_t>(count);
  int64_t validity = (n + 7) / 8;
  switch (duckdb_get_type_id(type)) {
    case DUCKDB_TYPE_BOOLEAN:
    case DUCKDB_TYPE_TINYINT:
    case DUCKDB_TYPE_UTINYINT:
      return validity + n;
    case DUCKDB_TYPE_SMALLINT:
    case DUCKDB_TYPE_USMALLINT:
      return validity + 2 * n;
    case DUCKDB_TYPE_INTEGER:
    case DUCKDB_TYPE_UINTEGER:
    case DUCKDB_TYPE_FLOAT:
    case DUCKDB_TYPE_DATE:
      return validity + 4 * n;
    case DUCKDB_TYPE_VARCHAR:
    case DUCKDB_TYPE_BLOB:
    case DUCKDB_TYPE_BIT: {
      // A string of more than 12 bytes lives in the vector's heap.
      int64_t heap = 0;
      const auto* strings = static_cast<const duckdb_string_t*>(duckdb_vector_get_data(vector));
      uint64_t* valid = duckdb_vector_get_validity(vector);
      for (idx_t i = 0; i < count; ++i) {
        if (valid && !duckdb_validity_row_is_valid(valid, i)) continue;
        uint32_t length = duckdb_string_t_length(strings[i]);
        if (length > 12) heap += length;
      }
      return validity + 16 * n + heap;
    }
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_MAP: {
      exec::LogicalTypeHandle child(duckdb_list_type_child_type(type));
      return validity + 16 * n +
             VectorBytes(duckdb_list_vector_get_child(vector), child.get(),
                         duckdb_list_vector_get_size(vector));
    }
    case DUCKDB_TYPE_ARRAY: {
      exec::LogicalTypeHandle child(duckdb_array_type_child_type(type));
      return validity + VectorBytes(duckdb_array_vector_get_child(vector), child.get(),
                                    count * duckdb_array_type_array_size(type));
    }
    case DUCKDB_TYPE_STRUCT:
    case DUCKDB_TYPE_UNION: {
      int64_t bytes = validity;
      for (idx_t i = 0; i < duckdb_struct_type_child_count(type); ++i) {
        exec::LogicalTypeHandle child(duckdb_struct_type_child_type(type, i));
        bytes += VectorBytes(duckdb_struct_vector_get_child(vector, i), child.get(), count);
      }
      return bytes;
    }
    case DUCKDB_TYPE_HUGEINT:
    case DUCKDB_TYPE_UHUGEINT:
    case DUCKDB_TYPE_INTERVAL:
    case DUCKDB_TYPE_UUID:
    case DUCKDB_TYPE_DECIMAL:  // up to 16 bytes a value
      return validity + 16 * n;
    default:  // 8 bytes: BIGINT, DOUBLE, the times and timestamps; ENUMs count high
      return validity + 8 * n;
  }
}

int64_t ChunkBytes(duckdb_data_chunk chunk) {
  int64_t bytes = 0;
  idx_t size = duckdb_data_chunk_get_size(chunk);
  for (idx_t c = 0; c < duckdb_data_chunk_get_column_count(chunk); ++c) {
    duckdb_vector vector = duckdb_data_chunk_get_vector(chunk, c);
    exec::LogicalTypeHandle type(duckdb_vector_get_column_type(vector));
    bytes += VectorBytes(vector, type.get(), size);
  }
  return bytes;
}

// The SQL spelling of each column's type of `chunk`.
Result<std::vector<std::string>> TypeSqls(duckdb_data_chunk chunk) {
  std::vector<std::string> out;
  for (idx_t c = 0; c < duckdb_data_chunk_get_column_count(chunk); ++c) {
    exec::LogicalTypeHandle type(
        duckdb_vector_get_column_type(duckdb_data_chunk_get_vector(chunk, c)));
    DUX_ASSIGN_OR_RETURN(std::string sql, exec::LogicalTypeSql(type.get()));
    out.push_back(std::move(sql));
  }
  return out;
}

// A copy of the `size` rows of `chunk` (for a sink asked to keep a borrowed chunk).
exec::DataChunkHandle CopyChunk(duckdb_data_chunk chunk) {
  idx_t width = duckdb_data_chunk_get_column_count(chunk);
  idx_t size = duckdb_data_chunk_get_size(chunk);
  std::vector<exec::LogicalTypeHandle> owners;
  std::vector<duckdb_logical_type> types;
  for (idx_t c = 0; c < width; ++c) {
    owners.emplace_back(duckdb_vector_get_column_type(duckdb_data_chunk_get_vector(chunk, c)));
    types.push_back(owners.back().get());
  }
  exec::DataChunkHandle copy(duckdb_create_data_chunk(types.data(), width));
  exec::SelectionHandle all(duckdb_create_selection_vector(size));
  sel_t* rows = duckdb_selection_vector_get_data_ptr(all.get());
  for (idx_t i = 0; i < size; ++i) rows[i] = static_cast<sel_t>(i);
  for (idx_t c = 0; c < width; ++c) {
    duckdb_vector_copy_sel(duckdb_data_chunk_get_vector(chunk, c),
                           duckdb_data_chunk_get_vector(copy.get(), c), all.get(), size, 0, 0);
  }
  duckdb_data_chunk_set_size(copy.get(), size);
  return copy;
}

}  // namespace

/// One bucket: its columns (an empty chunk of their types, which owns them) and its chunks,
/// guarded by the store's mutex. `table` is set once it moved to a table; `moving` makes
/// the sinks that move it or append to its table wait for the one that creates it.
struct BucketStore::Bucket {
  std::mutex moving;
  std::string name;
  std::vector<std::string> names;
  exec::DataChunkHandle shape;
  std::vector<exec::DataChunkHandle> chunks;
  int64_t rows = 0;
  int64_t bytes = 0;
  bool table = false;
};

// Appends to a bucket in memory until the store's budget runs out or the bucket moves to a
// table, then to the table.
class MemorySink : public exec::RowSink {
 public:
  MemorySink(BucketStore* store, const exec::Database& db, std::shared_ptr<BucketStore::Bucket> b)
      : store_(store), db_(db), bucket_(std::move(b)) {}
  Status Append(duckdb_data_chunk chunk) override {
    exec::DataChunkHandle copy = CopyChunk(chunk);
    return Take(&copy);
  }
  Status Take(exec::DataChunkHandle* chunk) override {
    if (!table_) {
      int64_t bytes = ChunkBytes(chunk->get());
      {
        // Kept while the budget allows and no other sink has moved the bucket.
        std::lock_guard lock(store_->mutex_);
        if (!bucket_->table && store_->bytes_ + bytes <= store_->budget_) {
          store_->bytes_ += bytes;
          bucket_->rows += static_cast<int64_t>(duckdb_data_chunk_get_size(chunk->get()));
          bucket_->bytes += bytes;
          bucket_->chunks.push_back(std::move(*chunk));
          return Status::OK();
        }
      }
      DUX_ASSIGN_OR_RETURN(table_, store_->MoveToTable(db_, bucket_));
    }
    return table_->Append(chunk->get());
  }
  Status Finish() override { return table_ ? table_->Finish() : Status::OK(); }

 private:
  BucketStore* store_;
  const exec::Database& db_;
  std::shared_ptr<BucketStore::Bucket> bucket_;
  std::unique_ptr<exec::RowSink> table_;
};

namespace {

// An appender on a connection of its own.
class TableSink : public exec::RowSink {
 public:
  static Result<std::unique_ptr<exec::RowSink>> Open(exec::Connection connection,
                                                     const std::string& table) {
    auto sink = std::unique_ptr<TableSink>(new TableSink(std::move(connection)));
    DUX_ASSIGN_OR_RETURN(sink->appender_, exec::OpenTableRowSink(sink->connection_, table));
    return std::unique_ptr<exec::RowSink>(std::move(sink));
  }
  Status Append(duckdb_data_chunk chunk) override { return appender_->Append(chunk); }
  Status Finish() override { return appender_->Finish(); }

 private:
  explicit TableSink(exec::Connection c) : connection_(std::move(c)) {}
  exec::Connection connection_;
  std::unique_ptr<exec::RowSink> appender_;  // destroyed before its connection
};

// What a scan of one bucket reads: the chunks it held when the query was bound.
struct ScanBind {
  std::shared_ptr<BucketStore::Bucket> bucket;  // keeps the chunks alive
  std::vector<duckdb_data_chunk> chunks;
};

struct ScanState {
  std::atomic<size_t> next{0};
};

std::string TakeVarchar(duckdb_value value) {
  char* text = duckdb_get_varchar(value);
  std::string out = text ? text : "";
  duckdb_free(text);
  duckdb_destroy_value(&value);
  return out;
}

BucketStore* StoreOf(void* extra) {
  return static_cast<std::shared_ptr<BucketStore>*>(extra)->get();
}

void DeleteStore(void* extra) { delete static_cast<std::shared_ptr<BucketStore>*>(extra); }
void DeleteBind(void* bind) { delete static_cast<ScanBind*>(bind); }
void DeleteState(void* state) { delete static_cast<ScanState*>(state); }

}  // namespace

// The table function's callbacks reach the store's privates through this friend.
class ScanFunction {
 public:
  static void Bind(duckdb_bind_info info) {
    BucketStore* store = StoreOf(duckdb_bind_get_extra_info(info));
    std::string name = TakeVarchar(duckdb_bind_get_parameter(info, 0));
    auto bind = std::make_unique<ScanBind>();
    {
      std::lock_guard lock(store->mutex_);
      auto it = store->buckets_.find(name);
      if (it == store->buckets_.end() || it->second->table) {
        duckdb_bind_set_error(info, ("no exchange bucket named " + name).c_str());
        return;
      }
      bind->bucket = it->second;
      for (const auto& c : it->second->chunks) bind->chunks.push_back(c.get());
    }
    const auto& bucket = *bind->bucket;
    for (size_t c = 0; c < bucket.names.size(); ++c) {
      exec::LogicalTypeHandle type(duckdb_vector_get_column_type(
          duckdb_data_chunk_get_vector(bucket.shape.get(), static_cast<idx_t>(c))));
      duckdb_bind_add_result_column(info, bucket.names[c].c_str(), type.get());
    }
    duckdb_bind_set_cardinality(info, static_cast<idx_t>(bucket.rows), true);
    duckdb_bind_set_bind_data(info, bind.release(), LibraryCallback<DeleteBind>::Call);
  }
  static void Init(duckdb_init_info info) {
    auto* bind = static_cast<ScanBind*>(duckdb_init_get_bind_data(info));
    duckdb_init_set_max_threads(info, std::max<idx_t>(1, bind->chunks.size()));
    duckdb_init_set_init_data(info, new ScanState, LibraryCallback<DeleteState>::Call);
  }
  // Hands out the next stored chunk's vectors by reference: no copy.
  static void Scan(duckdb_function_info info, duckdb_data_chunk output) {
    auto* bind = static_cast<ScanBind*>(duckdb_function_get_bind_data(info));
    auto* state = static_cast<ScanState*>(duckdb_function_get_init_data(info));
    size_t i = state->next.fetch_add(1);
    if (i >= bind->chunks.size()) {
      duckdb_data_chunk_set_size(output, 0);
      return;
    }
    duckdb_data_chunk chunk = bind->chunks[i];
    for (idx_t c = 0; c < duckdb_data_chunk_get_column_count(output); ++c) {
      duckdb_vector_reference_vector(duckdb_data_chunk_get_vector(output, c),
                                     duckdb_data_chunk_get_vector(chunk, c));
    }
    duckdb_data_chunk_set_size(output, duckdb_data_chunk_get_size(chunk));
  }
  static void Replace(duckdb_replacement_scan_info info, const char* table, void* extra) {
    if (!StoreOf(extra)->Holds(table)) return;
    duckdb_replacement_scan_set_function_name(info, kScanFunction);
    duckdb_value name = duckdb_create_varchar(table);
    duckdb_replacement_scan_add_parameter(info, name);
    duckdb_destroy_value(&name);
  }
};

Result<std::shared_ptr<BucketStore>> BucketStore::Install(const exec::Database& db,
                                                          int64_t budget_bytes) {
  std::shared_ptr<BucketStore> store(new BucketStore(budget_bytes));
  DUX_ASSIGN_OR_RETURN(exec::Connection c, exec::Connection::Open(db));
  duckdb_table_function f = duckdb_create_table_function();
  duckdb_table_function_set_name(f, kScanFunction);
  exec::LogicalTypeHandle varchar(duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR));
  duckdb_table_function_add_parameter(f, varchar.get());
  duckdb_table_function_set_extra_info(f, new std::shared_ptr<BucketStore>(store),
                                       LibraryCallback<DeleteStore>::Call);
  duckdb_table_function_set_bind(f, LibraryCallback<ScanFunction::Bind>::Call);
  duckdb_table_function_set_init(f, LibraryCallback<ScanFunction::Init>::Call);
  duckdb_table_function_set_function(f, LibraryCallback<ScanFunction::Scan>::Call);
  duckdb_state registered = duckdb_register_table_function(c.get(), f);
  duckdb_destroy_table_function(&f);
  if (registered == DuckDBError) return Status::Internal("cannot register the bucket scan");
  duckdb_add_replacement_scan(db.get(), LibraryCallback<ScanFunction::Replace>::Call,
                              new std::shared_ptr<BucketStore>(store),
                              LibraryCallback<DeleteStore>::Call);
  return store;
}

Result<std::unique_ptr<exec::RowSink>> BucketStore::Open(const exec::Database& db,
                                                         const std::string& name,
                                                         const exec::RoutedColumns& columns) {
  auto fresh = std::make_shared<Bucket>();
  fresh->name = name;
  fresh->names = columns.names;
  fresh->shape = exec::DataChunkHandle(duckdb_create_data_chunk(
      const_cast<duckdb_logical_type*>(columns.types.data()), columns.types.size()));
  std::shared_ptr<Bucket> bucket;
  {
    std::lock_guard lock(mutex_);
    auto [it, added] = buckets_.emplace(name, fresh);
    bucket = it->second;
  }
  if (bucket->table) return MoveToTable(db, bucket);
  if (bucket != fresh) {
    // A second fill of a held bucket: kept in memory only when its types are the same.
    DUX_ASSIGN_OR_RETURN(auto mine, TypeSqls(fresh->shape.get()));
    auto theirs = TypeSqls(bucket->shape.get());
    if (!theirs.ok() || *theirs != mine || bucket->names.size() != columns.names.size()) {
      return MoveToTable(db, bucket);
    }
  }
  return std::unique_ptr<exec::RowSink>(new MemorySink(this, db, bucket));
}

Result<std::unique_ptr<exec::RowSink>> BucketStore::MoveToTable(
    const exec::Database& db, const std::shared_ptr<Bucket>& bucket) {
  DUX_ASSIGN_OR_RETURN(exec::Connection c, exec::Connection::Open(db));
  // The sink that moves the bucket creates and fills the table before others append to it.
  std::lock_guard moving(bucket->moving);
  std::vector<exec::DataChunkHandle> chunks;
  bool create;
  {
    std::lock_guard lock(mutex_);
    create = !bucket->table;
    if (create) {
      bucket->table = true;
      chunks = std::move(bucket->chunks);
      bytes_ -= bucket->bytes;
      bucket->bytes = 0;
    }
  }
  std::string quoted = sql::QuoteIdentifier(bucket->name);
  if (create) {
    DUX_ASSIGN_OR_RETURN(auto types, TypeSqls(bucket->shape.get()));
    std::string columns;
    for (size_t i = 0; i < types.size(); ++i) {
      columns += (i ? ", " : "") + sql::QuoteIdentifier(bucket->names[i]) + " " + types[i];
    }
    DUX_RETURN_NOT_OK(c.Execute("CREATE TABLE " + quoted + " (" + columns + ")").status());
  }
  DUX_ASSIGN_OR_RETURN(auto sink, TableSink::Open(std::move(c), bucket->name));
  for (auto& chunk : chunks) DUX_RETURN_NOT_OK(sink->Append(chunk.get()));
  return sink;
}

BucketStore::BucketStore(int64_t budget) : budget_(budget), freeing_([this] { FreeDropped(); }) {}

BucketStore::~BucketStore() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  dropped_cv_.notify_one();
  freeing_.join();
}

void BucketStore::FreeDropped() {
  std::unique_lock lock(mutex_);
  for (;;) {
    dropped_cv_.wait(lock, [this] { return closing_ || !dropped_.empty(); });
    if (dropped_.empty()) return;  // closing, and nothing left to free
    std::vector<std::shared_ptr<Bucket>> batch;
    batch.swap(dropped_);
    int64_t bytes = 0;
    for (const auto& bucket : batch) bytes += bucket->bytes;
    lock.unlock();
    batch.clear();  // the chunks go here (later, when a scan still holds the bucket)
    lock.lock();
    bytes_ -= bytes;
  }
}

bool BucketStore::Drop(const std::string& name) {
  bool in_memory;
  {
    std::lock_guard lock(mutex_);
    auto it = buckets_.find(name);
    if (it == buckets_.end()) return false;
    in_memory = !it->second->table;
    dropped_.push_back(std::move(it->second));
    buckets_.erase(it);
  }
  dropped_cv_.notify_one();
  return in_memory;
}

bool BucketStore::Holds(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = buckets_.find(name);
  return it != buckets_.end() && !it->second->table;
}

int64_t BucketStore::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

}  // namespace dux::worker
