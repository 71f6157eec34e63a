// An S3-compatible server for tests: s3rver (npm, pinned by scripts/setup.sh) on a free
// 127.0.0.1 port, storing into a temporary directory, stopped and removed with its owner.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "child_process.h"

namespace dux::test {

/// One s3rver process owned by the test, started through s3rver_with_whole_puts.js (a read
/// sees an object old or new and whole, as on S3). Its one account has the access key id "S3RVER"
/// (others get 403 InvalidAccessKeyId). What it does not do: check SigV4 signatures, honour
/// If-Match, abort multipart uploads (405), answer "bytes=0-0" or suffix ranges
/// ("bytes=-N") correctly, survive completing an upload with a part never uploaded (it
/// crashes). It needs the x-amz-content-sha256 header, which dux always sends. The server
/// dies with the test process (parent-death signal). Not thread-safe (the server is: any
/// number of clients may use it at once).
class S3Server {
 public:
  /// Starts a server with `buckets` created; nullptr with `*why` set when node or s3rver
  /// is missing (s3rver comes from $DUX_S3RVER, else the node_modules scripts/setup.sh
  /// fills) or the server does not come up (its log is in `*why`).
  static std::unique_ptr<S3Server> Start(const std::vector<std::string>& buckets, std::string* why);
  /// Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its directory.
  ~S3Server();
  S3Server(const S3Server&) = delete;
  S3Server& operator=(const S3Server&) = delete;

  int port() const { return port_; }
  /// "http://127.0.0.1:PORT", for AWS_ENDPOINT_URL or Config::endpoint.
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// Where s3rver keeps the buckets (one folder each).
  std::filesystem::path data_directory() const { return dir_ / "data"; }
  /// The server's output so far (for a failing test's message).
  std::string Log() const;
  /// Points this process's AWS settings (and so its children's) at this server: key id
  /// S3RVER with `secret` (the server checks no signature), us-east-1, this endpoint, and
  /// AWS files that do not exist, so that ~/.aws is never read.
  void ExportAwsEnvironment(const std::string& secret = "S3RVER") const;

 private:
  S3Server() = default;
  std::filesystem::path dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace dux::test
