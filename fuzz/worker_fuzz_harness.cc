#include "worker_fuzz_harness.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "dux/arrow_ipc/streams.h"
#include "dux/exec/arrow_export.h"
#include "dux/exec/duckdb_connection.h"

namespace dux::fuzz {

namespace fs = std::filesystem;

namespace {

constexpr auto kFragmentDeadline = std::chrono::seconds(2);

// Execute's output, checked for the secret; never "goes away".
class CheckingWriter : public worker::ChunkWriter {
 public:
  bool Write(std::string chunk) override {
    if (chunk.find(kSecret) != std::string::npos) {
      Fail("a fragment's result holds the secret from outside --allow-dir");
    }
    return true;
  }
};

// The data of a list of chunks as one stream (RegisterTable's input on the service).
class ChunksInput : public arrow_ipc::InputStream {
 public:
  explicit ChunksInput(const std::vector<v1::RegisterTableChunk>& chunks) : chunks_(chunks) {}
  Result<size_t> Read(void* data, size_t size) override {
    while (index_ < chunks_.size() && offset_ == chunks_[index_].data().size()) {
      ++index_;
      offset_ = 0;
    }
    if (index_ == chunks_.size()) return size_t{0};
    const std::string& bytes = chunks_[index_].data();
    size_t n = std::min(size, bytes.size() - offset_);
    std::memcpy(data, bytes.data() + offset_, n);
    offset_ += n;
    return n;
  }

 private:
  const std::vector<v1::RegisterTableChunk>& chunks_;
  size_t index_ = 0, offset_ = 0;
};

std::set<std::string> List(const fs::path& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.insert(e.path().filename());
  return names;
}

void Check(const Status& status, const char* what) {
  if (!status.ok()) Fail(std::string(what) + ": " + status.ToString());
}

}  // namespace

void Fail(const std::string& message) {
  std::fprintf(stderr, "worker fuzz: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

struct FuzzWorker::Impl {
  fs::path base, allowed, outside;
  std::set<std::string> allowed_files, outside_files, base_files;
  std::unique_ptr<worker::Worker> worker;
  // The deadline of the fragment running now (Watch cancels it when it passes).
  std::mutex mu;
  std::condition_variable cv;
  std::string query_id;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::thread watcher;
};

FuzzWorker& FuzzWorker::Get() {
  static FuzzWorker* worker = new FuzzWorker();  // never destroyed: DuckDB's threads outlive exit
  return *worker;
}

FuzzWorker::FuzzWorker() : impl_(new Impl) {
  // A fixed place, so that the inputs' absolute paths (a confined DuckDB refuses relative
  // ones) mean the same in every run; one process at a time holds it.
  impl_->base = kBaseDirectory;
  int lock = open((impl_->base.string() + ".lock").c_str(), O_CREAT | O_RDWR, 0600);
  if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) != 0) {
    Fail("another worker fuzzer uses " + impl_->base.string());
  }
  fs::remove_all(impl_->base);
  impl_->allowed = impl_->base / "allowed";
  impl_->outside = impl_->base / "outside";
  fs::create_directories(impl_->allowed);
  fs::create_directories(impl_->outside);
  fs::create_directories(impl_->base / "tmp");
  static std::string base_to_remove = impl_->base.string();
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(base_to_remove, ec);
  });
  // The files, written by an unconfined DuckDB of our own.
  {
    auto db = exec::Database::Open();
    Check(db.status(), "open a database");
    auto c = exec::Connection::Open(*db);
    Check(c.status(), "connect");
    const std::string rows =
        "SELECT * FROM (VALUES (1, 'a', 1.5), (2, 'b', NULL), (3, NULL, 3.5)) v(id, s, x)";
    const std::string secret = fmt::format("SELECT 7 AS id, '{}' AS s, 0.5 AS x", kSecret);
    for (const auto& [query, dir, name] :
         {std::tuple{rows, impl_->allowed, "t"}, std::tuple{secret, impl_->outside, "secret"}}) {
      for (const char* format : {"parquet", "csv"}) {
        Check(c->Execute(fmt::format("COPY ({}) TO '{}' (FORMAT {})", query,
                                     (dir / (std::string(name) + "." + format)).string(), format))
                  .status(),
              "write a file");
      }
      arrow_ipc::StringOutputStream ipc;
      Check(exec::WriteQueryIpc(*c, query, &ipc, {}).status(), "write IPC");
      std::ofstream(dir / (std::string(name) + ".arrow"), std::ios::binary) << ipc.bytes();
      if (query == rows) sample_ipc_ = ipc.bytes();
    }
  }
  fs::create_symlink("../outside/secret.parquet", impl_->allowed / "link.parquet");
  fs::create_directory_symlink("../outside", impl_->allowed / "linkdir");
  impl_->allowed_files = List(impl_->allowed);
  impl_->outside_files = List(impl_->outside);
  impl_->base_files = List(impl_->base);
  if (chdir(impl_->allowed.c_str()) != 0) Fail("chdir failed");
  // A PostgreSQL attachment to a host that does not answer gives up quickly.
  setenv("PGCONNECT_TIMEOUT", "1", 1);

  worker::WorkerOptions options;
  options.address = "fuzz-worker";
  options.threads = 1;
  options.memory_limit = "512MB";
  options.temp_directory = (impl_->base / "tmp").string();
  options.allowed_directories = {impl_->allowed.string()};
  auto opened = worker::Worker::Open(options);
  Check(opened.status(), "open the worker");
  impl_->worker = std::move(*opened);
  impl_->watcher = std::thread([this] { Watch(); });
  impl_->watcher.detach();
}

void FuzzWorker::Watch() {
  std::unique_lock lock(impl_->mu);
  for (;;) {
    if (impl_->deadline && std::chrono::steady_clock::now() > *impl_->deadline) {
      // Again every few milliseconds until the call ends, like the service's CancelWatch.
      impl_->worker->Cancel(impl_->query_id);
    }
    impl_->cv.wait_for(lock, std::chrono::milliseconds(50));
  }
}

void FuzzWorker::StartDeadline(const std::string& query_id) {
  std::lock_guard lock(impl_->mu);
  impl_->query_id = query_id;
  impl_->deadline = std::chrono::steady_clock::now() + kFragmentDeadline;
}

void FuzzWorker::StopDeadline() {
  std::lock_guard lock(impl_->mu);
  impl_->deadline.reset();
}

Status FuzzWorker::Execute(const v1::ExecuteRequest& request) {
  StartDeadline(request.fragment().query_id());
  CheckingWriter out;
  Status status = impl_->worker->Execute(request, &out);
  StopDeadline();
  return status;
}

Status FuzzWorker::Write(const v1::WriteRequest& request) {
  StartDeadline(request.fragment().query_id());
  Status status = impl_->worker->Write(request).status();
  StopDeadline();
  return status;
}

Status FuzzWorker::InsertInto(const v1::InsertIntoRequest& request) {
  StartDeadline(request.fragment().query_id());
  Status status = impl_->worker->InsertInto(request).status();
  StopDeadline();
  return status;
}

Status FuzzWorker::AppendChunk(const v1::AppendChunkRequest& request) {
  return impl_->worker->AppendChunk(request).status();
}

Status FuzzWorker::DropTable(const v1::DropTableRequest& request) {
  return impl_->worker->DropTable(request);
}

Status FuzzWorker::PushBuckets(const std::vector<v1::BucketChunk>& chunks) {
  size_t next = 0;
  return impl_->worker
      ->PushBuckets([&](v1::BucketChunk* out) -> Result<bool> {
        if (next == chunks.size()) return false;
        *out = chunks[next++];
        return true;
      })
      .status();
}

Status FuzzWorker::RegisterTable(const std::vector<v1::RegisterTableChunk>& chunks) {
  if (chunks.empty()) return Status::InvalidArgument("RegisterTable: empty stream");
  ChunksInput in(chunks);
  return impl_->worker->RegisterTable(chunks.front().table(), &in).status();
}

bool FuzzWorker::Cancel(const std::string& query_id) { return impl_->worker->Cancel(query_id); }

Status FuzzWorker::Call(const WorkerCall& call) {
  switch (call.call_case()) {
    case WorkerCall::kExecute:
      return Execute(call.execute());
    case WorkerCall::kWrite:
      return Write(call.write());
    case WorkerCall::kInsertInto:
      return InsertInto(call.insert_into());
    case WorkerCall::kAppendChunk:
      return AppendChunk(call.append_chunk());
    case WorkerCall::kDropTable:
      return DropTable(call.drop_table());
    case WorkerCall::kPushBuckets:
      return PushBuckets(
          {call.push_buckets().chunks().begin(), call.push_buckets().chunks().end()});
    case WorkerCall::kRegisterTable:
      return RegisterTable(
          {call.register_table().chunks().begin(), call.register_table().chunks().end()});
    case WorkerCall::kCancel:
      Cancel(call.cancel().query_id());
      return Status::OK();
    case WorkerCall::CALL_NOT_SET:
      break;
  }
  return Status::InvalidArgument("no call");
}

void FuzzWorker::Reset() {
  auto info = impl_->worker->Info();
  Check(info.status(), "Info");
  if (info->running_queries_size() > 0) {
    Fail("query " + info->running_queries(0) + " is still registered after its call ended");
  }
  if (info->tables_size() > 0) {
    v1::DropTableRequest drop;
    drop.set_if_exists(true);
    for (const auto& t : info->tables()) drop.add_more_tables(t);
    Check(impl_->worker->DropTable(drop), "drop every table");
    info = impl_->worker->Info();
    Check(info.status(), "Info");
    if (info->tables_size() > 0) Fail("table \"" + info->tables(0) + "\" survived its drop");
  }
  for (const auto& name : List(impl_->allowed)) {
    if (!impl_->allowed_files.count(name)) {
      std::error_code ec;
      fs::remove_all(impl_->allowed / name, ec);
    }
  }
  if (List(impl_->outside) != impl_->outside_files || List(impl_->base) != impl_->base_files) {
    Fail("a call wrote outside --allow-dir (under " + impl_->base.string() + ")");
  }
}

}  // namespace dux::fuzz
