#include "dux/rpc/coordinator_client.h"

#include "dux/v1/serve.grpc.pb.h"

namespace dux::rpc {

Status RunOnServer(const std::string& address, const ClientOptions& options,
                   const v1::ServedRunRequest& request,
                   const std::function<Status(const std::string&)>& write) {
  auto server = [&](const Status& s) {
    return Status(s.code(), "dux server " + address + ": " + s.message());
  };
  auto channel = OpenChannel(address, options);
  if (!channel.ok()) return server(channel.status());
  auto stub = v1::Coordinator::NewStub(*channel);
  auto context = NewContext(options, /*deadline=*/false);
  auto reader = stub->Run(context.get(), request);
  v1::ServedOutput message;
  Status written;
  while (written.ok() && reader->Read(&message)) written = write(message.data());
  if (!written.ok()) {
    context->TryCancel();
    reader->Finish();
    return written;
  }
  Status status = FromGrpc(reader->Finish());
  if (status.ok() || context->GetServerInitialMetadata().count(kHandledKey) > 0) return status;
  if (status.code() == StatusCode::kUnavailable) {
    return Status(status.code(), "dux server " + address + " is unreachable or went away (" +
                                     status.message() + ")");
  }
  return server(status);
}

namespace {

class QueryServerClient : public protocol::QueryService {
 public:
  QueryServerClient(std::string address, ClientOptions options)
      : address_(std::move(address)), options_(std::move(options)) {}

  Status Run(const v1::ServedRunRequest& request, arrow_ipc::OutputStream* out,
             const std::atomic<bool>* cancelled) override {
    return RunOnServer(address_, options_, request, [&](const std::string& chunk) {
      if (cancelled && cancelled->load()) return Status(StatusCode::kCancelled, "cancelled");
      return out->Write(chunk.data(), chunk.size());
    });
  }

 private:
  std::string address_;
  ClientOptions options_;
};

}  // namespace

std::unique_ptr<protocol::QueryService> ConnectQueryServer(std::string address,
                                                           ClientOptions options) {
  return std::make_unique<QueryServerClient>(std::move(address), std::move(options));
}

}  // namespace dux::rpc
