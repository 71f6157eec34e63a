#include "dux/rpc/worker_service.h"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "dux/rpc/result_channel.h"
#include "dux/rpc/result_channel_listener.h"
#include "dux/rpc/transport.h"
#include "dux/worker/chunk_queue.h"

namespace dux::rpc {

namespace {

// Sends Execute's messages from a thread of its own, so that DuckDB produces the next chunks
// while the transport (gRPC, or the result channel) copies and sends the previous ones (a few
// messages in flight bound the memory).
class ChunkStreamWriter : public worker::ChunkWriter {
 public:
  /// `send` returns false once the receiver is gone.
  using Send = std::function<bool(const v1::IpcChunk&)>;
  explicit ChunkStreamWriter(Send send) : sender_([this, send = std::move(send)] { Run(send); }) {}
  ~ChunkStreamWriter() override { Finish(); }

  bool Write(std::string chunk) override {
    v1::IpcChunk message;
    message.set_data(std::move(chunk));
    return queue_.Push(std::move(message));
  }
  bool Report(v1::IpcChunk report) override { return queue_.Push(std::move(report)); }

  /// Waits until every message is sent; false if the receiver went away.
  bool Finish() {
    queue_.Close();
    if (sender_.joinable()) sender_.join();
    return !queue_.cancelled();
  }

 private:
  void Run(const Send& send) {
    while (std::optional<v1::IpcChunk> message = queue_.Pop()) {
      if (!send(*message)) {
        queue_.Cancel();  // the producer's next Write fails and the query stops
        return;
      }
    }
  }

  worker::ChunkQueue queue_{4};
  std::thread sender_;  // last: it uses the queue
};

// Reads the IPC bytes of a RegisterTable stream after its first message.
class RegisterInput : public arrow_ipc::InputStream {
 public:
  RegisterInput(grpc::ServerReader<v1::RegisterTableChunk>* in, std::string first)
      : in_(in), buffer_(std::move(first)) {}
  Result<size_t> Read(void* data, size_t size) override {
    while (offset_ == buffer_.size()) {
      v1::RegisterTableChunk chunk;
      if (!in_->Read(&chunk)) return size_t{0};
      buffer_ = std::move(*chunk.mutable_data());
      offset_ = 0;
    }
    size_t n = std::min(size, buffer_.size() - offset_);
    std::memcpy(data, buffer_.data() + offset_, n);
    offset_ += n;
    return n;
  }

 private:
  grpc::ServerReader<v1::RegisterTableChunk>* in_;
  std::string buffer_;
  size_t offset_ = 0;
};

// Cancels a query when its caller goes away (or the server shuts down) while the query still
// computes and so does not notice through a failed write; `on_cancel` also wakes a write
// blocked outside gRPC (the result channel's).
class CancelWatch {
 public:
  CancelWatch(grpc::ServerContext* context, worker::Worker* worker, std::string query_id,
              const std::function<void()>& on_cancel = nullptr)
      : thread_([this, context, worker, id = std::move(query_id), on_cancel] {
          std::unique_lock lock(mu_);
          // Cancelling again until the call ends also covers a query that had not yet
          // registered its id when the cancellation came.
          while (!done_) {
            if (context->IsCancelled()) {
              worker->Cancel(id);
              if (on_cancel) on_cancel();
            }
            cv_.wait_for(lock, std::chrono::milliseconds(50));
          }
        }) {}
  ~CancelWatch() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

template <typename T, typename Reply>
grpc::Status ReplyWith(const Result<T>& result, Reply* reply) {
  if (!result.ok()) return ToGrpc(result.status());
  *reply = *result;
  return grpc::Status::OK;
}

class WorkerService final : public v1::Worker::Service {
 public:
  WorkerService(worker::Worker* worker, std::string token,
                std::unique_ptr<ResultChannelListener> result_channel)
      : worker_(worker), token_(std::move(token)), result_channel_(std::move(result_channel)) {}

  grpc::Status Execute(grpc::ServerContext* context, const v1::ExecuteRequest* request,
                       grpc::ServerWriter<v1::IpcChunk>* writer) override {
    if (auto denied = Admit(context); !denied.ok()) return denied;
    if (request->result_channel()) {
      if (result_channel_) return ExecuteOverResultChannel(context, *request, writer);
      // No channel here: an empty first message says so at once (the caller waits for it).
      if (!writer->Write(v1::IpcChunk())) return ToGrpc(ReceiverGone());
    }
    // gRPC sends the status after the last message: RunFragment writes every chunk first.
    return ToGrpc(RunFragment(context, *request,
                              [writer](const v1::IpcChunk& m) { return writer->Write(m); }));
  }

  grpc::Status RegisterTable(grpc::ServerContext* context,
                             grpc::ServerReader<v1::RegisterTableChunk>* reader,
                             v1::RegisterTableReply* reply) override {
    if (auto denied = Admit(context); !denied.ok()) return denied;
    v1::RegisterTableChunk first;
    if (!reader->Read(&first)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "RegisterTable: empty stream");
    }
    RegisterInput in(reader, std::move(*first.mutable_data()));
    auto rows = worker_->RegisterTable(first.table(), first.lease_id(), &in);
    if (!rows.ok()) return ToGrpc(rows.status());
    reply->set_rows(*rows);
    return grpc::Status::OK;
  }

  grpc::Status AppendChunk(grpc::ServerContext* context, const v1::AppendChunkRequest* request,
                           v1::AppendChunkReply* reply) override {
    if (auto denied = Admit(context); !denied.ok()) return denied;
    auto rows = worker_->AppendChunk(*request);
    if (!rows.ok()) return ToGrpc(rows.status());
    reply->set_rows(*rows);
    return grpc::Status::OK;
  }

  grpc::Status DropTable(grpc::ServerContext* context, const v1::DropTableRequest* request,
                         v1::DropTableReply*) override {
    if (auto denied = Admit(context); !denied.ok()) return denied;
    return ToGrpc(worker_->DropTable(*request));
  }

  grpc::Status PushBuckets(grpc::ServerContext* context,
                           grpc::ServerReader<v1::BucketChunk>* reader,
                           v1::PushBucketsReply* reply) override {
    if (auto denied = Admit(context); !denied.ok()) return denied;
    return ReplyWith(worker_->PushBuckets(
                         [&](v1::BucketChunk* out) -> Result<bool> { return reader->Read(out); }),
                     reply);
  }

  grpc::Status Write(grpc::ServerContext* context, const v1::WriteRequest* request,
                     v1::WriteReply* reply) override {
    if (auto denied = Admit(context); !denied.ok()) return denied;
    CancelWatch watch(context, worker_, request->fragment().query_id());
    return ReplyWith(worker_->Write(*request), reply);
  }

  grpc::Status InsertInto(grpc::ServerContext* context, const v1::InsertIntoRequest* request,
                          v1::InsertIntoReply* reply) override {
    if (auto denied = Admit(context); !denied.ok()) return denied;
    CancelWatch watch(context, worker_, request->fragment().query_id());
    return ReplyWith(worker_->InsertInto(*request), reply);
  }

  grpc::Status Info(grpc::ServerContext* context, const v1::InfoRequest*,
                    v1::InfoReply* reply) override {
    if (auto denied = Admit(context); !denied.ok()) return denied;
    return ReplyWith(worker_->Info(), reply);
  }

  grpc::Status Health(grpc::ServerContext* context, const v1::HealthRequest*,
                      v1::HealthReply*) override {
    return Admit(context);
  }

  grpc::Status Cancel(grpc::ServerContext* context, const v1::CancelRequest* request,
                      v1::CancelReply* reply) override {
    if (auto denied = Admit(context); !denied.ok()) return denied;
    reply->set_found(worker_->Cancel(request->query_id()));
    return grpc::Status::OK;
  }

  grpc::Status RenewLease(grpc::ServerContext* context, const v1::RenewLeaseRequest* request,
                          v1::RenewLeaseReply* reply) override {
    if (auto denied = Admit(context); !denied.ok()) return denied;
    return ReplyWith(worker_->RenewLease(*request), reply);
  }

 private:
  static Status ReceiverGone() { return Status(StatusCode::kCancelled, "the receiver went away"); }

  // Offers the caller a connection of its own, waits for it, and sends the result's frames
  // there; the gRPC stream then carries only its status, sent after the kEnd frame.
  grpc::Status ExecuteOverResultChannel(grpc::ServerContext* context,
                                        const v1::ExecuteRequest& request,
                                        grpc::ServerWriter<v1::IpcChunk>* writer) {
    auto ticket = result_channel_->Offer();
    if (!ticket.ok()) return ToGrpc(ticket.status());
    v1::IpcChunk offer;
    offer.mutable_result_channel()->set_port(result_channel_->port());
    offer.mutable_result_channel()->set_ticket(*ticket);
    bool offered = writer->Write(offer);
    auto connection =
        result_channel_->Claim(*ticket, [&] { return !offered || context->IsCancelled(); });
    if (!connection.ok()) return ToGrpc(connection.status());
    FrameWriter frames(std::move(*connection));
    Status status = RunFragment(
        context, request, [&frames](const v1::IpcChunk& m) { return frames.WriteMessage(m); },
        [&frames] { frames.Abort(); });
    if (status.ok() && !frames.Write(FrameKind::kEnd, std::string())) status = ReceiverGone();
    return ToGrpc(status);
  }

  // Runs `request`'s fragment, its messages handed to `send` from a thread of their own, and
  // waits until every one is sent; cancelled when the caller goes away (`on_cancel` also
  // wakes a send blocked outside gRPC).
  Status RunFragment(grpc::ServerContext* context, const v1::ExecuteRequest& request,
                     ChunkStreamWriter::Send send,
                     const std::function<void()>& on_cancel = nullptr) {
    CancelWatch watch(context, worker_, request.fragment().query_id(), on_cancel);
    ChunkStreamWriter out(std::move(send));
    Status status = worker_->Execute(request, &out);
    if (!out.Finish() && status.ok()) status = ReceiverGone();
    return status;
  }

  // Marks the reply as the worker's own (see kHandledKey) and checks the token.
  grpc::Status Admit(grpc::ServerContext* context) {
    context->AddTrailingMetadata(kHandledKey, "1");
    return Authorize(context, token_);
  }

  worker::Worker* worker_;
  std::string token_;
  std::unique_ptr<ResultChannelListener> result_channel_;  // none: results stay on gRPC
};

}  // namespace

std::unique_ptr<grpc::Service> MakeWorkerService(
    worker::Worker* worker, std::string token,
    std::unique_ptr<ResultChannelListener> result_channel) {
  return std::make_unique<WorkerService>(worker, std::move(token), std::move(result_channel));
}

}  // namespace dux::rpc
