// The end-to-end runner: runs each record of a test file under every executor (local, and
// with --local-workers distributed on 1..N real worker processes) and compares results.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dux/api/session.h"
#include "dux/coordinator/planner.h"
#include "dux/exec/table.h"
#include "dux/pipeline/pipeline.h"
#include "s3_mirror.h"
#include "test_file.h"

namespace dux::test {

/// What a pipeline produced: a table, or for a sink the rows it wrote (as a 1x1 table).
struct Outcome {
  exec::Table table;
  bool ordered = false;  ///< the pipeline defines the row order
};

/// Runs parsed pipelines somewhere (in the test's session, on workers, ...). The session
/// holds the test's DuckDB: fixtures made by `statement ok` live there.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual std::string Name() const = 0;
  virtual Result<Outcome> Run(Session& session, const pipeline::Script& script) = 0;
  /// The splitter rules a distributed plan of `script` applies (as explain lists them);
  /// nothing when this executor runs locally.
  virtual Result<std::optional<std::string>> SplitterRules(Session& session,
                                                           const pipeline::Script& script) = 0;
};

/// Runs pipelines in the session itself, single-process.
std::unique_ptr<Executor> MakeLocalExecutor();

/// Runs pipelines distributed from the session onto `workers` ("distributed-N", or
/// "<kind>-N"); with `shuffle_joins`, joins exchange both sides instead of broadcasting the
/// right one (broadcast threshold 0: "distributed-N-shuffle").
std::unique_ptr<Executor> MakeDistributedExecutor(
    std::vector<std::shared_ptr<protocol::WorkerClient>> workers, bool shuffle_joins = false,
    const std::string& kind = "distributed");

/// Called after every `statement ok` (distributed runs copy the fixture tables onto the
/// workers, which share nothing with the test's session).
using AfterStatement = std::function<Status(Session& session)>;

/// The prefix of the S3 mode's bucket that holds a copy of the data directory.
inline constexpr const char* kS3DataPrefix = "data";

/// How RunTestFile runs a file.
struct RunOptions {
  std::string data_dir = "test/e2e/data";  ///< what __DATA_DIR__ stands for
  AfterStatement after_statement;
  /// The S3 mode (docs/testing.md, "End-to-end files on S3"), when set: `s3`'s bucket holds
  /// a copy of data_dir under kS3DataPrefix. Pipelines (and their expected errors) see
  /// __DATA_DIR__ as that prefix and __TEST_DIR__ as a prefix of each run's own; statements,
  /// queries and the oracle keep the local directories. After each DuckDB statement the
  /// local test directory is mirrored up to the run's prefix, after each pipeline with a
  /// sink the prefix is mirrored down into it, so the oracle reads a local copy of exactly
  /// what is in S3. A file with an `# s3: skip REASON` line is skipped.
  S3Mirror* s3 = nullptr;
};

/// Runs one file; returns the number of failures (printed to stderr) or an error for a
/// malformed file. A file that needs PostgreSQL where no server can start, or that says it
/// cannot run on S3 in the S3 mode, is skipped (with a message on stderr, `*skipped` set, 0
/// failures).
Result<int> RunTestFile(const std::string& path, const std::vector<Executor*>& executors,
                        const RunOptions& options, bool* skipped = nullptr);

/// The REASON of the `# s3: skip REASON` line of the test file at `path` (test_file.h);
/// nothing when it has none. NotFound for a file that cannot be read.
Result<std::optional<std::string>> ReadS3SkipReason(const std::string& path);

/// Makes the main-schema tables of `session` exist, with the same rows, on every worker
/// (dropping the ones `synced` lists first); `synced` then lists what was copied.
Status CopyTablesToWorkers(Session& session,
                           const std::vector<std::shared_ptr<protocol::WorkerClient>>& workers,
                           std::vector<std::string>* synced);

}  // namespace dux::test
