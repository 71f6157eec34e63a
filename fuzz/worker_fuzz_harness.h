// The worker fuzz targets' shared part: one small confined worker per process, called the
// way the gRPC worker service (src/dux/rpc/worker_service.cc) calls worker::Worker, and the
// checks made after every input. See docs/fuzzing.md, "The worker's RPC inputs".
#pragma once

#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/v1/worker.pb.h"
#include "dux/worker/worker.h"
#include "worker_fuzz_input.pb.h"

namespace dux::fuzz {

/// The value in the one row of the file outside the allowed directory: a result that holds
/// it means a fragment read outside --allow-dir.
constexpr const char* kSecret = "dux-fuzz-secret-4d1f9a";

/// Where the worker's files are (BASE below): inputs name them by absolute path.
constexpr const char* kBaseDirectory = "/tmp/dux-worker-fuzz";

/// A worker confined to a directory tree of its own, made afresh on first use at
/// kBaseDirectory (removed at exit; one fuzzer process at a time may use it):
///
///   BASE/allowed/                 --allow-dir, and the working directory: t.parquet,
///                                 t.csv, t.arrow (3 rows),
///                                 link.parquet -> ../outside/secret.parquet,
///                                 linkdir -> ../outside
///   BASE/outside/secret.parquet   one row holding kSecret (also secret.csv, secret.arrow)
///   BASE/tmp/                     --temp-dir
///
/// Its address is "fuzz-worker", so a shuffle whose owners are all "fuzz-worker" stores its
/// buckets locally (another owner fails: the worker has no peers). 1 thread, 512 MB.
///
/// Calls return what the worker returned; an error is an ordinary outcome. A fragment that
/// runs longer than 2 s is cancelled, as the service does when its caller goes away: a
/// query that does not stop then shows up as a libFuzzer timeout. Not thread-safe: one
/// input at a time, as libFuzzer runs them.
class FuzzWorker {
 public:
  static FuzzWorker& Get();

  Status Execute(const v1::ExecuteRequest& request);
  Status Write(const v1::WriteRequest& request);
  Status InsertInto(const v1::InsertIntoRequest& request);
  Status AppendChunk(const v1::AppendChunkRequest& request);
  Status DropTable(const v1::DropTableRequest& request);
  Status PushBuckets(const std::vector<v1::BucketChunk>& chunks);
  /// Like the service: the first chunk names the table; every chunk's data is the stream.
  Status RegisterTable(const std::vector<v1::RegisterTableChunk>& chunks);
  bool Cancel(const std::string& query_id);
  Status Call(const WorkerCall& call);

  /// After each input: drops every table the worker lists and removes what the input wrote
  /// into the allowed directory. Aborts (a finding) when a table survives its drop, a query
  /// is still registered, anything appeared outside the allowed directory, or a result
  /// carried kSecret.
  void Reset();

  /// An Arrow IPC stream of the 3 rows of t.parquet (for inputs that need valid bytes).
  const std::string& sample_ipc() const { return sample_ipc_; }

 private:
  FuzzWorker();
  void StartDeadline(const std::string& query_id);
  void StopDeadline();
  void Watch();

  struct Impl;
  Impl* impl_;  // lives as long as the process
  std::string sample_ipc_;
};

/// Aborts with "worker fuzz: MESSAGE" on stderr (a finding).
[[noreturn]] void Fail(const std::string& message);

}  // namespace dux::fuzz
