// Worker-to-coordinator result transfer (issue 4): a real `dux worker` process streams a
// table it holds in memory back through Execute on loopback, over its result channel (the
// default, docs/cluster.md) and, in the same rounds, over gRPC alone; the same number of
// bytes then goes through a plain TCP socket on loopback in this process (one writer thread,
// one reader thread, 1 MiB writes), in the same run. Reports GB/s for both and the ratio,
// the bound no transfer can beat on this machine's cores, the transfer's CPU per GB in the
// worker and in the receiver (what separates it from that bound), and how near to the bound
// the same production written into a loopback socket with no protocol at all comes.
//
// usage: transfer_throughput [ROWS] [RUNS] [ints|mixed]
//   ints: 4 BIGINT columns; mixed: the same and a short VARCHAR.
//   The worker is $DUX_BINARY, or a `dux` beside this program.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "child_process.h"
#include "dux/api/session.h"
#include "dux/arrow_ipc/ipc_reader.h"
#include "dux/exec/arrow_export.h"
#include "dux/exec/arrow_import.h"
#include "dux/pipeline/language.h"
#include "dux/pipeline/proto_mapping.h"
#include "dux/rpc/grpc_worker_client.h"
#include "dux/rpc/local_cluster.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU time of the whole process (every thread), in seconds.
double CpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "transfer_throughput: %s\n", what.c_str());
  std::exit(1);
}

// Drains one Execute stream; returns the bytes received. With `decode`, every batch also
// goes through dux's IPC reader (what the coordinator does with it).
int64_t Drain(dux::protocol::WorkerClient& client, const dux::v1::ExecuteRequest& request,
              bool decode) {
  auto stream = client.Execute(request);
  if (!stream.ok()) Die(stream.status().message());
  int64_t bytes = 0;
  if (!decode) {
    std::vector<char> buffer(1 << 20);
    for (;;) {
      auto n = (*stream)->Read(buffer.data(), buffer.size());
      if (!n.ok()) Die(n.status().message());
      if (*n == 0) return bytes;
      bytes += static_cast<int64_t>(*n);
    }
  }
  struct Counting : dux::arrow_ipc::InputStream {
    dux::protocol::ResultStream* in;
    int64_t bytes = 0;
    dux::Result<size_t> Read(void* d, size_t n) override {
      auto r = in->Read(d, n);
      if (r.ok()) bytes += static_cast<int64_t>(*r);
      return r;
    }
  } counting;
  counting.in = stream->get();
  auto reader = dux::arrow_ipc::Reader::Open(&counting);
  if (!reader.ok()) Die(reader.status().message());
  for (;;) {
    dux::arrow_ipc::ArrayOwner batch;
    auto more = (*reader)->Next(batch.out());
    if (!more.ok()) Die(more.status().message());
    if (!*more) return counting.bytes;
  }
}

// Both ends of a loopback TCP connection: {writing end, reading end}.
std::pair<int, int> LoopbackPair() {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener, 1) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Die("cannot listen on loopback");
  }
  int writing = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(writing, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    Die("cannot connect");
  }
  int reading = accept(listener, nullptr, nullptr);
  close(listener);
  return {writing, reading};
}

void WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n <= 0) Die("write failed");
    data += n;
    size -= static_cast<size_t>(n);
  }
}

// Reads `fd` to its end into `buffer` (1 MiB reads); returns the bytes read, -1 on a failed
// read. Allocates nothing: a forked child of this threaded process may call it.
int64_t ReadToEnd(int fd, std::vector<char>& buffer) {
  int64_t got = 0;
  for (;;) {
    ssize_t n = read(fd, buffer.data(), buffer.size());
    if (n < 0) return -1;
    if (n == 0) return got;
    got += n;
  }
}

// Copies `bytes` through a loopback TCP connection in 1 MiB writes; returns seconds.
double SocketCopy(int64_t bytes) {
  auto start = Clock::now();
  auto [writing, reading] = LoopbackPair();
  std::thread writer([&, fd = writing] {
    std::vector<char> buffer(1 << 20, 'x');
    for (int64_t left = bytes; left > 0;) {
      size_t n = static_cast<size_t>(std::min<int64_t>(left, static_cast<int64_t>(buffer.size())));
      WriteAll(fd, buffer.data(), n);
      left -= static_cast<int64_t>(n);
    }
    close(fd);
  });
  std::vector<char> buffer(1 << 20);
  int64_t got = ReadToEnd(reading, buffer);
  writer.join();
  double seconds = Seconds(start);
  close(reading);
  if (got != bytes) Die("socket copy lost bytes");
  return seconds;
}

// The least a transfer of the stream does here, with no protocol at all: DuckDB producing
// the IPC stream on one thread in this process, written to a loopback TCP socket as it comes,
// and read to its end on another thread. Without `sender_thread`, DuckDB's thread writes to
// the socket itself: pieces of 64 KiB or more straight from the batch's buffers, smaller ones
// gathered into 1 MiB. With it, the stream is cut into 1 MiB pieces handed through a queue of
// 4 to a thread that writes them (the worker's shape: production and the kernel's copy in
// overlap, three threads in all). With `reader_process`, the reader is a process of its own
// (forked before production starts), as the coordinator is to a worker. Returns seconds;
// `bytes` gets the bytes read.
double ProduceIntoSocket(dux::exec::Connection& connection, bool sender_thread, bool reader_process,
                         int64_t* bytes) {
  constexpr size_t kPiece = 1 << 20, kDirect = 64 << 10;
  class SocketOutput : public dux::arrow_ipc::OutputStream {
   public:
    SocketOutput(int fd, bool sender_thread) : fd_(fd) {
      if (sender_thread) sender_ = std::thread([this] { Send(); });
    }
    dux::Status Write(const void* data, size_t size) override {
      const char* bytes = static_cast<const char*>(data);
      if (!sender_.joinable() && size >= kDirect) {
        HandOver();
        WriteAll(fd_, bytes, size);
        return dux::Status::OK();
      }
      while (size > 0) {
        size_t n = std::min(size, kPiece - piece_.size());
        piece_.append(bytes, n);
        bytes += n;
        size -= n;
        if (piece_.size() == kPiece) HandOver();
      }
      return dux::Status::OK();
    }
    void Finish() {
      HandOver();
      if (sender_.joinable()) {
        {
          std::lock_guard lock(mutex_);
          done_ = true;
        }
        changed_.notify_all();
        sender_.join();
      }
      close(fd_);
    }

   private:
    void HandOver() {
      if (piece_.empty()) return;
      if (!sender_.joinable()) {
        WriteAll(fd_, piece_.data(), piece_.size());
        piece_.clear();
        return;
      }
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return queue_.size() < 4; });
      queue_.push_back(std::move(piece_));
      piece_ = std::string();
      piece_.reserve(kPiece);
      changed_.notify_all();
    }
    void Send() {
      for (;;) {
        std::string piece;
        {
          std::unique_lock lock(mutex_);
          changed_.wait(lock, [&] { return done_ || !queue_.empty(); });
          if (queue_.empty()) return;
          piece = std::move(queue_.front());
          queue_.pop_front();
        }
        changed_.notify_all();
        WriteAll(fd_, piece.data(), piece.size());
      }
    }

    int fd_;
    std::string piece_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<std::string> queue_;
    bool done_ = false;
    std::thread sender_;  // last: it uses the members above
  };
  auto start = Clock::now();
  auto [writing, reading] = LoopbackPair();
  int64_t got = 0;
  std::thread reader;
  pid_t child = -1;
  int counted[2] = {-1, -1};  // the child's count of bytes read, to the parent
  if (reader_process) {
    if (pipe(counted) != 0) Die("cannot create a pipe");
    // Allocated before the fork: the child of a process with threads calls only read,
    // write and _exit.
    std::vector<char> buffer(1 << 20);
    child = fork();
    if (child < 0) Die("cannot fork");
    if (child == 0) {
      close(writing);
      int64_t n = ReadToEnd(reading, buffer);
      _exit(n >= 0 && write(counted[1], &n, sizeof n) == sizeof n ? 0 : 1);
    }
    close(counted[1]);
    close(reading);
  } else {
    reader = std::thread([&, fd = reading] {
      std::vector<char> buffer(1 << 20);
      got = ReadToEnd(fd, buffer);
    });
  }
  SocketOutput out(writing, sender_thread);
  if (!dux::exec::WriteQueryIpc(connection, "SELECT * FROM t", &out, {}).ok()) {
    Die("production into a socket failed");
  }
  out.Finish();
  if (reader_process) {
    int status = 0;
    if (read(counted[0], &got, sizeof got) != sizeof got || waitpid(child, &status, 0) != child ||
        status != 0) {
      Die("the reading process failed");
    }
    close(counted[0]);
  } else {
    reader.join();
    close(reading);
  }
  double seconds = Seconds(start);
  *bytes = got;
  return seconds;
}

}  // namespace

// An exception (a malformed argument) ends the benchmark with std::terminate's message.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  int64_t rows = argc > 1 ? std::stoll(argv[1]) : 40'000'000;
  int runs = argc > 2 ? std::stoi(argv[2]) : 5;
  std::string shape = argc > 3 ? argv[3] : "ints";
  if (shape != "ints" && shape != "mixed") Die("the shape is ints or mixed");

  dux::rpc::LocalClusterOptions options;
  options.workers = 1;
  options.threads = 1;
  auto cluster = dux::rpc::LocalCluster::Start(options);
  if (!cluster.ok()) Die(cluster.status().message());
  dux::protocol::WorkerClient& worker = *(*cluster)->clients()[0];

  // The table the worker sends back, built here and registered on the worker (which also
  // times the coordinator-to-worker direction).
  auto session = std::move(dux::Session::Open()).value();
  dux::arrow_ipc::StringOutputStream ipc;
  std::string columns = "range AS a, range * 2 AS b, range % 1000 AS c, hash(range) AS d";
  if (shape == "mixed") columns += ", 'k' || (range % 100)::VARCHAR AS e";
  auto made = dux::exec::WriteQueryIpc(
      session->connection(), "SELECT " + columns + " FROM range(0, " + std::to_string(rows) + ")",
      &ipc, {});
  if (!made.ok()) Die(made.status().message());
  // The ceiling DuckDB itself sets: producing the same IPC stream from the same table on
  // one thread in this process, sent nowhere.
  dux::SessionOptions one_thread;
  one_thread.threads = 1;
  auto local = std::move(dux::Session::Open(one_thread)).value();
  auto loaded = dux::exec::ImportIpc(
      local->connection(), "t", std::make_unique<dux::arrow_ipc::StringInputStream>(ipc.bytes()),
      dux::exec::TableMode::kPersistent);
  if (!loaded.ok()) Die(loaded.status().message());
  // In the same rounds: the same production written into a loopback socket, without any
  // protocol (ProduceIntoSocket).
  std::vector<double> produce, produce_cpu, into_socket, into_socket_queued, into_socket_queued_cpu,
      into_process;
  for (int i = 0; i < runs + 1; ++i) {
    struct Null : dux::arrow_ipc::OutputStream {
      dux::Status Write(const void*, size_t size) override {
        bytes += static_cast<int64_t>(size);
        return dux::Status::OK();
      }
      int64_t bytes = 0;
    } null;
    auto start = Clock::now();
    double cpu = CpuSeconds();
    if (!dux::exec::WriteQueryIpc(local->connection(), "SELECT * FROM t", &null, {}).ok()) {
      Die("local production failed");
    }
    if (i > 0) {
      produce.push_back(Seconds(start));
      produce_cpu.push_back(CpuSeconds() - cpu);
    }
    int64_t direct_bytes = 0, queued_bytes = 0, process_bytes = 0;
    double direct = ProduceIntoSocket(local->connection(), /*sender_thread=*/false,
                                      /*reader_process=*/false, &direct_bytes);
    cpu = CpuSeconds();
    double queued = ProduceIntoSocket(local->connection(), /*sender_thread=*/true,
                                      /*reader_process=*/false, &queued_bytes);
    double queued_cpu = CpuSeconds() - cpu;
    double other_process = ProduceIntoSocket(local->connection(), /*sender_thread=*/true,
                                             /*reader_process=*/true, &process_bytes);
    if (direct_bytes != null.bytes || queued_bytes != null.bytes || process_bytes != null.bytes) {
      Die("the stream written into a socket lost bytes");
    }
    if (i > 0) {
      into_socket.push_back(direct);
      into_socket_queued.push_back(queued);
      into_process.push_back(other_process);
      into_socket_queued_cpu.push_back(queued_cpu);
    }
  }
  local.reset();
  session.reset();
  dux::arrow_ipc::StringInputStream in(ipc.bytes());
  auto register_start = Clock::now();
  auto registered = worker.RegisterTable("t", "", &in);
  if (!registered.ok()) Die(registered.status().message());
  double register_seconds = Seconds(register_start);
  int64_t table_bytes = static_cast<int64_t>(ipc.bytes().size());
  ipc.bytes().clear();
  ipc.bytes().shrink_to_fit();

  auto script = dux::pipeline::ParseScript("from_query(\"SELECT * FROM t\")");
  dux::v1::ExecuteRequest request;
  dux::pipeline::ToProto(*script, request.mutable_fragment()->mutable_script());

  // The same worker read over gRPC alone, without the result channel, in the same rounds.
  dux::rpc::ClientOptions grpc_only;
  grpc_only.result_channel = false;
  auto over_grpc = dux::rpc::ConnectWorker((*cluster)->addresses()[0], grpc_only);
  if (!over_grpc.ok()) Die(over_grpc.status().message());

  std::vector<double> raw_rpc, grpc_rpc, decoded_rpc, socket, socket_cpu, worker_cpu, receiver_cpu,
      grpc_worker_cpu, grpc_receiver_cpu;
  const pid_t worker_pid = (*cluster)->pids()[0];
  int64_t bytes = 0;
  for (int i = 0; i < runs + 1; ++i) {
    request.mutable_fragment()->set_query_id("bench-" + std::to_string(i));
    double worker_before = dux::test::CpuSeconds(worker_pid), receiver_before = CpuSeconds();
    auto start = Clock::now();
    bytes = Drain(worker, request, /*decode=*/false);
    double t_raw = Seconds(start);
    double t_worker = dux::test::CpuSeconds(worker_pid) - worker_before;
    double t_receiver = CpuSeconds() - receiver_before;
    request.mutable_fragment()->set_query_id("bench-grpc-" + std::to_string(i));
    worker_before = dux::test::CpuSeconds(worker_pid);
    receiver_before = CpuSeconds();
    start = Clock::now();
    Drain(**over_grpc, request, /*decode=*/false);
    double t_grpc = Seconds(start);
    double t_grpc_worker = dux::test::CpuSeconds(worker_pid) - worker_before;
    double t_grpc_receiver = CpuSeconds() - receiver_before;
    request.mutable_fragment()->set_query_id("bench-decode-" + std::to_string(i));
    start = Clock::now();
    Drain(worker, request, /*decode=*/true);
    double t_decoded = Seconds(start);
    double cpu = CpuSeconds();
    double t_socket = SocketCopy(bytes);
    cpu = CpuSeconds() - cpu;
    if (i == 0) continue;  // warm-up
    socket_cpu.push_back(cpu);
    worker_cpu.push_back(t_worker);
    receiver_cpu.push_back(t_receiver);
    raw_rpc.push_back(t_raw);
    grpc_rpc.push_back(t_grpc);
    grpc_worker_cpu.push_back(t_grpc_worker);
    grpc_receiver_cpu.push_back(t_grpc_receiver);
    decoded_rpc.push_back(t_decoded);
    socket.push_back(t_socket);
  }
  double gb = static_cast<double>(bytes) / 1e9;
  double rpc_gbps = gb / Median(raw_rpc), decoded_gbps = gb / Median(decoded_rpc),
         socket_gbps = gb / Median(socket);
  std::printf("%s, rows %lld, result stream %.3f GB, median of %d runs\n", shape.c_str(),
              static_cast<long long>(rows), gb, runs);
  std::printf("register (coordinator -> worker, %.3f GB): %.2f GB/s\n", table_bytes / 1e9,
              table_bytes / 1e9 / register_seconds);
  std::printf("worker -> coordinator, bytes received:      %.2f GB/s (%.4f s)\n", rpc_gbps,
              Median(raw_rpc));
  std::printf("  the same over gRPC, no result channel:   %.2f GB/s (%.4f s)\n",
              gb / Median(grpc_rpc), Median(grpc_rpc));
  std::printf("worker -> coordinator, decoded into Arrow:  %.2f GB/s (%.3f s)\n", decoded_gbps,
              Median(decoded_rpc));
  std::printf("raw loopback TCP socket copy:               %.2f GB/s (%.3f s)\n", socket_gbps,
              Median(socket));
  std::printf("DuckDB producing the stream, 1 thread:     %.2f GB/s (%.3f s), %.2f of raw\n",
              gb / Median(produce), Median(produce), gb / Median(produce) / socket_gbps);
  std::printf("ratio transfer / raw loopback: %.2f (decoded: %.2f)\n", rpc_gbps / socket_gbps,
              decoded_gbps / socket_gbps);
  // What no implementation can beat here: a transfer over loopback TCP does at least the
  // socket copy's work (the kernel's copy in and copy out) and DuckDB's production of the
  // stream, on this machine's cores; more DuckDB threads divide production's time, not its
  // CPU.
  double cores = std::max(1U, std::thread::hardware_concurrency());
  double raw_cpu = Median(socket_cpu) / gb, produce_cpu_gb = Median(produce_cpu) / gb;
  double bound = cores / (raw_cpu + produce_cpu_gb);
  std::printf(
      "CPU per GB: socket copy %.3f core-s, DuckDB production %.3f core-s; on %.0f cores no "
      "transfer can exceed %.2f GB/s = %.2f of raw\n",
      raw_cpu, produce_cpu_gb, cores, bound, bound / socket_gbps);
  // Where the transfer's own CPU goes (its bytes received, not decoded): the worker process
  // (its DuckDB producing the stream, the IPC framing, gRPC and the kernel's copy in) and
  // this process (gRPC and the kernel's copy out), against the bound's two parts.
  double worker_gb = Median(worker_cpu) / gb, receiver_gb = Median(receiver_cpu) / gb;
  std::printf(
      "transfer CPU per GB: worker %.3f core-s (production alone %.3f), receiver %.3f core-s; "
      "%.3f in all, %.2f times the bound's %.3f\n",
      worker_gb, produce_cpu_gb, receiver_gb, worker_gb + receiver_gb,
      (worker_gb + receiver_gb) / (raw_cpu + produce_cpu_gb), raw_cpu + produce_cpu_gb);
  std::printf("  over gRPC alone: worker %.3f core-s, receiver %.3f core-s\n",
              Median(grpc_worker_cpu) / gb, Median(grpc_receiver_cpu) / gb);
  std::printf("transfer / bound: %.2f with the result channel, %.2f over gRPC alone\n",
              rpc_gbps / bound, gb / Median(grpc_rpc) / bound);
  // How near any implementation of this shape comes to the bound here: the bound spreads
  // the CPU over the cores perfectly; a worker of one DuckDB thread cannot.
  std::printf(
      "no protocol, DuckDB's thread writing to a loopback socket in this process: %.2f GB/s = "
      "%.2f of the bound; through a sender thread: %.2f GB/s = %.2f of the bound, %.3f core-s "
      "per GB; through a sender thread, read by another process: %.2f GB/s = %.2f of the "
      "bound\n",
      gb / Median(into_socket), gb / Median(into_socket) / bound, gb / Median(into_socket_queued),
      gb / Median(into_socket_queued) / bound, Median(into_socket_queued_cpu) / gb,
      gb / Median(into_process), gb / Median(into_process) / bound);
  return 0;
}
