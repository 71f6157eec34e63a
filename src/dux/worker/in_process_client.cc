#include "dux/worker/in_process_client.h"

#include <cstring>
#include <map>
#include <thread>

#include "dux/worker/chunk_queue.h"

namespace dux::worker {

namespace {

// Execute's result: the worker runs on a thread of its own and hands chunks over through a
// ChunkQueue.
class InProcessStream : public protocol::ResultStream, public ChunkWriter {
 public:
  InProcessStream(Worker* worker, const v1::ExecuteRequest& request, std::string address)
      : worker_(worker), query_id_(request.fragment().query_id()), address_(std::move(address)) {
    thread_ = std::thread([this, worker, request] {
      // Written before Close, which the reader waits for: the queue's lock orders the two.
      status_ = protocol::AtWorker(address_, worker->Execute(request, this));
      queue_.Close();
    });
  }
  ~InProcessStream() override {
    Cancel();
    thread_.join();
  }

  bool Write(std::string chunk) override {
    v1::IpcChunk message;
    message.set_data(std::move(chunk));
    return queue_.Push(std::move(message));
  }
  bool Report(v1::IpcChunk report) override { return queue_.Push(std::move(report)); }

  Result<size_t> Read(void* data, size_t size) override {
    while (offset_ == current_.size()) {
      std::optional<v1::IpcChunk> next = queue_.Pop();
      if (!next) {
        if (queue_.cancelled()) {
          return Status(StatusCode::kCancelled, "worker " + address_ + ": cancelled");
        }
        if (!status_.ok()) return status_;
        return size_t{0};
      }
      DeliverReport(*next);
      current_ = std::move(*next->mutable_data());
      offset_ = 0;
    }
    size_t n = std::min(size, current_.size() - offset_);
    std::memcpy(data, current_.data() + offset_, n);
    offset_ += n;
    return n;
  }

  // Like a gRPC cancellation: a query that is still computing (not writing) stops too.
  void Cancel() override {
    if (queue_.Cancel()) worker_->Cancel(query_id_);
  }

 private:
  Worker* worker_;
  std::string query_id_;
  std::string address_;
  ChunkQueue queue_{4};
  Status status_;
  std::string current_;  // the chunk being read, from `offset_` on
  size_t offset_ = 0;
  std::thread thread_;  // last: it uses everything above
};

class InProcessPusher : public protocol::BucketPusher {
 public:
  InProcessPusher(Worker* worker, const std::string& address)
      : worker_(worker), address_(address) {}
  Status Push(const v1::BucketChunk& chunk) override {
    chunks_.push_back(chunk);
    return Status::OK();
  }
  Result<v1::PushBucketsReply> Finish() override {
    size_t next = 0;
    auto reply = worker_->PushBuckets([&](v1::BucketChunk* out) -> Result<bool> {
      if (next == chunks_.size()) return false;
      *out = chunks_[next++];
      return true;
    });
    if (!reply.ok()) return protocol::AtWorker(address_, reply.status());
    return reply;
  }

 private:
  Worker* worker_;
  std::string address_;
  std::vector<v1::BucketChunk> chunks_;
};

class InProcessClient : public protocol::WorkerClient {
 public:
  InProcessClient(Worker* worker, std::string address)
      : worker_(worker), address_(std::move(address)) {}

  const std::string& address() const override { return address_; }

  Result<std::unique_ptr<protocol::ResultStream>> Execute(
      const v1::ExecuteRequest& request) override {
    return std::unique_ptr<protocol::ResultStream>(new InProcessStream(worker_, request, address_));
  }
  Result<int64_t> RegisterTable(const std::string& table, const std::string& lease_id,
                                arrow_ipc::InputStream* ipc) override {
    return At(worker_->RegisterTable(table, lease_id, ipc));
  }
  Result<int64_t> AppendChunk(const v1::AppendChunkRequest& request) override {
    return At(worker_->AppendChunk(request));
  }
  Status DropTable(const v1::DropTableRequest& request) override {
    return protocol::AtWorker(address_, worker_->DropTable(request));
  }
  Result<std::unique_ptr<protocol::BucketPusher>> PushBuckets() override {
    return std::unique_ptr<protocol::BucketPusher>(new InProcessPusher(worker_, address_));
  }
  Result<v1::WriteReply> Write(const v1::WriteRequest& request) override {
    return At(worker_->Write(request));
  }
  Result<v1::InsertIntoReply> InsertInto(const v1::InsertIntoRequest& request) override {
    return At(worker_->InsertInto(request));
  }
  Result<v1::InfoReply> Info() override { return At(worker_->Info()); }
  Status Health() override { return Status::OK(); }
  Result<bool> Cancel(const std::string& query_id) override { return worker_->Cancel(query_id); }
  Result<v1::RenewLeaseReply> RenewLease(const v1::RenewLeaseRequest& request) override {
    return At(worker_->RenewLease(request));
  }

 private:
  template <typename T>
  Result<T> At(Result<T> r) {
    if (!r.ok()) return protocol::AtWorker(address_, r.status());
    return r;
  }
  Worker* worker_;
  std::string address_;
};

}  // namespace

std::shared_ptr<protocol::WorkerClient> MakeInProcessClient(Worker* worker, std::string address) {
  return std::make_shared<InProcessClient>(worker, std::move(address));
}

void ConnectInProcessPeers(const std::vector<std::pair<Worker*, std::string>>& workers) {
  auto clients = std::make_shared<std::map<std::string, std::shared_ptr<protocol::WorkerClient>>>();
  for (const auto& [w, address] : workers) (*clients)[address] = MakeInProcessClient(w, address);
  for (const auto& [w, address] : workers) {
    w->SetAddress(address);
    w->SetPeerConnector(
        [clients](const std::string& peer) -> Result<std::shared_ptr<protocol::WorkerClient>> {
          auto it = clients->find(peer);
          if (it == clients->end())
            return Status::NotFound("no worker " + peer + " in this process");
          return it->second;
        });
  }
}

}  // namespace dux::worker
