#include "dux/rpc/query_reporter.h"

#include <utility>

namespace dux::rpc {

namespace {

using Clock = std::chrono::steady_clock;

// A batch leaves this often while events come, and at once when the query ends.
constexpr auto kBatchInterval = std::chrono::milliseconds(200);
// A running query without events is still reported this often (the registry forgets a
// query it has not heard of for a minute: docs/observability.md).
constexpr auto kKeepAlive = std::chrono::seconds(5);
// Each call's deadline: a registry that does not answer costs the sender this, never the query.
constexpr double kCallDeadlineSeconds = 1.0;
// Events waiting to be sent at most (beyond, they are dropped and counted), and in one report
// (gRPC's 4 MiB message limit leaves room for some 2 KiB per event).
constexpr size_t kMaxQueued = 10000;
constexpr int kMaxPerReport = 2000;

int64_t UnixMillisNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Failures after which the registry will take no report of this query: it does not know the
// call (an older registry), refuses the token, or refuses the report.
bool Final(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNIMPLEMENTED || code == grpc::StatusCode::UNAUTHENTICATED ||
         code == grpc::StatusCode::PERMISSION_DENIED || code == grpc::StatusCode::INVALID_ARGUMENT;
}

}  // namespace

std::unique_ptr<QueryReporter> QueryReporter::Start(const std::string& registry,
                                                    const ClientOptions& options,
                                                    v1::QueryReport description) {
  Result<std::shared_ptr<grpc::Channel>> channel = OpenChannel(registry, options);
  if (!channel.ok()) return nullptr;
  ClientOptions reporting = options;
  reporting.call_timeout_seconds = kCallDeadlineSeconds;
  return std::unique_ptr<QueryReporter>(new QueryReporter(
      v1::Registry::NewStub(*channel), std::move(reporting), std::move(description)));
}

QueryReporter::QueryReporter(std::unique_ptr<v1::Registry::Stub> stub, ClientOptions options,
                             v1::QueryReport description)
    : stub_(std::move(stub)), options_(std::move(options)), description_(std::move(description)) {
  thread_ = std::thread([this] { Loop(); });
}

QueryReporter::~QueryReporter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    if (in_flight_ != nullptr) in_flight_->TryCancel();
  }
  cv_.notify_all();
  thread_.join();
}

void QueryReporter::Add(const Event& event) {
  v1::QueryEvent queued;
  queued.set_name(event.name);
  for (const auto& [key, value] : event.measurements) (*queued.mutable_measurements())[key] = value;
  for (const auto& [key, value] : event.metadata) (*queued.mutable_metadata())[key] = value;
  queued.set_at_us(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start_).count());
  std::lock_guard lock(mu_);
  if (done_ || end_) return;
  if (queue_.size() >= kMaxQueued) {
    ++dropped_;
    return;
  }
  queue_.push_back(std::move(queued));
}

void QueryReporter::Finish(const Status& status, std::chrono::milliseconds within) {
  std::unique_lock lock(mu_);
  if (!end_) {
    end_.emplace();
    end_->set_finished(true);
    end_->set_end_unix_ms(UnixMillisNow());
    end_->set_status(status.ok() ? "ok" : StatusCodeName(status.code()));
    end_->set_error(status.message());
  }
  cv_.notify_all();
  cv_.wait_for(lock, within, [&] { return done_; });
}

v1::QueryReport QueryReporter::NextReportLocked() {
  v1::QueryReport report;
  if (acknowledged_) {
    report.set_query_id(description_.query_id());
  } else {
    report = description_;
  }
  while (!queue_.empty() && report.events_size() < kMaxPerReport) {
    *report.add_events() = std::move(queue_.front());
    queue_.pop_front();
  }
  report.set_dropped_events(dropped_);
  if (end_ && queue_.empty()) {
    report.set_finished(true);
    report.set_end_unix_ms(end_->end_unix_ms());
    report.set_status(end_->status());
    report.set_error(end_->error());
  }
  return report;
}

void QueryReporter::Loop() {
  std::unique_lock lock(mu_);
  Clock::time_point last_sent;
  while (!stop_ && !done_) {
    cv_.wait_for(lock, kBatchInterval, [&] { return stop_ || end_.has_value(); });
    if (stop_) break;
    const bool due =
        end_ || !queue_.empty() || !acknowledged_ || Clock::now() - last_sent >= kKeepAlive;
    if (!due) continue;
    v1::QueryReport report = NextReportLocked();
    std::unique_ptr<grpc::ClientContext> context = NewContext(options_);
    in_flight_ = context.get();
    lock.unlock();
    v1::ReportQueryReply reply;
    grpc::Status status = stub_->ReportQuery(context.get(), report, &reply);
    lock.lock();
    in_flight_ = nullptr;
    last_sent = Clock::now();
    if (status.ok()) {
      acknowledged_ = true;
      done_ = report.finished();
    } else if (Final(status.error_code())) {
      done_ = true;
      queue_.clear();
    } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE && !report.finished() &&
               queue_.size() + static_cast<size_t>(report.events_size()) <= kMaxQueued) {
      // Not delivered (no connection): the events wait for the next attempt, in order.
      for (int i = report.events_size() - 1; i >= 0; --i) {
        queue_.push_front(std::move(*report.mutable_events(i)));
      }
    } else {
      // Perhaps delivered (a deadline), or the end: dropped rather than sent twice.
      dropped_ += report.events_size();
      done_ = report.finished();
    }
    cv_.notify_all();
    // After a failure, the next attempt waits a batch interval even once the end is queued.
    if (!status.ok()) cv_.wait_for(lock, kBatchInterval, [&] { return stop_; });
  }
  done_ = true;
  cv_.notify_all();
}

}  // namespace dux::rpc
