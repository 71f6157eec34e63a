#include "s3_server.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "free_port.h"
#include "subprocess.h"

namespace dux::test {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

fs::path S3rverScript() {
  if (const char* path = getenv("DUX_S3RVER")) return path;
  return fs::path(DUX_NODE_MODULES) / "s3rver" / "bin" / "s3rver.js";
}

}  // namespace

std::unique_ptr<S3Server> S3Server::Start(const std::vector<std::string>& buckets,
                                          std::string* why) {
  const fs::path script = S3rverScript();
  std::error_code ec;
  if (!fs::exists(script, ec)) {
    *why = "s3rver is not installed at " + script.string() + ": run scripts/setup.sh";
    return nullptr;
  }
  std::string tmpl = (fs::temp_directory_path() / "dux-s3rver-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    *why = std::string("cannot create a temporary directory: ") + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<S3Server> server(new S3Server());
  server->dir_ = tmpl;
  fs::create_directories(server->data_directory());

  for (int attempt = 0; attempt < 3; ++attempt) {
    server->port_ = FreePort();
    // --openssl-legacy-provider: s3rver 3.7.1's listing pagination uses a cipher that Node
    // 17+ only has through the legacy provider.
    // The launcher runs s3rver with PUTs that answer once the object is whole
    // (s3rver_with_whole_puts.js says why).
    std::vector<std::string> argv = {"node",
                                     "--openssl-legacy-provider",
                                     DUX_S3RVER_LAUNCHER,
                                     script.string(),
                                     "--silent",
                                     "-d",
                                     server->data_directory().string(),
                                     "-a",
                                     "127.0.0.1",
                                     "-p",
                                     std::to_string(server->port_)};
    for (const std::string& bucket : buckets) {
      argv.push_back("--configure-bucket");
      argv.push_back(bucket);
    }
    // Output goes to files, never to a pipe nobody reads once the server is up.
    ChildOptions options;
    options.stdout_file = server->dir_ / "s3rver.out";
    options.stderr_file = server->dir_ / "s3rver.log";
    std::string error;
    server->process_ = ChildProcess::Start(argv, options, &error);
    if (!server->process_) {
      *why = "cannot start node: " + error;
      return nullptr;
    }
    // s3rver prints "S3rver listening on 127.0.0.1:PORT" once it accepts connections.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (ReadFile(server->dir_ / "s3rver.out").find("listening on") != std::string::npos) {
        return server;
      }
      if (server->process_->Wait(milliseconds(50))) break;  // it exited
    }
    const std::string log = server->Log();
    server->process_.reset();
    if (log.find("EADDRINUSE") == std::string::npos) {
      *why = "s3rver did not start: " + log;
      return nullptr;
    }
  }
  *why = "s3rver found no free port: " + server->Log();
  return nullptr;
}

S3Server::~S3Server() {
  if (process_) {
    process_->Signal(SIGTERM);
    (void)process_->Wait(milliseconds(5000));
    process_.reset();  // SIGKILL if it is still running
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

std::string S3Server::Log() const {
  return ReadFile(dir_ / "s3rver.out") + ReadFile(dir_ / "s3rver.log");
}

void S3Server::ExportAwsEnvironment(const std::string& secret) const {
  setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
  setenv("AWS_SECRET_ACCESS_KEY", secret.c_str(), 1);
  setenv("AWS_REGION", "us-east-1", 1);
  setenv("AWS_ENDPOINT_URL", endpoint().c_str(), 1);
  setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
}

}  // namespace dux::test
