// duckdb_sql [--threads N] [--statement] SQL: runs one query straight through DuckDB's C API
// (the same libduckdb dux uses) and prints its rows tab-separated; the baseline of the
// benchmarks. With --statement the SQL (a COPY, say) runs as it is and prints the rows it
// changed or wrote on stderr, so that a COPY TO '/dev/stdout' leaves stdout to its rows.
#include <duckdb.h>

#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  std::string threads, sql;
  bool statement = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = argv[++i];
    } else if (std::strcmp(argv[i], "--statement") == 0) {
      statement = true;
    } else {
      sql = argv[i];
    }
  }
  if (sql.empty()) {
    std::fprintf(stderr, "usage: duckdb_sql [--threads N] [--statement] SQL\n");
    return 2;
  }
  duckdb_config config;
  duckdb_create_config(&config);
  if (!threads.empty()) duckdb_set_config(config, "threads", threads.c_str());
  duckdb_database db;
  char* error = nullptr;
  if (duckdb_open_ext(nullptr, &db, config, &error) == DuckDBError) {
    std::fprintf(stderr, "duckdb_sql: %s\n", error);
    return 1;
  }
  duckdb_destroy_config(&config);
  duckdb_connection con;
  duckdb_connect(db, &con);
  std::string text = statement ? sql : "SELECT CAST(COLUMNS(*) AS VARCHAR) FROM (" + sql + "\n)";
  duckdb_result result;
  int rc = 0;
  if (duckdb_query(con, text.c_str(), &result) == DuckDBError) {
    std::fprintf(stderr, "duckdb_sql: %s\n", duckdb_result_error(&result));
    rc = 1;
  } else if (statement) {
    std::fprintf(stderr, "%llu\n", static_cast<unsigned long long>(duckdb_rows_changed(&result)));
  } else {
    idx_t columns = duckdb_column_count(&result);
    while (duckdb_data_chunk chunk = duckdb_fetch_chunk(result)) {
      idx_t n = duckdb_data_chunk_get_size(chunk);
      for (idx_t r = 0; r < n; ++r) {
        for (idx_t c = 0; c < columns; ++c) {
          duckdb_vector v = duckdb_data_chunk_get_vector(chunk, c);
          uint64_t* validity = duckdb_vector_get_validity(v);
          auto* s = static_cast<duckdb_string_t*>(duckdb_vector_get_data(v)) + r;
          if (validity && !duckdb_validity_row_is_valid(validity, r)) {
            std::fputs("NULL", stdout);
          } else {
            std::fwrite(duckdb_string_t_data(s), 1, duckdb_string_t_length(*s), stdout);
          }
          std::fputc(c + 1 < columns ? '\t' : '\n', stdout);
        }
      }
      duckdb_destroy_data_chunk(&chunk);
    }
  }
  duckdb_destroy_result(&result);
  duckdb_disconnect(&con);
  duckdb_close(&db);
  return rc;
}
