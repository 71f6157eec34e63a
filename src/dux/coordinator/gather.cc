#include "dux/coordinator/gather.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>

#include "dux/arrow_ipc/arrow_c.h"
#include "dux/arrow_ipc/ipc_reader.h"
#include "dux/common/library_callback.h"
#include "dux/coordinator/speculation.h"
#include "dux/exec/arrow_import.h"
#include "dux/exec/arrow_stream.h"
#include "dux/sql/quote.h"

namespace dux::coordinator {

using Clock = std::chrono::steady_clock;

namespace {

// partition.progress events per partition attempt: at most one per this interval.
constexpr auto kProgressInterval = std::chrono::milliseconds(250);

// With speculation on, an idle worker looks for stragglers this often (a straggler becomes one
// by the passing of time, which notifies nobody).
constexpr auto kSpeculationPoll = std::chrono::milliseconds(50);

const char* AttemptKindName(AttemptKind kind) {
  switch (kind) {
    case AttemptKind::kFirst:
      return "first";
    case AttemptKind::kRetry:
      return "retry";
    case AttemptKind::kSpeculative:
      return "speculative";
  }
  return "first";
}

// Counts the bytes a stream delivers and keeps its own error, which is the root cause when
// the IPC reader then fails.
class CountingInput : public arrow_ipc::InputStream {
 public:
  explicit CountingInput(protocol::ResultStream* in) : in_(in) {}
  Result<size_t> Read(void* data, size_t size) override {
    auto n = in_->Read(data, size);
    if (!n.ok()) {
      error_ = n.status();
      return n;
    }
    bytes_ += static_cast<int64_t>(*n);
    return n;
  }
  int64_t bytes() const { return bytes_; }
  const Status& error() const { return error_; }

 private:
  protocol::ResultStream* in_;
  int64_t bytes_ = 0;
  Status error_;
};

bool SameSchema(const ArrowSchema& a, const ArrowSchema& b) {
  auto same = [](const char* x, const char* y) {
    return std::string(x ? x : "") == std::string(y ? y : "");
  };
  if (!same(a.format, b.format) || !same(a.name, b.name) || a.n_children != b.n_children) {
    return false;
  }
  if ((a.dictionary == nullptr) != (b.dictionary == nullptr)) return false;
  if (a.dictionary && !SameSchema(*a.dictionary, *b.dictionary)) return false;
  for (int64_t i = 0; i < a.n_children; ++i) {
    if (!SameSchema(*a.children[i], *b.children[i])) return false;
  }
  return true;
}

std::string ColumnList(const ArrowSchema& s) {
  std::string out;
  for (int64_t i = 0; i < s.n_children; ++i) {
    out += fmt::format("{}{} {}", i ? ", " : "", s.children[i]->name ? s.children[i]->name : "",
                       s.children[i]->format ? s.children[i]->format : "");
  }
  return "(" + out + ")";
}

}  // namespace

Status InStage(const Status& s, const std::string& stage, const std::string& task) {
  if (s.code() != StatusCode::kResourceExhausted) return s;
  return Status(s.code(), fmt::format("{} (stage {}, {})", s.message(), stage, task));
}

namespace {

// Failures that say something about the worker, not the pipeline: another worker may
// succeed. Mistakes in the pipeline (InvalidArgument, ...) would fail anywhere, and a
// cancellation or the deadline ends the query.
bool WorkerFault(const Status& s) {
  switch (s.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
    case StatusCode::kUnknown:
    case StatusCode::kAborted:
    case StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

// ---- the attempt column ------------------------------------------------------------------
// A gathered batch is the worker's struct array plus one INTEGER child, constant per batch.

struct TaggedSchema {
  arrow_ipc::SchemaOwner columns;  // a copy of the workers' schema
  ArrowSchema tag{};
  std::vector<ArrowSchema*> children;
};

void ReleaseTaggedSchema(ArrowSchema* s) {
  delete static_cast<TaggedSchema*>(s->private_data);
  s->release = nullptr;
}

// The attempt column's release: it owns nothing of its own.
void MarkSchemaReleased(ArrowSchema* s) { s->release = nullptr; }
void MarkArrayReleased(ArrowArray* a) { a->release = nullptr; }

void ExportTaggedSchema(const ArrowSchema& columns, ArrowSchema* out) {
  auto* t = new TaggedSchema;
  arrow_ipc::CopySchema(columns, t->columns.out());
  t->tag.format = "i";
  t->tag.name = kAttemptColumn;
  t->tag.flags = 0;
  t->tag.release = LibraryCallback<MarkSchemaReleased>::Call;
  for (int64_t i = 0; i < t->columns->n_children; ++i) {
    t->children.push_back(t->columns->children[i]);
  }
  t->children.push_back(&t->tag);
  *out = ArrowSchema{};
  out->format = "+s";
  out->name = "";
  out->metadata = t->columns->metadata;
  out->n_children = static_cast<int64_t>(t->children.size());
  out->children = t->children.data();
  out->release = LibraryCallback<ReleaseTaggedSchema>::Call;
  out->private_data = t;
}

struct TaggedArray {
  arrow_ipc::ArrayOwner columns;
  std::vector<int32_t> tags;
  const void* tag_buffers[2] = {nullptr, nullptr};
  ArrowArray tag{};
  std::vector<ArrowArray*> children;
};

void ReleaseTaggedArray(ArrowArray* a) {
  delete static_cast<TaggedArray*>(a->private_data);  // releases the worker's batch
  a->release = nullptr;
}

void ExportTaggedArray(arrow_ipc::ArrayOwner batch, int32_t attempt, ArrowArray* out) {
  auto* t = new TaggedArray;
  t->columns = std::move(batch);
  const ArrowArray& c = *t->columns.get();
  // A struct's offset applies to its children, so the tags cover offset + length rows.
  t->tags.assign(static_cast<size_t>(c.offset + c.length), attempt);
  t->tag_buffers[1] = t->tags.data();
  t->tag.length = c.offset + c.length;
  t->tag.n_buffers = 2;
  t->tag.buffers = t->tag_buffers;
  t->tag.release = LibraryCallback<MarkArrayReleased>::Call;
  for (int64_t i = 0; i < c.n_children; ++i) t->children.push_back(c.children[i]);
  t->children.push_back(&t->tag);
  *out = ArrowArray{};
  out->length = c.length;
  out->null_count = c.null_count;
  out->offset = c.offset;
  out->n_buffers = c.n_buffers;
  out->buffers = c.buffers;
  out->n_children = static_cast<int64_t>(t->children.size());
  out->children = t->children.data();
  out->release = LibraryCallback<ReleaseTaggedArray>::Call;
  out->private_data = t;
}

// Runs the tasks on the workers and hands the batches to one consumer (DuckDB pulling an
// ArrowArrayStream) in arrival order. One thread per worker pulls the next task: first
// those meant for its worker, then any other that may move (so an idle worker takes over
// queued work); a task retried after its worker failed goes back to the queue for the
// others. The first final failure wins: it cancels every other call and is what the
// consumer reports. With speculation, a worker that finds no queued task starts a second
// attempt of a straggler (StragglerWatch); the first attempt of a task to complete wins,
// the other is cancelled and its rows are deleted with the failed attempts' ones.
class Gather {
 public:
  /// `discardable`: the rows of a failed attempt can be deleted after the import, so a task
  /// may be retried after it delivered rows (not so when they are folded on arrival).
  Gather(std::vector<GatherTask> tasks, const ClusterOptions& options, std::string stage,
         bool discardable)
      : tasks_(std::move(tasks)),
        options_(options),
        stage_(std::move(stage)),
        discardable_(discardable),
        // Two attempts of a task may run at once only when the loser's rows can be deleted.
        speculate_(options.speculation.enabled && discardable && options.workers.size() > 1),
        watch_(options.speculation, tasks_.size()) {
    size_t n = tasks_.size();
    streams_.assign(n * kAttemptKinds, nullptr);
    attempt_worker_.assign(n * kAttemptKinds, SIZE_MAX);
    attempt_live_.assign(n * kAttemptKinds, false);
    state_.assign(n, State::kPending);
    retried_.assign(n, false);
    speculated_.assign(n, false);
    running_.assign(n, 0);
    first_failure_.resize(n);
    for (const auto& t : tasks_) {
      worker_.push_back(t.worker);
      completed_.push_back(t.fragment);
    }
    unfinished_ = n;
    if (options.timeout_seconds > 0) {
      deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(options.timeout_seconds));
    }
    live_workers_ = options.workers.size();
    busy_.assign(live_workers_, false);
    lost_.assign(live_workers_, false);
    for (size_t w = 0; w < options.workers.size(); ++w) {
      threads_.emplace_back([this, w] { RunWorker(w); });
    }
  }

  ~Gather() {
    Fail(Status(StatusCode::kCancelled, "the query was abandoned"));
    for (auto& t : threads_) t.join();
  }

  /// Blocks until some worker has sent its schema (or the gather failed).
  Result<const ArrowSchema*> WaitSchema() {
    std::unique_lock lock(mu_);
    while (!schema_.valid() && error_.ok() && unfinished_ > 0) WaitLocked(lock);
    if (!error_.ok()) return error_;
    if (!schema_.valid()) return Status::Internal("no worker returned a schema");
    return schema_.get();
  }

  /// The next batch in arrival order, with its attempt column; false once every task has
  /// finished.
  Result<bool> Next(ArrowArray* out) {
    std::unique_lock lock(mu_);
    while (queue_.empty() && error_.ok() && unfinished_ > 0) WaitLocked(lock);
    if (!error_.ok()) return error_;
    if (queue_.empty()) return false;
    ExportTaggedArray(std::move(queue_.front().first), queue_.front().second, out);
    queue_.pop_front();
    cv_.notify_all();
    return true;
  }

  Status error() {
    std::lock_guard lock(mu_);
    return error_;
  }
  /// Attempts that delivered rows and then failed: their rows must go.
  std::vector<int32_t> abandoned() {
    std::lock_guard lock(mu_);
    return abandoned_;
  }
  /// What the gather delivered: `rows`, and which attempt of each task completed, where.
  GatherResult Report(int64_t rows) {
    std::lock_guard lock(mu_);
    GatherResult result{rows, ipc_bytes_.load(), completed_, completed_on_};
    result.speculated = speculated_count_;
    result.speculation_won = speculation_won_;
    return result;
  }

 private:
  static constexpr size_t kMaxQueued = 64;

  // Waits for the producers, at most 100 ms at a time, so that an interruption or the
  // deadline is noticed even while no worker sends anything.
  void WaitLocked(std::unique_lock<std::mutex>& lock) {
    auto until = Clock::now() + std::chrono::milliseconds(100);
    if (deadline_ != Clock::time_point{}) until = std::min(until, deadline_);
    if (cv_.wait_until(lock, until) != std::cv_status::timeout) return;
    if (options_.interrupted && options_.interrupted->load()) {
      FailLocked(Status(StatusCode::kCancelled, "interrupted"));
      return;
    }
    if (deadline_ == Clock::time_point{} || Clock::now() < deadline_) return;
    std::vector<size_t> running;
    for (size_t i = 0; i < state_.size(); ++i) {
      if (state_[i] == State::kRunning &&
          std::find(running.begin(), running.end(), worker_[i]) == running.end()) {
        running.push_back(worker_[i]);
      }
    }
    if (running.empty()) {
      FailLocked(Status(StatusCode::kDeadlineExceeded,
                        fmt::format("no worker finished within {} s", options_.timeout_seconds)));
      return;
    }
    size_t named = SilentWorker(running, lock);
    if (!error_.ok()) return;
    FailLocked(Status(StatusCode::kDeadlineExceeded,
                      fmt::format("worker {} did not answer within {} s",
                                  options_.workers[named]->address(), options_.timeout_seconds)));
  }

  // Of the workers still running a task at the deadline, the one to blame: a worker waiting
  // on a stopped peer (a producer pushing buckets to a stopped owner) is as late as the
  // stopped one, but answers a health check; so every running worker is asked at once
  // (each call bounded by the short-call deadline) and the first that does not answer is
  // named, else the first running one. Called with `lock` held; releases it while asking.
  size_t SilentWorker(const std::vector<size_t>& running, std::unique_lock<std::mutex>& lock) {
    lock.unlock();
    std::vector<std::future<Status>> health;
    health.reserve(running.size());
    for (size_t w : running) {
      health.push_back(
          std::async(std::launch::async, [this, w] { return options_.workers[w]->Health(); }));
    }
    size_t named = SIZE_MAX;
    for (size_t k = 0; k < running.size(); ++k) {
      if (!health[k].get().ok() && named == SIZE_MAX) named = running[k];
    }
    if (named == SIZE_MAX) named = running.front();
    lock.lock();
    return named;
  }

  // Reads what follows the end of the IPC stream: the worker's stats (a report, see
  // protocol::ResultStream) and the call's final status.
  static Status Drain(CountingInput* in) {
    char rest[4096];
    for (;;) {
      auto n = in->Read(rest, sizeof rest);
      if (!n.ok()) return n.status();
      if (*n == 0) return Status::OK();
    }
  }

  const std::string& AddressLocked(size_t task) const {
    return options_.workers[worker_[task]]->address();
  }

  void Fail(const Status& status) {
    std::lock_guard lock(mu_);
    FailLocked(status);
  }

  void FailLocked(const Status& status) {
    if (error_.ok() && unfinished_ > 0) error_ = status;
    for (protocol::ResultStream* s : streams_) {
      if (s) s->Cancel();
    }
    cv_.notify_all();
  }

  // The next task for worker `w`, and the kind of attempt it starts: its own first, then one
  // that may move, did not already fail on `w` and waits (its worker is busy or lost, or it
  // is a retry); with none queued, a second attempt of the longest-running straggler.
  size_t NextTaskLocked(size_t w, AttemptKind* kind) {
    size_t other = SIZE_MAX;
    for (size_t i = 0; i < state_.size(); ++i) {
      if (state_[i] != State::kPending) continue;
      if (worker_[i] == w && !retried_[i]) {
        *kind = AttemptKind::kFirst;
        return i;
      }
      bool waits = busy_[worker_[i]] || lost_[worker_[i]] || retried_[i];
      if (other == SIZE_MAX && tasks_[i].retryable && failed_on_[i] != w && waits) other = i;
    }
    if (other != SIZE_MAX) {
      *kind = retried_[other] ? AttemptKind::kRetry : AttemptKind::kFirst;
      return other;
    }
    if (!speculate_) return SIZE_MAX;
    auto now = Clock::now();
    double longest = 0;
    for (size_t i = 0; i < state_.size(); ++i) {
      if (state_[i] != State::kRunning || running_[i] != 1 || speculated_[i] ||
          !tasks_[i].retryable || worker_[i] == w || failed_on_[i] == w) {
        continue;
      }
      if (!watch_.IsStraggler(i, now)) continue;
      double elapsed = watch_.ElapsedSeconds(i, now);
      if (elapsed > longest) {
        longest = elapsed;
        other = i;
      }
    }
    if (other != SIZE_MAX) *kind = AttemptKind::kSpeculative;
    return other;
  }

  // Worker `w`'s thread: runs tasks until none is left (or the gather failed, or the worker).
  void RunWorker(size_t w) {
    std::unique_lock lock(mu_);
    for (;;) {
      size_t i = SIZE_MAX;
      AttemptKind kind = AttemptKind::kFirst;
      for (;;) {
        if (!error_.ok() || unfinished_ == 0) break;
        i = NextTaskLocked(w, &kind);
        if (i != SIZE_MAX) break;
        if (speculate_) {
          cv_.wait_for(lock, kSpeculationPoll);
        } else {
          cv_.wait(lock);
        }
      }
      if (i == SIZE_MAX) break;
      if (kind == AttemptKind::kRetry) {
        // A retry goes only to a worker that answers.
        lock.unlock();
        Status health = options_.workers[w]->Health();
        lock.lock();
        if (!health.ok()) {
          WorkerLostLocked(w, health);
          break;
        }
        if (state_[i] != State::kPending || !error_.ok()) continue;
      }
      auto tag = static_cast<int32_t>(i * kAttemptKinds + static_cast<size_t>(kind));
      if (kind == AttemptKind::kSpeculative) {
        speculated_[i] = true;
        ++speculated_count_;
        EmitSpeculateLocked(i, w);
      } else {
        state_[i] = State::kRunning;
        worker_[i] = w;
        watch_.Started(i, Clock::now());
      }
      attempt_worker_[static_cast<size_t>(tag)] = w;
      attempt_live_[static_cast<size_t>(tag)] = true;
      ++running_[i];
      busy_[w] = true;
      cv_.notify_all();  // idle workers may now take this worker's queued tasks
      v1::Fragment fragment = AttemptFragment(tasks_[i].fragment, kind);
      bool delivered = false;
      lock.unlock();
      Status status =
          InStage(Attempt(i, w, fragment, kind, tag, &delivered), stage_, tasks_[i].label);
      lock.lock();
      busy_[w] = false;
      attempt_live_[static_cast<size_t>(tag)] = false;
      --running_[i];
      if (state_[i] == State::kDone) {
        // Another attempt of this task won: this one was cancelled (or lost the race), and its
        // rows, if any, are deleted (its tag is in abandoned_).
        cv_.notify_all();
        continue;
      }
      if (status.ok()) {
        WonLocked(i, kind, tag, std::move(fragment));
        continue;
      }
      if (delivered) abandoned_.push_back(tag);
      if (running_[i] > 0) {
        // The task's other attempt carries on alone; a mistake in the pipeline would fail
        // there too, so only a worker's fault lets it.
        if (!WorkerFault(status)) {
          FailLocked(status);
          break;
        }
        for (int k = 0; k < kAttemptKinds; ++k) {
          size_t other = i * kAttemptKinds + static_cast<size_t>(k);
          if (attempt_live_[other]) worker_[i] = attempt_worker_[other];
        }
        failed_on_[i] = w;
        WorkerLostLocked(w, status);
        break;
      }
      bool retry = !retried_[i] && tasks_[i].retryable && (discardable_ || !delivered) &&
                   WorkerFault(status) && error_.ok() && live_workers_ > 1 && !OwnsBucketsOf(w, i);
      if (!retry) {
        if (retried_[i]) {
          status =
              Status(status.code(), fmt::format("{} failed twice: {}; then {}", tasks_[i].label,
                                                first_failure_[i].message(), status.message()));
        }
        FailLocked(status);
        break;
      }
      first_failure_[i] = status;
      failed_on_[i] = w;
      retried_[i] = true;
      state_[i] = State::kPending;
      if (options_.telemetry) {
        // `discarded`: 1 when the failed attempt had delivered rows (they are deleted).
        options_.telemetry->Emit({"partition.retry",
                                  {{"failed_worker_index", static_cast<double>(w)},
                                   {"discarded", delivered ? 1.0 : 0.0}},
                                  {{"task", tasks_[i].label},
                                   {"stage", stage_},
                                   {"failed_worker", options_.workers[w]->address()},
                                   {"error", status.message()}}});
      }
      WorkerLostLocked(w, status);
      break;
    }
  }

  // Attempt `tag` (of kind `kind`) of task `i` completed first: its rows are the task's, every
  // other attempt of the task still running is cancelled and its rows are to be deleted.
  void WonLocked(size_t i, AttemptKind kind, int32_t tag, v1::Fragment fragment) {
    completed_[i] = std::move(fragment);
    completed_on_[i] = attempt_worker_[static_cast<size_t>(tag)];
    state_[i] = State::kDone;
    --unfinished_;
    double seconds = watch_.ElapsedSeconds(i, Clock::now());
    watch_.Finished(i, Clock::now());
    for (int k = 0; k < kAttemptKinds; ++k) {
      auto other = static_cast<int32_t>(i * kAttemptKinds + static_cast<size_t>(k));
      // Only attempts still running: one that failed is done with (its rows, if it had
      // delivered any, are abandoned already), and a folded gather has no attempt column
      // to delete by.
      if (other == tag || !attempt_live_[static_cast<size_t>(other)]) continue;
      // Before the consumer can see the end of the rows: abandoned() is then complete.
      abandoned_.push_back(other);
      if (protocol::ResultStream* s = streams_[static_cast<size_t>(other)]) s->Cancel();
    }
    if (speculated_[i]) {
      if (kind == AttemptKind::kSpeculative) ++speculation_won_;
      size_t winner = attempt_worker_[static_cast<size_t>(tag)];
      if (options_.telemetry) {
        options_.telemetry->Emit(
            {"partition.speculate.stop",
             {{"duration", seconds}, {"worker_index", static_cast<double>(winner)}},
             {{"task", tasks_[i].label},
              {"stage", stage_},
              {"winner", AttemptKindName(kind)},
              {"address", options_.workers[winner]->address()}}});
      }
    }
    cv_.notify_all();
  }

  // partition.speculate: worker `w` starts a second attempt of the straggler `i`.
  void EmitSpeculateLocked(size_t i, size_t w) {
    if (!options_.telemetry) return;
    auto now = Clock::now();
    options_.telemetry->Emit({"partition.speculate",
                              {{"elapsed", watch_.ElapsedSeconds(i, now)},
                               {"median", watch_.MedianSeconds().value_or(0)},
                               {"worker_index", static_cast<double>(w)}},
                              {{"task", tasks_[i].label},
                               {"stage", stage_},
                               {"straggler", AddressLocked(i)},
                               {"address", options_.workers[w]->address()}}});
  }

  // Whether worker `w` owns buckets task `i` pushes its rows to: then no other worker can
  // run the task in its place (its rows would go to `w` again), and the exchange, whose
  // buckets on `w` exist nowhere else, cannot complete without it.
  bool OwnsBucketsOf(size_t w, size_t i) const {
    const auto& owners = tasks_[i].fragment.shuffle().owners();
    return std::find(owners.begin(), owners.end(), options_.workers[w]->address()) != owners.end();
  }

  // Worker `w` takes no more tasks. The gather fails with `why` when a pending task can
  // now run nowhere: it was bound to `w`, or no worker is left.
  void WorkerLostLocked(size_t w, const Status& why) {
    lost_[w] = true;
    --live_workers_;
    cv_.notify_all();
    for (size_t i = 0; i < state_.size(); ++i) {
      if (state_[i] != State::kPending) continue;
      if (live_workers_ > 0 && (tasks_[i].retryable || worker_[i] != w)) continue;
      FailLocked(retried_[i]
                     ? Status(why.code(), fmt::format("{} failed on every worker: {}",
                                                      tasks_[i].label, first_failure_[i].message()))
                     : why);
      return;
    }
  }

  // What one attempt delivered: bytes, decoded rows, and the worker's own stats if it sent
  // them (older workers do not).
  struct AttemptOutcome {
    int64_t bytes = 0;
    int64_t decoded_rows = 0;
    std::optional<v1::FragmentStats> stats;
    Clock::time_point last_progress{};
  };

  // One attempt of task `i` on `worker`, tagging its batches with `tag`. Emits
  // partition.start, partition.progress (at most every kProgressInterval) and
  // distributed.worker.stop.
  Status Attempt(size_t i, size_t worker, const v1::Fragment& fragment, AttemptKind kind,
                 int32_t tag, bool* delivered) {
    auto start = Clock::now();
    protocol::WorkerClient& client = *options_.workers[worker];
    const Telemetry* t = options_.telemetry;
    std::map<std::string, std::string> names{
        {"stage", stage_}, {"task", tasks_[i].label}, {"address", client.address()}};
    if (t) {
      t->Emit({"partition.start",
               {{"worker_index", static_cast<double>(worker)},
                {"attempt", static_cast<double>(static_cast<int>(kind))}},
               names});
    }
    v1::ExecuteRequest request;
    *request.mutable_fragment() = fragment;
    request.mutable_fragment()->set_lease_id(options_.lease_id);
    request.set_compression(options_.compression);
    AttemptOutcome outcome;
    Status status = Stream(client, request, i, tag, &outcome, delivered);
    ipc_bytes_ += outcome.bytes;
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (t) {
      Event stop{"distributed.worker.stop",
                 {{"duration", seconds},
                  {"ipc_bytes", static_cast<double>(outcome.bytes)},
                  {"worker_index", static_cast<double>(worker)},
                  {"n_workers", static_cast<double>(options_.workers.size())}},
                 names};
      stop.metadata["status"] = status.ok() ? "ok" : StatusCodeName(status.code());
      if (outcome.stats) {
        const v1::FragmentStats& s = *outcome.stats;
        stop.measurements["rows"] = static_cast<double>(s.rows());
        if (s.has_rows_processed()) {
          stop.measurements["rows_processed"] = static_cast<double>(s.rows_processed());
        }
        if (s.has_peak_memory_bytes()) {
          stop.measurements["peak_memory_bytes"] = static_cast<double>(s.peak_memory_bytes());
        }
        if (s.has_spill_bytes()) {
          stop.measurements["spill_bytes"] = static_cast<double>(s.spill_bytes());
        }
        if (fragment.has_shuffle()) {
          stop.measurements["exchanged_bytes"] = static_cast<double>(s.exchanged_bytes());
        }
        stop.measurements["read_bytes"] = static_cast<double>(s.read_bytes());
        // Adaptive partial aggregation: the worker's decision and its measure.
        if (!s.partial_aggregation().empty()) {
          stop.metadata["partial_aggregation"] = s.partial_aggregation();
          if (s.has_rows_per_group()) stop.measurements["rows_per_group"] = s.rows_per_group();
        }
      } else if (status.ok() && !fragment.has_shuffle() && !fragment.has_postgres_insert() &&
                 !tasks_[i].start) {
        // A worker that reports nothing returned exactly these rows (not a report of them).
        stop.measurements["rows"] = static_cast<double>(outcome.decoded_rows);
      }
      t->Emit(stop);
    }
    return status;
  }

  // Emits a worker's progress report, at most every kProgressInterval per attempt.
  void OnProgress(size_t i, const std::string& address, const v1::FragmentProgress& progress,
                  AttemptOutcome* outcome) {
    const Telemetry* t = options_.telemetry;
    auto now = Clock::now();
    if (!t || now - outcome->last_progress < kProgressInterval) return;
    outcome->last_progress = now;
    t->Emit({"partition.progress",
             {{"percentage", progress.percentage()},
              {"rows_processed", static_cast<double>(progress.rows_processed())},
              {"total_rows", static_cast<double>(progress.total_rows())}},
             {{"stage", stage_}, {"task", tasks_[i].label}, {"address", address}}});
  }

  Status Stream(protocol::WorkerClient& client, const v1::ExecuteRequest& request, size_t i,
                int32_t tag, AttemptOutcome* outcome, bool* delivered) {
    auto started = tasks_[i].start ? tasks_[i].start(client, request) : client.Execute(request);
    if (!started.ok()) return started.status();
    std::unique_ptr<protocol::ResultStream> stream = std::move(started).value();
    // Reports arrive on this thread, from within the reads below.
    stream->OnReport([this, i, &client, outcome](const v1::IpcChunk& report) {
      if (report.has_progress()) OnProgress(i, client.address(), report.progress(), outcome);
      if (report.has_stats()) outcome->stats = report.stats();
    });
    {
      std::lock_guard lock(mu_);
      if (!error_.ok()) return error_;
      if (state_[i] == State::kDone) return LostRace();
      streams_[static_cast<size_t>(tag)] = stream.get();
    }
    CountingInput counting(stream.get());
    Status status = Decode(client, &counting, i, tag, delivered, &outcome->decoded_rows);
    outcome->bytes = counting.bytes();
    std::lock_guard lock(mu_);
    streams_[static_cast<size_t>(tag)] = nullptr;
    return status;
  }

  static Status LostRace() {
    return Status(StatusCode::kCancelled, "another attempt of the task completed first");
  }

  Status Decode(protocol::WorkerClient& client, CountingInput* in, size_t i, int32_t tag,
                bool* delivered, int64_t* decoded_rows) {
    auto bad = [&](const Status& s) {
      if (!in->error().ok()) return in->error();
      return Status(StatusCode::kDataLoss,
                    "worker " + client.address() + " sent a malformed result: " + s.message());
    };
    auto reader = arrow_ipc::Reader::Open(in);
    if (!reader.ok()) return bad(reader.status());
    arrow_ipc::SchemaOwner schema;
    DUX_RETURN_NOT_OK((*reader)->ExportSchema(schema.out()));
    {
      std::lock_guard lock(mu_);
      if (!schema_.valid()) {
        schema_ = std::move(schema);
        schema_from_ = client.address();
      } else if (!SameSchema(*schema_.get(), *schema.get())) {
        return Status::Internal(fmt::format(
            "worker {} returned the columns {} but worker {} returned {}", client.address(),
            ColumnList(*schema.get()), schema_from_, ColumnList(*schema_.get())));
      }
    }
    for (;;) {
      arrow_ipc::ArrayOwner batch;
      auto more = (*reader)->Next(batch.out());
      if (!more.ok()) return bad(more.status());
      if (!*more) return Drain(in);
      *decoded_rows += batch->length;
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] {
        return queue_.size() < kMaxQueued || !error_.ok() || state_[i] == State::kDone;
      });
      if (!error_.ok()) return error_;
      if (state_[i] == State::kDone) return LostRace();
      queue_.emplace_back(std::move(batch), tag);
      *delivered = true;
      cv_.notify_all();
    }
  }

  const std::vector<GatherTask> tasks_;
  const ClusterOptions& options_;
  const std::string stage_;
  const bool discardable_;
  const bool speculate_;
  StragglerWatch watch_;  // of the tasks' running attempts (not the speculative ones)
  Clock::time_point deadline_{};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<arrow_ipc::ArrayOwner, int32_t>> queue_;
  std::vector<protocol::ResultStream*> streams_;  // by attempt tag, while it streams
  enum class State { kPending, kRunning, kDone };
  std::vector<State> state_;
  std::vector<size_t> worker_;          // each task's preferred, then current, worker
  std::vector<size_t> attempt_worker_;  // by attempt tag: its worker, SIZE_MAX if not started
  std::vector<bool> attempt_live_;      // by attempt tag: running
  std::vector<bool> retried_, speculated_;
  std::vector<int> running_;  // attempts running, by task
  int speculated_count_ = 0, speculation_won_ = 0;
  std::vector<size_t> failed_on_ = std::vector<size_t>(tasks_.size(), SIZE_MAX);
  std::vector<Status> first_failure_;
  std::vector<v1::Fragment> completed_;
  std::vector<size_t> completed_on_ = std::vector<size_t>(tasks_.size(), SIZE_MAX);
  std::vector<int32_t> abandoned_;
  size_t unfinished_ = 0;
  std::vector<bool> busy_, lost_;  // by worker
  size_t live_workers_ = 0;
  Status error_;
  arrow_ipc::SchemaOwner schema_;
  std::string schema_from_;
  std::atomic<int64_t> ipc_bytes_{0};
  std::vector<std::thread> threads_;  // last: started after everything above exists
};

// The gather as the batches DuckDB pulls. The schema was waited for up front.
class GatherBatchSource : public exec::ArrowBatchSource {
 public:
  GatherBatchSource(Gather* gather, const ArrowSchema* schema) : gather_(gather), schema_(schema) {}
  Status ExportSchema(ArrowSchema* out) override {
    ExportTaggedSchema(*schema_, out);
    return Status::OK();
  }
  Result<bool> Next(ArrowArray* out) override { return gather_->Next(out); }

 private:
  Gather* gather_;
  const ArrowSchema* schema_;
};

}  // namespace

v1::Fragment AttemptFragment(const v1::Fragment& fragment, AttemptKind kind) {
  if (kind == AttemptKind::kFirst) return fragment;
  const char* suffix = kind == AttemptKind::kRetry ? "-retry" : "-spec";
  v1::Fragment attempt = fragment;
  attempt.set_query_id(fragment.query_id() + suffix);
  if (attempt.has_shuffle()) {
    attempt.mutable_shuffle()->set_exchange_id(fragment.shuffle().exchange_id() + suffix);
  }
  return attempt;
}

v1::Fragment RetryFragment(const v1::Fragment& fragment) {
  return AttemptFragment(fragment, AttemptKind::kRetry);
}

std::string FoldQuery(const Fold& fold, const std::string& select) {
  std::string keys = sql::QuoteIdentifiers(fold.keys), columns;
  for (const auto& [name, merge] : fold.columns) {
    columns += (columns.empty() ? "" : ", ") + merge + " AS " + sql::QuoteIdentifier(name);
  }
  return "SELECT " + (keys.empty() ? "" : keys + ", ") + columns + " FROM (" + select + ")" +
         (keys.empty() ? "" : " GROUP BY " + keys);
}

namespace {

// Waits for the gather's schema and runs `use` with a SELECT over its batches (with the
// attempt column) as they arrive.
Result<int64_t> ScanGather(exec::Connection& connection, Gather& gather,
                           const std::function<Result<int64_t>(const std::string&)>& use) {
  DUX_ASSIGN_OR_RETURN(const ArrowSchema* schema, gather.WaitSchema());
  DUX_ASSIGN_OR_RETURN(auto casts, exec::ImportCasts(*schema));
  ArrowArrayStream stream;
  exec::ExportArrowStream(std::make_unique<GatherBatchSource>(&gather, schema), &stream);
  return exec::ScanArrowStream(connection, &stream, casts, use);
}

}  // namespace

Result<GatherResult> GatherInto(exec::Connection& connection, std::vector<GatherTask> tasks,
                                const ClusterOptions& options, const std::string& stage,
                                const std::string& table, const Fold* fold) {
  Gather gather(std::move(tasks), options, stage, /*discardable=*/fold == nullptr);
  auto rows = ScanGather(connection, gather, [&](const std::string& select) -> Result<int64_t> {
    return connection.Execute("CREATE TEMPORARY TABLE " + sql::QuoteIdentifier(table) + " AS " +
                              (fold ? FoldQuery(*fold, select) : select));
  });
  // A worker's own error is the cause; DuckDB's wrapping of it adds nothing.
  Status failed = gather.error();
  if (!failed.ok()) return failed;
  if (!rows.ok()) return rows.status();
  GatherResult result = gather.Report(*rows);
  std::string abandoned = fmt::format("{}", fmt::join(gather.abandoned(), ", "));
  if (!abandoned.empty()) {
    DUX_ASSIGN_OR_RETURN(
        int64_t deleted,
        connection.Execute("DELETE FROM temp." + sql::QuoteIdentifier(table) + " WHERE " +
                           kAttemptColumn + " IN (" + abandoned + ")"));
    result.rows -= deleted;
  }
  return result;
}

Result<GatherResult> GatherTo(exec::Connection& connection, std::vector<GatherTask> tasks,
                              const ClusterOptions& options, const std::string& stage,
                              const RowConsumer& consume) {
  Gather gather(std::move(tasks), options, stage, /*discardable=*/false);
  auto rows = ScanGather(connection, gather, [&](const std::string& select) {
    return consume("SELECT * EXCLUDE (" + std::string(kAttemptColumn) + ") FROM (" + select + ")");
  });
  Status failed = gather.error();
  if (!failed.ok()) return failed;
  if (!rows.ok()) return rows.status();
  return gather.Report(*rows);
}

}  // namespace dux::coordinator
