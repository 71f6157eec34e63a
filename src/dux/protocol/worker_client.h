// WorkerClient: how a coordinator talks to one worker, whatever carries the calls (gRPC in
// rpc/, or direct calls into a worker in the same process in worker/). The requests and
// replies are the protocol's protobuf messages (proto/dux/v1/worker.proto), so every
// transport carries exactly the same data. Errors name the worker's address.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "dux/arrow_ipc/streams.h"
#include "dux/common/status.h"
#include "dux/v1/worker.pb.h"

namespace dux::protocol {

/// The bytes of one Arrow IPC stream as a worker produces them. Read blocks until the worker
/// sends more; a failure on the worker (or of the transport) comes back from Read as an
/// error naming the worker. Destroying the stream before its end cancels the call.
///
/// Besides the rows, a worker may report on its fragment (IpcChunk.progress while it runs,
/// IpcChunk.stats at its end): those messages reach the handler given to OnReport, on the
/// thread that calls Read and from within Read, in the order they were sent. The stats come
/// after the rows' last byte, so a caller that wants them reads on until Read returns 0.
/// Workers that report nothing never call the handler.
class ResultStream : public arrow_ipc::InputStream {
 public:
  /// Receives a message that carries progress or stats (its bytes are Read's as usual).
  using ReportHandler = std::function<void(const v1::IpcChunk& report)>;

  /// Abandons the call from any thread: a Read blocked in it returns Cancelled, and so does
  /// every later one. The worker stops the query.
  virtual void Cancel() = 0;

  /// Set before the first Read; replaces any earlier handler.
  void OnReport(ReportHandler handler) { report_ = std::move(handler); }

 protected:
  /// For transports: hands `message` to the handler when it carries a report.
  void DeliverReport(const v1::IpcChunk& message) const {
    if (report_ && (message.has_progress() || message.has_stats())) report_(message);
  }

 private:
  ReportHandler report_;
};

/// Pushes one exchange's buckets to one worker (see PushBuckets in worker.proto).
class BucketPusher {
 public:
  virtual ~BucketPusher() = default;
  virtual Status Push(const v1::BucketChunk& chunk) = 0;
  /// Ends the stream and waits for the receiver to have stored every chunk.
  virtual Result<v1::PushBucketsReply> Finish() = 0;
};

/// Thread-safe: a coordinator calls one client from several threads at once.
class WorkerClient {
 public:
  virtual ~WorkerClient() = default;

  /// Where the worker is ("127.0.0.1:4000", or "in-process:N").
  virtual const std::string& address() const = 0;

  /// Starts a fragment. The stream starts before the query has finished.
  virtual Result<std::unique_ptr<ResultStream>> Execute(const v1::ExecuteRequest& request) = 0;

  /// Creates `table` on the worker from the IPC stream read from `ipc`, held for the lease
  /// `lease_id` (may be empty: until DropTable); returns its rows.
  virtual Result<int64_t> RegisterTable(const std::string& table, const std::string& lease_id,
                                        arrow_ipc::InputStream* ipc) = 0;
  virtual Result<int64_t> AppendChunk(const v1::AppendChunkRequest& request) = 0;
  virtual Status DropTable(const v1::DropTableRequest& request) = 0;
  virtual Result<std::unique_ptr<BucketPusher>> PushBuckets() = 0;
  virtual Result<v1::WriteReply> Write(const v1::WriteRequest& request) = 0;
  virtual Result<v1::InsertIntoReply> InsertInto(const v1::InsertIntoRequest& request) = 0;
  virtual Result<v1::InfoReply> Info() = 0;
  virtual Status Health() = 0;
  /// True when a query of that id was running (it stops with a Cancelled error).
  virtual Result<bool> Cancel(const std::string& query_id) = 0;
  /// Renews a lease of this coordinator's (RenewLeaseRequest in worker.proto); the reply
  /// gives the worker's lease timeout. Fails when the lease has expired on the worker.
  virtual Result<v1::RenewLeaseReply> RenewLease(const v1::RenewLeaseRequest& request) = 0;
};

/// `status` as reported by the worker at `address`: "worker ADDRESS: message", same code.
inline Status AtWorker(const std::string& address, const Status& status) {
  if (status.ok()) return status;
  return Status(status.code(), "worker " + address + ": " + status.message());
}

/// The worker table that holds one bucket of an exchange (PushBuckets stores it there).
std::string BucketTable(const std::string& exchange_id, int bucket);
/// True for a name BucketTable makes.
bool IsBucketTable(const std::string& table);

/// Chunk size for streaming IPC over any transport: big enough to amortise per-message
/// costs, small enough to stream and to stay far below gRPC's message size limit.
constexpr size_t kIpcChunkBytes = 1 << 20;

}  // namespace dux::protocol
