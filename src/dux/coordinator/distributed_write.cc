#include "dux/coordinator/distributed_write.h"

#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "dux/coordinator/gather.h"
#include "dux/coordinator/runner.h"
#include "dux/exec/arrow_export.h"
#include "dux/exec/output_target.h"
#include "dux/pipeline/proto_mapping.h"
#include "dux/sql/quote.h"

namespace dux::coordinator {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// The coordinator's table of the tasks' replies: (part INTEGER, rows BIGINT, files VARCHAR[]).
constexpr const char* kWrittenTable = "__dux_written";

// How long a cancelled attempt may take to stop before the coordinator stops waiting for it
// (a worker that hangs without dying never answers).
constexpr auto kCancelGrace = std::chrono::seconds(10);

// One attempt's Write call as the result stream the gather reads: the call runs on a thread
// of its own; once it returns, the stream holds one Arrow IPC row (part, rows, files) encoded
// by a small DuckDB of the coordinator's. Cancel makes Read return at once; the destructor
// then cancels the worker's query and waits for the call to end, so that no attempt still
// writes once the gather has returned. The Cancel goes again every 50 ms until the worker
// has found the query (one that arrives before the worker has registered it finds nothing),
// and no more after: the worker interrupts a cancelled query again by itself, and a stream
// of Cancels would take what little CPU a straggling worker has from its stopping. A worker
// that does not answer within kCancelGrace is left behind: the thread, which owns what it
// uses, ends with the call.
class WriteCall : public protocol::ResultStream {
 public:
  WriteCall(std::shared_ptr<protocol::WorkerClient> client, v1::WriteRequest request,
            std::shared_ptr<exec::Database> replies)
      : state_(std::make_shared<State>()) {
    state_->client = std::move(client);
    state_->request = std::move(request);
    state_->replies = std::move(replies);
    thread_ = std::thread([state = state_] { Run(*state); });
  }

  // NOLINTNEXTLINE(bugprone-exception-escape): Cancel's value is read only when ok().
  ~WriteCall() override {
    State& s = *state_;
    auto give_up = Clock::now() + kCancelGrace;
    std::unique_lock lock(s.mu);
    // Nobody reads any more: a call still running is abandoned.
    bool found = false;
    while (!s.done && Clock::now() < give_up) {
      if (!found) {
        lock.unlock();
        auto cancelled = s.client->Cancel(s.request.fragment().query_id());
        found = cancelled.ok() && *cancelled;
        lock.lock();
      }
      s.cv.wait_for(lock, std::chrono::milliseconds(50));
    }
    bool done = s.done;
    lock.unlock();
    if (done) {
      thread_.join();
    } else {
      thread_.detach();
    }
  }

  Result<size_t> Read(void* data, size_t size) override {
    State& s = *state_;
    std::unique_lock lock(s.mu);
    s.cv.wait(lock, [&] { return s.done || s.cancelled; });
    if (s.cancelled) return Status(StatusCode::kCancelled, "the write was cancelled");
    if (!s.status.ok()) return s.status;
    if (!reported_) {
      // The worker's Write reply is its report: the rows it wrote.
      reported_ = true;
      v1::IpcChunk report;
      report.mutable_stats()->set_rows(s.rows);
      lock.unlock();
      DeliverReport(report);
      lock.lock();
    }
    size_t n = std::min(size, s.bytes.size() - offset_);
    std::memcpy(data, s.bytes.data() + offset_, n);
    offset_ += n;
    return n;
  }

  void Cancel() override {
    std::lock_guard lock(state_->mu);
    state_->cancelled = true;
    state_->cv.notify_all();
  }

 private:
  struct State {
    std::shared_ptr<protocol::WorkerClient> client;
    v1::WriteRequest request;
    std::shared_ptr<exec::Database> replies;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    bool cancelled = false;
    Status status;
    int64_t rows = 0;
    std::string bytes;
  };

  static void Run(State& s) {
    auto reply = s.client->Write(s.request);
    Status status = reply.status();
    arrow_ipc::StringOutputStream out;
    if (status.ok()) status = Encode(s, *reply, &out);
    std::lock_guard lock(s.mu);
    s.status = status;
    if (status.ok()) s.rows = reply->rows();
    s.bytes = std::move(out.bytes());
    s.done = true;
    s.cv.notify_all();
  }

  static Status Encode(const State& s, const v1::WriteReply& reply,
                       arrow_ipc::StringOutputStream* out) {
    std::string files = sql::StringList({reply.files().begin(), reply.files().end()});
    DUX_ASSIGN_OR_RETURN(exec::Connection c, exec::Connection::Open(*s.replies));
    return exec::WriteQueryIpc(c,
                               fmt::format("SELECT {}::INTEGER AS part, {}::BIGINT AS rows, "
                                           "{}::VARCHAR[] AS files",
                                           s.request.partition(), reply.rows(), files),
                               out, {})
        .status();
  }

  std::shared_ptr<State> state_;
  size_t offset_ = 0;
  bool reported_ = false;
  std::thread thread_;
};

// `fragment` with `sink` at the end of its pipeline.
Status AddSink(v1::Fragment* fragment, const pipeline::Sink& sink) {
  DUX_ASSIGN_OR_RETURN(pipeline::Script script, pipeline::FromProto(fragment->script()));
  script.pipeline.SetSink(sink);
  fragment->clear_script();
  pipeline::ToProto(script, fragment->mutable_script());
  return Status::OK();
}

std::string Format(const pipeline::Sink& sink) { return exec::PartExtension(sink); }

// "to_parquet: message (line L, col C)".
Status SinkError(const pipeline::Sink& sink, const Status& status) {
  return Status(status.code(),
                std::string(sink.Verb()) + ": " + status.message() + sink.loc.Suffix());
}

}  // namespace

std::string CoordinatorWritesBecause(const Plan& plan, const pipeline::Sink& sink) {
  if (std::holds_alternative<pipeline::InsertIntoSink>(sink.body)) {
    return "insert_into: the coordinator holds the target";
  }
  if (std::holds_alternative<pipeline::ToArrowSink>(sink.body)) {
    return "to_arrow writes one file";
  }
  if (!exec::WritesDirectory(sink)) {
    return "the path names one file; a path without an extension, or ending in \"/\", is a "
           "directory of part files that the workers write";
  }
  if (!plan.coordinator_only.empty()) return plan.coordinator_only;
  if (plan.fold) return "the partial aggregates are finalised on the coordinator";
  if (!plan.finish.empty()) {
    std::string verbs;
    for (const auto& op : plan.finish)
      verbs += (verbs.empty() ? "" : ", ") + std::string(op.Verb());
    return verbs + " after the gather, on the coordinator";
  }
  return "";
}

std::string ExplainWrite(const Plan& plan, const pipeline::Sink& sink) {
  std::string why = CoordinatorWritesBecause(plan, sink);
  if (!why.empty()) {
    return fmt::format("-- and the coordinator writes the result: {} ({})\n", sink.Verb(), why);
  }
  std::string hive;
  if (auto* p = std::get_if<pipeline::ToParquetSink>(&sink.body); p && !p->partition_by.empty()) {
    std::string keys;
    for (const auto& k : p->partition_by) keys += (keys.empty() ? "" : "/") + k + "=...";
    hive = " under " + keys;
  }
  return fmt::format(
      "-- no rows come to the coordinator: each {} writes its own part files ({}) into the "
      "directory \"{}\" as part-<{} index>-<query id>.{}{}, {} (the directory must be missing "
      "or empty)\n",
      plan.hash_stage ? "bucket owner" : "partition's worker", sink.Verb(), exec::SinkPath(sink),
      plan.hash_stage ? "bucket" : "partition", Format(sink), hive,
      exec::IsUrl(exec::SinkPath(sink))
          ? "each object visible once complete"
          : "each under a hidden temporary name renamed when complete");
}

Result<exec::WriteReport> RunAndWrite(exec::Connection& connection, const Plan& plan,
                                      const ClusterOptions& options, const pipeline::Sink& sink) {
  const std::string target = exec::SinkPath(sink);
  if (target.empty()) return SinkError(sink, Status::InvalidArgument("needs a path"));
  Status empty = exec::CheckDirectoryTarget(connection, target);
  if (!empty.ok()) return SinkError(sink, empty);
  std::error_code ec;
  const bool existed = exec::IsUrl(target) || fs::exists(target, ec);
  const Telemetry* t = options.telemetry;
  if (t) {
    t->Emit({"distributed.write.start", {}, {{"format", Format(sink)}, {"path", target}}});
  }
  auto start = Clock::now();
  // The tasks' replies are encoded by a DuckDB of their own (see WriteCall).
  DUX_ASSIGN_OR_RETURN(exec::Database opened, exec::Database::Open("", {{"threads", "1"}}));
  auto replies = std::make_shared<exec::Database>(std::move(opened));
  std::string write_id;
  int n_tasks = 0;
  // The tasks that started a speculative attempt (the gather's worker threads add to it).
  std::mutex speculated_mu;
  std::set<int> speculated;
  LastStageHook write = [&](std::vector<GatherTask>* tasks, const std::string& query_id) {
    write_id = query_id;
    n_tasks = static_cast<int>(tasks->size());
    for (size_t i = 0; i < tasks->size(); ++i) {
      GatherTask& task = (*tasks)[i];
      DUX_RETURN_NOT_OK(AddSink(&task.fragment, sink));
      std::string first_id = task.fragment.query_id();
      std::string speculative_id =
          AttemptFragment(task.fragment, AttemptKind::kSpeculative).query_id();
      auto part = static_cast<int>(i);
      task.start = [first_id, speculative_id, part, &n_tasks, &write_id, &replies, &options,
                    &speculated_mu,
                    &speculated](protocol::WorkerClient& client, const v1::ExecuteRequest& request)
          -> Result<std::unique_ptr<protocol::ResultStream>> {
        std::shared_ptr<protocol::WorkerClient> owner;
        for (const auto& w : options.workers) {
          if (w.get() == &client) owner = w;
        }
        if (!owner) return Status::Internal("a write task ran on a worker the cluster lacks");
        v1::WriteRequest call;
        *call.mutable_fragment() = request.fragment();
        call.set_write_id(write_id);
        const std::string& id = request.fragment().query_id();
        // A speculative attempt runs beside the task's running one: it writes as part
        // n_tasks + part, so that neither attempt touches the other's files, and the loser's
        // are removed once the winner is known.
        bool speculative = id == speculative_id;
        if (speculative) {
          std::lock_guard lock(speculated_mu);
          speculated.insert(part);
        }
        call.set_partition(speculative ? n_tasks + part : part);
        call.set_retry(!speculative && id != first_id);
        return std::unique_ptr<protocol::ResultStream>(
            new WriteCall(owner, std::move(call), replies));
      };
    }
    return Status::OK();
  };
  auto ran = RunAndGather(connection, plan, options, kWrittenTable, write);
  auto fail = [&](const Status& status) -> Status {
    if (!write_id.empty()) exec::RemoveWrite(connection, target, write_id, !existed);
    connection.DropTemporaryTable(kWrittenTable);
    // A worker's message already names the verb; the coordinator's own do not.
    if (status.message().find(sink.Verb()) != std::string::npos) return status;
    return SinkError(sink, status);
  };
  if (!ran.ok()) return fail(ran.status());
  auto parts = connection.QueryText(
      fmt::format("SELECT CAST(part AS VARCHAR), CAST(rows AS VARCHAR) FROM temp.{} ORDER BY part",
                  kWrittenTable));
  if (!parts.ok()) return fail(parts.status());
  auto files = connection.QueryText(fmt::format(
      "SELECT CAST(part AS VARCHAR), file FROM (SELECT part, unnest(files) AS file FROM temp.{}) "
      "ORDER BY file",
      kWrittenTable));
  if (!files.ok()) return fail(files.status());
  connection.DropTemporaryTable(kWrittenTable);
  // Every attempt has ended and each removed its own; this catches what a worker that died
  // mid-write left and no retry had to clean (its task was done elsewhere meanwhile).
  exec::RemoveWriteTemporaries(target, write_id);
  {
    // What the losing attempt of a speculated task completed: the winners' parts are listed.
    std::set<int> won;
    for (const auto& row : *parts) won.insert(std::stoi(row[0].value_or("-1")));
    std::lock_guard lock(speculated_mu);
    for (int part : speculated) {
      int loser = won.count(part) ? n_tasks + part : part;
      exec::RemoveWritePartition(connection, target, write_id, loser);
    }
  }
  exec::WriteReport report;
  std::map<std::string, int64_t> rows_of;  // by part
  std::string kept;                        // when no part wrote a row: the first one's files stay
  for (const auto& row : *parts) {
    int64_t rows = std::stoll(row[1].value_or("0"));
    rows_of[*row[0]] = rows;
    report.rows += rows;
    if (kept.empty()) kept = *row[0];
  }
  for (const auto& row : *files) {
    const std::string& part = *row[0];
    // An empty part file adds nothing but clutter, and as the first CSV file of a directory
    // it would make a reader sniff every column as VARCHAR.
    if (rows_of[part] == 0 && (report.rows > 0 || part != kept)) {
      (void)exec::RemoveWrittenFile(connection, *row[1]);
      continue;
    }
    report.files.push_back(*row[1]);
  }
  if (t) {
    t->Emit({"distributed.write.stop",
             {{"n_files", static_cast<double>(report.files.size())},
              {"rows", static_cast<double>(report.rows)},
              {"duration", std::chrono::duration<double>(Clock::now() - start).count()}},
             {{"format", Format(sink)}, {"path", target}}});
  }
  return report;
}

}  // namespace dux::coordinator
