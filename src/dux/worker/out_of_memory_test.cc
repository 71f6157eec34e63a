// ExplainOutOfMemory (out_of_memory.h): DuckDB's out-of-memory errors become one line naming the
// worker's limits; other errors pass unchanged.
#include "dux/worker/out_of_memory.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace dux::worker {
namespace {

const MemoryLimits kLimits{"38.1 MiB", "/tmp/spill", "1.0 MiB"};

TEST(ExplainOutOfMemory, LeavesOtherErrorsAlone) {
  Status other = Status::InvalidArgument("Binder Error: no column v9");
  EXPECT_EQ(ExplainOutOfMemory(other, kLimits).message(), other.message());
  EXPECT_EQ(ExplainOutOfMemory(other, kLimits).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ExplainOutOfMemory(Status::OK(), kLimits).ok());
}

TEST(ExplainOutOfMemory, NamesTheMemoryLimitAndTheTempDirectory) {
  Status s = ExplainOutOfMemory(
      Status::InvalidArgument("Out of Memory Error: failed to pin block of size 256.0 KiB "
                              "(28.5 MiB/28.5 MiB used)\n\nPossible solutions:\n* Reducing"),
      kLimits);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "out of memory: what must stay in memory at once is beyond --memory-limit 38.1 MiB "
            "even with spilling to /tmp/spill: failed to pin block of size 256.0 KiB (28.5 "
            "MiB/28.5 MiB used)");
}

TEST(ExplainOutOfMemory, NamesAFullTempDirectoryOnOneLine) {
  Status s = ExplainOutOfMemory(
      Status(StatusCode::kResourceExhausted,
             "Out of Memory Error: failed to offload data block of size 256.0 KiB (1.0 MiB/1.0 "
             "MiB used). This limit was set by the 'max_temp_directory_size' setting. By "
             "default, this setting utilizes the available disk space."),
      kLimits);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "out of memory: the temp directory /tmp/spill is full (--max-temp-size 1.0 MiB) "
            "beyond --memory-limit 38.1 MiB: failed to offload data block of size 256.0 KiB "
            "(1.0 MiB/1.0 MiB used)");
  EXPECT_EQ(std::count(s.message().begin(), s.message().end(), '\n'), 0);
}

}  // namespace
}  // namespace dux::worker
