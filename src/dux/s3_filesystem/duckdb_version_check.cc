// Build step (not part of dux): fails when the DuckDB C++ headers dux compiles against are not
// from the same DuckDB as libduckdb.so. The expected version and source id are the headers'
// package's (DUX_DUCKDB_HEADERS_*, from fetch_duckdb.sh's cxx/version.txt); the actual ones
// are what the library reports at run time (DuckDB::SourceID, duckdb_library_version).
#include <cstdio>
#include <cstring>

#include "duckdb.h"
#include "duckdb/main/database.hpp"

int main() {
  const char* library_source_id = duckdb::DuckDB::SourceID();
  const char* library_version = duckdb_library_version();
  if (std::strcmp(library_source_id, DUX_DUCKDB_HEADERS_SOURCE_ID) != 0 ||
      std::strcmp(library_version, DUX_DUCKDB_HEADERS_VERSION) != 0) {
    std::fprintf(stderr,
                 "\n*** DuckDB header/library mismatch ***\n"
                 "libduckdb.so is DuckDB %s (source id %s), but the C++ headers are from %s "
                 "(source id %s).\n"
                 "DuckDB's C++ classes differ between builds: the s3 file system must be compiled "
                 "against the library's own headers. Re-run scripts/fetch_duckdb.sh into a fresh "
                 "directory and reconfigure with -DDUX_DUCKDB_DIR=that directory.\n\n",
                 library_version, library_source_id, DUX_DUCKDB_HEADERS_VERSION,
                 DUX_DUCKDB_HEADERS_SOURCE_ID);
    return 1;
  }
  std::printf("DuckDB headers and libduckdb.so agree: %s (%s)\n", library_version,
              library_source_id);
  return 0;
}
