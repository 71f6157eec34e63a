#include "dux/rpc/grpc_worker_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "dux/rpc/result_channel.h"
#include "dux/v1/worker.grpc.pb.h"

namespace dux::rpc {

namespace {

// The deadline of a RenewLease call, in seconds (see RenewLease).
constexpr double kRenewLeaseDeadlineSeconds = 1.0;

// A worker's error as the coordinator reports it. A broken connection gets plain words:
// gRPC's own text ("Socket closed", "failed to connect to all addresses") says little. An
// error the worker itself returned (it marks its replies) is passed on as it is.
Status WorkerStatus(const std::string& address, const grpc::Status& status,
                    const grpc::ClientContext& context) {
  Status s = FromGrpc(status);
  if (context.GetServerTrailingMetadata().count(kHandledKey) > 0)
    return protocol::AtWorker(address, s);
  if (s.code() == StatusCode::kUnavailable) {
    return Status(s.code(),
                  "worker " + address + " is unreachable or went away (" + s.message() + ")");
  }
  if (s.code() == StatusCode::kDeadlineExceeded) {
    return Status(s.code(), "worker " + address + " did not answer in time");
  }
  return protocol::AtWorker(address, s);
}

// How long a caller waits for the worker's result channel to accept its connection before
// it reads the result over gRPC instead (rpc/result_channel.h).
constexpr double kResultChannelConnectSeconds = 5.0;

class GrpcResultStream : public protocol::ResultStream {
 public:
  GrpcResultStream(v1::Worker::Stub* stub, v1::ExecuteRequest request, const ClientOptions& options,
                   std::string address,
                   std::shared_ptr<std::atomic<bool>> result_channel_unreachable)
      : stub_(stub),
        request_(std::move(request)),
        options_(options),
        context_(NewContext(options, /*deadline=*/false)),
        address_(std::move(address)),
        result_channel_unreachable_(std::move(result_channel_unreachable)) {
    request_.set_result_channel(options.result_channel && options.tls_ca.empty() &&
                                !*result_channel_unreachable_);
    reader_ = stub_->Execute(context_.get(), request_);
    if (request_.result_channel()) AcceptOffer();
  }
  ~GrpcResultStream() override {
    if (finished_) return;
    Cancel();
    if (watcher_.joinable()) {
      watcher_.join();
    } else {
      (void)reader_->Finish();
    }
  }

  Result<size_t> Read(void* data, size_t size) override {
    if (!error_.ok()) return error_;
    if (frames_) return finished_ ? size_t{0} : ReadFrames(data, size);
    while (offset_ == chunk_.data().size()) {
      if (finished_) return size_t{0};
      if (!reader_->Read(&chunk_)) return FinishCall(Status::OK());
      offset_ = 0;
      DeliverReport(chunk_);
    }
    size_t n = std::min(size, chunk_.data().size() - offset_);
    std::memcpy(data, chunk_.data().data() + offset_, n);
    offset_ += n;
    return n;
  }

  void Cancel() override {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    context_->TryCancel();
    if (frames_) frames_->Abort();
  }

 private:
  // A worker asked for a result channel answers at once: with its offer, or with an empty
  // message (it has none: rows follow on gRPC). The offer is taken here, within Execute, so
  // that the query runs from Execute on, as over gRPC alone. When the channel cannot be
  // reached (a firewall that lets only the gRPC port through, a port mapping that maps only
  // that), the call starts again without it, and so does every later one to this worker; the
  // worker waits for the connection before it runs anything, so nothing ran twice.
  void AcceptOffer() {
    if (!reader_->Read(&chunk_)) {
      (void)FinishCall(Status::OK());  // Read reports how the call ended
      return;
    }
    if (!chunk_.has_result_channel()) return;  // an empty message, or an older worker's rows
    const v1::ResultChannel& offer = chunk_.result_channel();
    auto socket =
        ConnectResultChannel(address_, offer.port(), offer.ticket(), kResultChannelConnectSeconds);
    chunk_.Clear();
    std::lock_guard lock(mutex_);
    if (socket.ok()) {
      frames_ = std::make_unique<FrameReader>(std::move(*socket));
      if (cancelled_) frames_->Abort();
      // The call stays open beside the connection and ends with the worker's status. It is
      // what sees a worker that stopped answering (gRPC's keepalive: a stopped process's
      // kernel still acknowledges TCP's own) or failed: then the reads on the connection are
      // woken.
      watcher_ = std::thread([this] {
        v1::IpcChunk ignored;
        while (reader_->Read(&ignored)) {
        }
        call_status_ = reader_->Finish();
        if (!call_status_.ok()) frames_->Abort();
      });
      return;
    }
    *result_channel_unreachable_ = true;
    context_->TryCancel();
    (void)reader_->Finish();
    reader_.reset();  // before the context it was made with
    context_ = NewContext(options_, /*deadline=*/false);
    if (cancelled_) context_->TryCancel();
    request_.set_result_channel(false);
    reader_ = stub_->Execute(context_.get(), request_);
  }

  Result<size_t> ReadFrames(void* data, size_t size) {
    auto n = frames_->Read(data, size, [this](const v1::IpcChunk& r) { DeliverReport(r); });
    if (n.ok() && *n > 0) return n;
    // The end frame, or a connection that broke: the call's status says how it ended.
    return FinishCall(n.status());
  }

  // Ends the gRPC call (with a result channel, its watcher has the status). `transport` is
  // the result channel's own failure, reported when the worker's status says nothing worse.
  Result<size_t> FinishCall(const Status& transport) {
    finished_ = true;
    grpc::Status status;
    if (watcher_.joinable()) {
      watcher_.join();
      status = call_status_;
    } else {
      status = reader_->Finish();
    }
    Status failed = !status.ok() ? WorkerStatus(address_, status, *context_)
                    : !transport.ok()
                        ? protocol::AtWorker(address_, transport.WithPrefix("result channel: "))
                        : Status::OK();
    if (failed.ok()) return size_t{0};
    error_ =
        cancelled_ ? Status(StatusCode::kCancelled, "worker " + address_ + ": cancelled") : failed;
    return error_;
  }

  v1::Worker::Stub* stub_;
  v1::ExecuteRequest request_;
  ClientOptions options_;
  std::mutex mutex_;  // context_ and frames_ against Cancel from another thread
  std::unique_ptr<grpc::ClientContext> context_;
  std::string address_;
  std::shared_ptr<std::atomic<bool>> result_channel_unreachable_;
  std::unique_ptr<grpc::ClientReader<v1::IpcChunk>> reader_;
  std::unique_ptr<FrameReader> frames_;
  std::thread watcher_;       // with frames_: reads the call to its status
  grpc::Status call_status_;  // the watcher's, read after joining it
  v1::IpcChunk chunk_;
  size_t offset_ = 0;
  bool finished_ = false;
  std::atomic<bool> cancelled_{false};
  Status error_;
};

class GrpcBucketPusher : public protocol::BucketPusher {
 public:
  GrpcBucketPusher(v1::Worker::Stub* stub, const ClientOptions& options, std::string address)
      : context_(NewContext(options, /*deadline=*/false)), address_(std::move(address)) {
    writer_ = stub->PushBuckets(context_.get(), &reply_);
  }
  ~GrpcBucketPusher() override {
    if (!finished_) {
      context_->TryCancel();
      (void)writer_->Finish();
    }
  }
  Status Push(const v1::BucketChunk& chunk) override {
    if (writer_->Write(chunk)) return Status::OK();
    // The stream broke: Finish says why.
    auto finished = Finish();
    return finished.ok() ? Status::Unavailable("worker " + address_ + " stopped reading buckets")
                         : finished.status();
  }
  Result<v1::PushBucketsReply> Finish() override {
    if (finished_) return Status::FailedPrecondition("PushBuckets: already finished");
    finished_ = true;
    writer_->WritesDone();
    grpc::Status status = writer_->Finish();
    if (!status.ok()) return WorkerStatus(address_, status, *context_);
    return reply_;
  }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::string address_;
  v1::PushBucketsReply reply_;
  std::unique_ptr<grpc::ClientWriter<v1::BucketChunk>> writer_;
  bool finished_ = false;
};

class GrpcWorkerClient : public protocol::WorkerClient {
 public:
  GrpcWorkerClient(std::string address, ClientOptions options,
                   std::shared_ptr<grpc::Channel> channel)
      : address_(std::move(address)),
        options_(std::move(options)),
        channel_(std::move(channel)),
        stub_(v1::Worker::NewStub(channel_)) {}

  const std::string& address() const override { return address_; }

  Result<std::unique_ptr<protocol::ResultStream>> Execute(
      const v1::ExecuteRequest& request) override {
    DUX_RETURN_NOT_OK(WaitConnected());
    return std::unique_ptr<protocol::ResultStream>(new GrpcResultStream(
        stub_.get(), request, options_, address_, result_channel_unreachable_));
  }

  Result<int64_t> RegisterTable(const std::string& table, const std::string& lease_id,
                                arrow_ipc::InputStream* ipc) override {
    auto context = NewContext(options_, /*deadline=*/false);
    v1::RegisterTableReply reply;
    auto writer = stub_->RegisterTable(context.get(), &reply);
    v1::RegisterTableChunk chunk;
    chunk.set_table(table);
    chunk.set_lease_id(lease_id);
    std::string buffer(protocol::kIpcChunkBytes, '\0');
    Status read_error;
    bool open = writer->Write(chunk);
    while (open) {
      auto n = ipc->Read(buffer.data(), buffer.size());
      if (!n.ok()) {
        read_error = n.status();
        context->TryCancel();
        break;
      }
      if (*n == 0) break;
      chunk.Clear();
      chunk.set_data(buffer.data(), *n);
      open = writer->Write(chunk);
    }
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    if (!read_error.ok()) return read_error;
    if (!status.ok()) return WorkerStatus(address_, status, *context);
    return reply.rows();
  }

  Result<int64_t> AppendChunk(const v1::AppendChunkRequest& request) override {
    v1::AppendChunkReply reply;
    DUX_RETURN_NOT_OK(Unary(&v1::Worker::Stub::AppendChunk, request, &reply, false));
    return reply.rows();
  }
  Status DropTable(const v1::DropTableRequest& request) override {
    v1::DropTableReply reply;
    return Unary(&v1::Worker::Stub::DropTable, request, &reply);
  }
  Result<std::unique_ptr<protocol::BucketPusher>> PushBuckets() override {
    return std::unique_ptr<protocol::BucketPusher>(
        new GrpcBucketPusher(stub_.get(), options_, address_));
  }
  Result<v1::WriteReply> Write(const v1::WriteRequest& request) override {
    v1::WriteReply reply;
    DUX_RETURN_NOT_OK(Unary(&v1::Worker::Stub::Write, request, &reply, false));
    return reply;
  }
  Result<v1::InsertIntoReply> InsertInto(const v1::InsertIntoRequest& request) override {
    v1::InsertIntoReply reply;
    DUX_RETURN_NOT_OK(Unary(&v1::Worker::Stub::InsertInto, request, &reply, false));
    return reply;
  }
  Result<v1::InfoReply> Info() override {
    v1::InfoReply reply;
    DUX_RETURN_NOT_OK(Unary(&v1::Worker::Stub::Info, v1::InfoRequest(), &reply));
    return reply;
  }
  Status Health() override {
    v1::HealthReply reply;
    return Unary(&v1::Worker::Stub::Health, v1::HealthRequest(), &reply);
  }
  Result<bool> Cancel(const std::string& query_id) override {
    v1::CancelRequest request;
    request.set_query_id(query_id);
    v1::CancelReply reply;
    DUX_RETURN_NOT_OK(Unary(&v1::Worker::Stub::Cancel, request, &reply));
    return reply.found();
  }
  Result<v1::RenewLeaseReply> RenewLease(const v1::RenewLeaseRequest& request) override {
    // A short deadline of its own: a renewal that has not arrived within a second is late
    // for any lease it could keep alive (the coordinator renews at a third of the timeout),
    // and a query that ends waits for its renewals in flight, on a hung worker too.
    ClientOptions quick = options_;
    quick.call_timeout_seconds =
        std::min(options_.call_timeout_seconds > 0 ? options_.call_timeout_seconds
                                                   : kRenewLeaseDeadlineSeconds,
                 kRenewLeaseDeadlineSeconds);
    auto context = NewContext(quick, /*deadline=*/true);
    v1::RenewLeaseReply reply;
    grpc::Status status = stub_->RenewLease(context.get(), request, &reply);
    if (!status.ok()) return WorkerStatus(address_, status, *context);
    return reply;
  }

 private:
  // Starting a stream blocks until its request is sent, and nothing can cancel it meanwhile
  // (the caller has no stream yet). A worker whose process was stopped before the connection
  // was made (its kernel accepts TCP; the HTTP/2 handshake is never answered) would hold it
  // for gRPC's connect timeout (20 s), past any --timeout. So a connection still being made
  // must be ready within the unary deadline (--timeout bounds it), or the worker counts as
  // unreachable. A connection that failed (say, no route) is left to the call, which then
  // fails at once with gRPC's own words.
  Status WaitConnected() {
    if (options_.call_timeout_seconds <= 0) return Status::OK();
    auto deadline = std::chrono::system_clock::now() +
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(
                        std::chrono::duration<double>(options_.call_timeout_seconds));
    for (;;) {
      grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
      if (state == GRPC_CHANNEL_READY || state == GRPC_CHANNEL_TRANSIENT_FAILURE ||
          state == GRPC_CHANNEL_SHUTDOWN) {
        return Status::OK();
      }
      if (!channel_->WaitForStateChange(state, deadline)) {
        return Status(StatusCode::kUnavailable,
                      fmt::format("worker {} is unreachable: not connected within {} s", address_,
                                  options_.call_timeout_seconds));
      }
    }
  }

  // Calls that run queries (Write, InsertInto, AppendChunk) take as long as they take;
  // the others have the unary deadline.
  template <typename Request, typename Reply>
  Status Unary(grpc::Status (v1::Worker::Stub::*method)(grpc::ClientContext*, const Request&,
                                                        Reply*),
               const Request& request, Reply* reply, bool deadline = true) {
    auto context = NewContext(options_, deadline);
    grpc::Status status = (stub_.get()->*method)(context.get(), request, reply);
    if (!status.ok()) return WorkerStatus(address_, status, *context);
    return Status::OK();
  }

  std::string address_;
  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Worker::Stub> stub_;
  // Set once a result channel offered by this worker could not be reached.
  std::shared_ptr<std::atomic<bool>> result_channel_unreachable_ =
      std::make_shared<std::atomic<bool>>(false);
};

}  // namespace

Result<std::shared_ptr<protocol::WorkerClient>> ConnectWorker(const std::string& address,
                                                              const ClientOptions& options) {
  DUX_ASSIGN_OR_RETURN(auto channel, OpenChannel(address, options));
  return std::shared_ptr<protocol::WorkerClient>(
      std::make_shared<GrpcWorkerClient>(address, options, std::move(channel)));
}

Result<std::vector<std::shared_ptr<protocol::WorkerClient>>> ConnectWorkers(
    const std::string& addresses, const ClientOptions& options) {
  std::vector<std::shared_ptr<protocol::WorkerClient>> clients;
  size_t start = 0;
  while (start <= addresses.size()) {
    size_t comma = addresses.find(',', start);
    std::string one =
        addresses.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!one.empty()) {
      auto client = ConnectWorker(one, options);
      if (!client.ok()) return client.status().WithPrefix("--workers: ");
      clients.push_back(std::move(client).value());
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (clients.empty()) return Status::InvalidArgument("--workers: no worker address given");
  return clients;
}

worker::PeerConnector MakePeerConnector(const ClientOptions& options) {
  struct Cache {
    std::mutex mutex;
    std::map<std::string, std::shared_ptr<protocol::WorkerClient>> clients;
  };
  auto cache = std::make_shared<Cache>();
  return [cache,
          options](const std::string& address) -> Result<std::shared_ptr<protocol::WorkerClient>> {
    std::lock_guard lock(cache->mutex);
    auto& client = cache->clients[address];
    if (!client) {
      DUX_ASSIGN_OR_RETURN(client, ConnectWorker(address, options));
    }
    return client;
  };
}

}  // namespace dux::rpc
