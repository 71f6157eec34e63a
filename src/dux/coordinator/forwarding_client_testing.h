// For tests that inject failures between a coordinator and a real (in-process) worker: a
// protocol::WorkerClient that passes every call on to another; a test overrides the calls it
// breaks.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "dux/protocol/worker_client.h"

namespace dux::coordinator {

class ForwardingClient : public protocol::WorkerClient {
 public:
  explicit ForwardingClient(std::shared_ptr<protocol::WorkerClient> in) : in_(std::move(in)) {}
  const std::string& address() const override { return in_->address(); }
  Result<std::unique_ptr<protocol::ResultStream>> Execute(const v1::ExecuteRequest& r) override {
    return in_->Execute(r);
  }
  Result<int64_t> RegisterTable(const std::string& t, const std::string& lease,
                                arrow_ipc::InputStream* in) override {
    return in_->RegisterTable(t, lease, in);
  }
  Result<int64_t> AppendChunk(const v1::AppendChunkRequest& r) override {
    return in_->AppendChunk(r);
  }
  Status DropTable(const v1::DropTableRequest& r) override { return in_->DropTable(r); }
  Result<std::unique_ptr<protocol::BucketPusher>> PushBuckets() override {
    return in_->PushBuckets();
  }
  Result<v1::WriteReply> Write(const v1::WriteRequest& r) override { return in_->Write(r); }
  Result<v1::InsertIntoReply> InsertInto(const v1::InsertIntoRequest& r) override {
    return in_->InsertInto(r);
  }
  Result<v1::InfoReply> Info() override { return in_->Info(); }
  Status Health() override { return in_->Health(); }
  Result<bool> Cancel(const std::string& id) override { return in_->Cancel(id); }
  Result<v1::RenewLeaseReply> RenewLease(const v1::RenewLeaseRequest& r) override {
    return in_->RenewLease(r);
  }

 protected:
  std::shared_ptr<protocol::WorkerClient> in_;
};

}  // namespace dux::coordinator
