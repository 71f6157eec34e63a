#include "dux/coordinator/lease_renewal.h"

#include <algorithm>
#include <chrono>

#include "dux/common/unique_id.h"

namespace dux::coordinator {

namespace {

// Until a worker has said its lease timeout, and after a failed renewal: the pace for the
// default timeout of 30 s would be 10 s, but a worker may have a short one, and a failed call
// (a worker restarting, a dropped connection) should be retried well within any sane timeout.
constexpr std::chrono::milliseconds kUnknownInterval{1000};
// Renewing more often than this would load a worker for nothing.
constexpr std::chrono::milliseconds kShortestInterval{10};

}  // namespace

std::unique_ptr<LeaseRenewal> LeaseRenewal::Start(
    const std::vector<std::shared_ptr<protocol::WorkerClient>>& workers) {
  std::unique_ptr<LeaseRenewal> renewal(new LeaseRenewal(UniqueId('l')));
  renewal->workers_ = workers;
  renewal->threads_.reserve(workers.size());
  for (const auto& worker : renewal->workers_) {
    protocol::WorkerClient* client = worker.get();
    LeaseRenewal* self = renewal.get();
    renewal->threads_.emplace_back([self, client] { self->Renew(client); });
  }
  return renewal;
}

LeaseRenewal::~LeaseRenewal() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  for (auto& thread : threads_) thread.join();
}

void LeaseRenewal::Renew(protocol::WorkerClient* worker) {
  v1::RenewLeaseRequest request;
  request.set_lease_id(lease_id_);
  auto interval = kUnknownInterval;  // the last pace a reply gave
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    auto reply = worker->RenewLease(request);
    if (reply.ok() && reply->timeout_seconds() > 0) {
      auto timeout = std::chrono::duration<double>(reply->timeout_seconds());
      interval = std::max(kShortestInterval,
                          std::chrono::duration_cast<std::chrono::milliseconds>(timeout / 3));
    }
    lock.lock();
    stop_cv_.wait_for(lock, interval, [this] { return stopping_; });
  }
}

LeasedOptions WithLease(const ClusterOptions& options) {
  LeasedOptions leased{options, nullptr};
  if (options.lease_id.empty() && !options.workers.empty()) {
    leased.renewal = LeaseRenewal::Start(options.workers);
    leased.options.lease_id = leased.renewal->lease_id();
  }
  return leased;
}

}  // namespace dux::coordinator
