// dux run --server: the thin client of a standing coordinator (docs/serve.md).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>

#include "dux/cli/commands.h"
#include "dux/cli/run_options.h"
#include "dux/cli/stdout_stream.h"
#include "dux/exec/output_target.h"
#include "dux/rpc/coordinator_client.h"

namespace dux::cli {

namespace {

// Options that choose where a pipeline runs, or with what, belong to the server.
Status CheckServedOptions(const RunOptions& o) {
  const ClusterFlags& c = o.cluster;
  if (!c.workers.empty() || !c.registry.empty() || c.local_workers > 0 || !c.pool.empty()) {
    return Status::InvalidArgument(
        "--server ($DUX_SERVER) runs on the server's workers: give --workers, --registry, "
        "--local-workers or --pool to `dux serve`, not with --server");
  }
  if (o.threads > 0 || !o.memory_limit.empty() || c.speculation != "off" ||
      c.broadcast_threshold >= 0 || c.telemetry) {
    return Status::InvalidArgument(
        "--threads, --memory-limit, --speculation, --broadcast-threshold and --telemetry are "
        "the server's: give them to `dux serve`, not with --server");
  }
  return Status::OK();
}

// Writes the chunks it is given to a file it opens (a temporary file, or a device or pipe).
class FileChunks {
 public:
  static Result<FileChunks> Open(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
      return Status::IOError("cannot write \"" + path + "\": " + std::strerror(errno));
    }
    return FileChunks(fd);
  }
  FileChunks(FileChunks&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileChunks(const FileChunks&) = delete;
  FileChunks& operator=(const FileChunks&) = delete;
  FileChunks& operator=(FileChunks&&) = delete;
  ~FileChunks() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Write(const std::string& chunk) {
    return FdOutputStream(fd_).Write(chunk.data(), chunk.size());
  }
  Status Close() {
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0)
      return Status::IOError(std::string("cannot write output: ") + std::strerror(errno));
    return Status::OK();
  }

 private:
  explicit FileChunks(int fd) : fd_(fd) {}
  int fd_;
};

v1::ServedRunRequest RequestOf(const RunOptions& o, std::string text, bool live) {
  v1::ServedRunRequest request;
  request.set_text(std::move(text));
  request.set_format(o.format);
  request.set_arrow_compression(o.arrow_compression);
  request.set_arrow_lossless(o.arrow_lossless);
  request.set_timeout_seconds(o.cluster.timeout);
  request.set_live(live);
  v1::S3Settings* s3 = request.mutable_s3();
  if (o.s3.region) s3->set_region(*o.s3.region);
  if (o.s3.endpoint) s3->set_endpoint(*o.s3.endpoint);
  if (o.s3.url_style) s3->set_url_style(*o.s3.url_style);
  if (o.s3.tls) s3->set_tls(*o.s3.tls);
  if (o.s3.profile) s3->set_profile(*o.s3.profile);
  return request;
}

Status SendAndWrite(const RunOptions& o) {
  DUX_RETURN_NOT_OK(CheckServedOptions(o));
  // The target is checked before anything is sent, as a local run checks it first.
  std::optional<exec::OutputTarget> to;
  if (!o.output.empty() && o.output != "-") {
    DUX_ASSIGN_OR_RETURN(to, exec::ClassifyOutput(o.output));
  }
  DUX_ASSIGN_OR_RETURN(std::string text, ReadPipelineText(o));
  // As a local run: rows stream to a reader as they come, a file gets a complete result.
  const bool live = to ? to->kind == exec::TargetKind::kStream : StdoutType() != S_IFREG;
  v1::ServedRunRequest request = RequestOf(o, std::move(text), live);
  rpc::ClientOptions client{o.cluster.token, o.cluster.tls_ca};
  if (!to) {
    std::cout.flush();
    FdOutputStream out(STDOUT_FILENO);
    return rpc::RunOnServer(o.server, client, request, [&](const std::string& chunk) {
      return out.Write(chunk.data(), chunk.size());
    });
  }
  return exec::WriteOutput(*to,
                           [&](const std::string& path) -> Result<int64_t> {
                             DUX_ASSIGN_OR_RETURN(FileChunks file, FileChunks::Open(path));
                             DUX_RETURN_NOT_OK(rpc::RunOnServer(
                                 o.server, client, request,
                                 [&](const std::string& chunk) { return file.Write(chunk); }));
                             DUX_RETURN_NOT_OK(file.Close());
                             return 0;
                           })
      .status();
}

}  // namespace

Status RunServed(const RunOptions& o) {
  // As a local run: a reader that goes away fails the writes (EPIPE), see StdoutClosed.
  std::signal(SIGPIPE, SIG_IGN);
  Status status = SendAndWrite(o);
  if (!status.ok() && (o.output.empty() || o.output == "-") && StdoutClosed()) {
    status = Status::OK();
  }
  return status;
}

}  // namespace dux::cli
