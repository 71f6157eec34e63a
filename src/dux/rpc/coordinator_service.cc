#include "dux/rpc/coordinator_service.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "dux/protocol/worker_client.h"

namespace dux::rpc {

namespace {

// Output of a run, cut into messages of about protocol::kIpcChunkBytes: the many small
// writes of a formatted result travel as few messages.
class ChunkedOutput : public arrow_ipc::OutputStream {
 public:
  explicit ChunkedOutput(grpc::ServerWriter<v1::ServedOutput>* writer) : writer_(writer) {}

  Status Write(const void* data, size_t size) override {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      size_t n = std::min(size, protocol::kIpcChunkBytes - buffer_.size());
      buffer_.append(p, n);
      p += n;
      size -= n;
      if (buffer_.size() >= protocol::kIpcChunkBytes) DUX_RETURN_NOT_OK(Flush());
    }
    return Status::OK();
  }

  /// Sends what is buffered; Cancelled once the client has gone.
  Status Flush() override {
    if (buffer_.empty()) return Status::OK();
    v1::ServedOutput message;
    message.set_data(std::move(buffer_));
    buffer_.clear();
    if (!writer_->Write(message)) return Status(StatusCode::kCancelled, "the client went away");
    return Status::OK();
  }

 private:
  grpc::ServerWriter<v1::ServedOutput>* writer_;
  std::string buffer_;
};

// Raises `cancelled` when the call's client goes away or the server's shutdown cancels the
// call, while the run computes and so does not notice through a failed write.
class CallWatch {
 public:
  CallWatch(grpc::ServerContext* context, std::atomic<bool>* cancelled)
      : thread_([this, context, cancelled] {
          std::unique_lock lock(mu_);
          while (!done_) {
            if (context->IsCancelled()) *cancelled = true;
            cv_.wait_for(lock, std::chrono::milliseconds(20));
          }
        }) {}
  ~CallWatch() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  CallWatch(const CallWatch&) = delete;
  CallWatch& operator=(const CallWatch&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: it uses the members above
};

class CoordinatorService final : public v1::Coordinator::Service {
 public:
  CoordinatorService(protocol::QueryService* service, std::string token)
      : service_(service), token_(std::move(token)) {}

  grpc::Status Run(grpc::ServerContext* context, const v1::ServedRunRequest* request,
                   grpc::ServerWriter<v1::ServedOutput>* writer) override {
    // Marks the reply as the server's own: the client shows its errors as they are.
    context->AddInitialMetadata(kHandledKey, "1");
    if (auto denied = Authorize(context, token_); !denied.ok()) return denied;
    std::atomic<bool> cancelled{false};
    CallWatch watch(context, &cancelled);
    ChunkedOutput out(writer);
    Status status = service_->Run(*request, &out, &cancelled);
    if (status.ok()) status = out.Flush();
    return ToGrpc(status);
  }

 private:
  protocol::QueryService* service_;
  std::string token_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeCoordinatorService(protocol::QueryService* service,
                                                      std::string token) {
  return std::make_unique<CoordinatorService>(service, std::move(token));
}

}  // namespace dux::rpc
