// Removing what one partition of a directory write left (RemoveWritePartition): what a losing
// speculative attempt completed goes, the other partitions' files and other writes stay.
#include "dux/exec/sink_writer.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "dux/exec/duckdb_connection.h"

namespace dux::exec {
namespace {

namespace fs = std::filesystem;

std::set<std::string> FilesBelow(const fs::path& dir) {
  std::set<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    found.insert(fs::relative(entry.path(), dir).string());
  }
  return found;
}

TEST(RemoveWritePartitionTest, RemovesOnlyThatPartitionsFilesAndTheHiveDirectoriesItEmptied) {
  std::string tmpl = (fs::temp_directory_path() / "dux-sink-writer-test-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const fs::path dir = tmpl;
  fs::create_directories(dir / "k=1");
  fs::create_directories(dir / "k=2");
  for (const char* name :
       {"part-00001-q7.parquet", "part-00004-q7.parquet", ".part-00004-q7.a-b-1.dux-tmp",
        "part-00004-q8.parquet", "k=1/part-00004-q7-c0.parquet", "k=2/part-00004-q7-c0.parquet",
        "k=2/part-00001-q7-c0.parquet", "part-000040-q7.parquet"}) {
    std::ofstream(dir / name) << "x";
  }
  auto db = Database::Open();
  ASSERT_TRUE(db.ok()) << db.status().message();
  auto connection = Connection::Open(*db);
  ASSERT_TRUE(connection.ok()) << connection.status().message();
  RemoveWritePartition(*connection, dir.string(), "q7", 4);
  EXPECT_EQ(FilesBelow(dir),
            (std::set<std::string>{"part-00001-q7.parquet", "part-00004-q8.parquet", "k=2",
                                   "k=2/part-00001-q7-c0.parquet", "part-000040-q7.parquet"}));
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

}  // namespace
}  // namespace dux::exec
