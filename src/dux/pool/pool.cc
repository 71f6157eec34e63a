#include "dux/pool/pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>

#include "dux/common/unique_id.h"

namespace dux::pool {

namespace {

// How often the pool asks each live worker how many queries it runs.
constexpr auto kLoadInterval = std::chrono::seconds(1);
// After a boot fails the pool waits before starting again, doubling up to the maximum, so
// that a broken backend is not hammered; a worker that joins resets it.
constexpr auto kFirstBackoff = std::chrono::milliseconds(500);
constexpr auto kMaxBackoff = std::chrono::seconds(30);
// A worker exits by itself when idle this much longer than the pool would retire it.
constexpr auto kWorkerIdleMargin = std::chrono::seconds(30);

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string SecondsFlag(std::chrono::milliseconds d) {
  return fmt::format("{:g}", d.count() / 1000.0);
}

}  // namespace

// Several workers booted at once, for the pool.grow.stop event.
struct Pool::Growth {
  int n = 0;
  int pending = 0;
  int failed = 0;
  Clock::time_point started;
};

struct Pool::Managed {
  // kStarting: the backend's Start runs; kBooting: started, not joined yet.
  enum class State { kStarting, kBooting, kLive, kDraining };
  std::string name, job_id, address;
  State state = State::kStarting;
  bool starting = true;   ///< the backend's Start is in flight
  bool stopping = false;  ///< the backend's Stop is in flight
  Clock::time_point started, joined, last_busy;
  int queries = 0;
  std::shared_ptr<Growth> growth;  ///< until the boot ends
};

Result<std::unique_ptr<Pool>> Pool::Start(PoolOptions options, std::unique_ptr<Backend> backend,
                                          PoolProbes probes) {
  if (options.min < 0 || options.max < 1 || options.min > options.max) {
    return Status::InvalidArgument(
        fmt::format("pool: need 0 <= --min <= --max and --max >= 1 (got --min {} --max {})",
                    options.min, options.max));
  }
  if (options.worker_command.empty()) return Status::InvalidArgument("pool: no worker command");
  auto pool =
      std::unique_ptr<Pool>(new Pool(std::move(options), std::move(backend), std::move(probes)));
  pool->loop_ = std::thread([p = pool.get()] { p->Loop(); });
  return pool;
}

Pool::Pool(PoolOptions options, std::unique_ptr<Backend> backend, PoolProbes probes)
    : options_(std::move(options)),
      backend_(std::move(backend)),
      backend_name_(backend_->name()),
      probes_(std::move(probes)),
      prefix_("dux-" + UniqueId('p')) {}

Pool::~Pool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  loop_.join();
  std::unique_lock lock(mu_);
  for (auto& [name, worker] : managed_) RetireLocked(*worker, "stopped");
  // Stops spawned while others end: join until none is left.
  while (!tasks_.empty()) {
    std::vector<Task> tasks;
    tasks.swap(tasks_);
    lock.unlock();
    for (auto& t : tasks) t.thread.join();
    lock.lock();
  }
}

void Pool::SpawnLocked(std::function<void()> task) {
  auto done = std::make_shared<std::atomic<bool>>(false);
  tasks_.push_back({std::thread([task = std::move(task), done] {
                      task();
                      *done = true;
                    }),
                    done});
}

int Pool::WantedLocked() const {
  return std::max(options_.min, demands_.empty() ? 0 : *demands_.rbegin());
}

void Pool::Emit(Event event) const {
  if (!options_.telemetry) return;
  event.metadata["backend"] = backend_name_;
  options_.telemetry->Emit(event);
}

bool Pool::UnmanagedBusy(const std::pair<Clock::time_point, Clock::time_point>& seen) {
  return seen.second != seen.first && Clock::now() - seen.second < 2 * kLoadInterval;
}

int Pool::IdleLocked() const {
  int idle = 0;
  for (const auto& [address, seen] : unmanaged_) idle += !UnmanagedBusy(seen);
  for (const auto& [name, w] : managed_)
    idle += w->state == Managed::State::kLive && w->queries == 0;
  return idle;
}

int Pool::LiveLocked() const {
  int live = static_cast<int>(unmanaged_.size());
  for (const auto& [name, w] : managed_) live += w->state == Managed::State::kLive;
  return live;
}

void Pool::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    TickLocked(lock);
    cv_.notify_all();
    cv_.wait_for(lock, options_.tick, [&] { return stop_ || wake_; });
    wake_ = false;
  }
}

void Pool::TickLocked(std::unique_lock<std::mutex>& lock) {
  auto now = Clock::now();
  // Ask the registry and the workers without holding the lock: both may block.
  bool ask_load = now - last_load_ >= kLoadInterval;
  std::vector<std::string> live_addresses;
  if (ask_load) {
    for (const auto& [name, w] : managed_) {
      if (w->state == Managed::State::kLive) live_addresses.push_back(w->address);
    }
    for (const auto& [address, seen] : unmanaged_) live_addresses.push_back(address);
  }
  lock.unlock();
  std::map<std::string, std::string> joined = probes_.joined();
  std::map<std::string, int> load;
  for (const auto& address : live_addresses) {
    auto queries = probes_.running_queries(address);
    if (queries.ok()) load[address] = *queries;
  }
  lock.lock();
  if (stop_) return;
  now = Clock::now();
  if (ask_load) last_load_ = now;

  std::map<std::string, std::string> name_to_address;
  for (const auto& [address, name] : joined) {
    if (!name.empty() && managed_.count(name)) {
      name_to_address[name] = address;
    } else {
      unmanaged_.try_emplace(address, now, now);
    }
  }
  std::erase_if(unmanaged_, [&](const auto& entry) { return !joined.count(entry.first); });
  for (auto& [address, times] : unmanaged_) {
    if (auto it = load.find(address); it != load.end() && it->second > 0) times.second = now;
  }

  std::vector<Managed*> lost, late;
  for (auto& [name, w] : managed_) {
    auto it = name_to_address.find(name);
    switch (w->state) {
      case Managed::State::kStarting:
      case Managed::State::kBooting:
        if (it != name_to_address.end()) {
          w->state = Managed::State::kLive;
          w->address = it->second;
          w->joined = w->last_busy = now;
          Emit({"pool.worker.boot",
                {{"duration", Seconds(now - w->started)}},
                {{"job_id", w->job_id}, {"name", w->name}, {"address", w->address}}});
          BootDoneLocked(*w, dux::Status::OK());
        } else if (now - w->started > options_.boot_timeout) {
          late.push_back(w.get());
        }
        break;
      case Managed::State::kLive:
        if (it == name_to_address.end()) {
          lost.push_back(w.get());
        } else if (auto l = load.find(w->address); l != load.end()) {
          w->queries = l->second;
          if (w->queries > 0) w->last_busy = now;
        }
        break;
      case Managed::State::kDraining:
        break;
    }
  }
  for (Managed* w : late) {
    BootDoneLocked(*w, dux::Status(StatusCode::kDeadlineExceeded,
                                   fmt::format("{} backend: worker {} (job {}) did not join "
                                               "within the boot timeout of {:g} s",
                                               backend_name_, w->name, w->job_id,
                                               options_.boot_timeout.count() / 1000.0)));
    RetireLocked(*w, "boot_timeout");
  }
  for (Managed* w : lost) RetireLocked(*w, "lost");

  GrowIfWantedLocked(now);
  int wanted = WantedLocked();

  // Retire the idle, never below min nor below what waiting coordinators ask for.
  int keep = wanted;
  int live = LiveLocked();
  for (auto& [name, w] : managed_) {
    if (live <= keep) break;
    if (w->state != Managed::State::kLive || w->queries > 0) continue;
    if (now - w->last_busy < options_.idle_shutdown) continue;
    RetireLocked(*w, "idle");
    --live;
  }

  // Forget what has ended: stopped workers and finished backend calls.
  std::erase_if(managed_, [](const auto& entry) {
    const Managed& w = *entry.second;
    return w.state == Managed::State::kDraining && !w.starting && !w.stopping;
  });
  std::vector<Task> ended;
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    if (*it->done) {
      ended.push_back(std::move(*it));
      it = tasks_.erase(it);
    } else {
      ++it;
    }
  }
  lock.unlock();
  for (auto& t : ended) t.thread.join();
  lock.lock();
}

void Pool::GrowIfWantedLocked(Clock::time_point now) {
  int wanted = WantedLocked();
  int have = IdleLocked();
  int managed = 0;
  for (const auto& [name, w] : managed_) {
    if (w->state == Managed::State::kDraining) continue;
    ++managed;
    have += w->state == Managed::State::kStarting || w->state == Managed::State::kBooting;
  }
  int room = options_.max - managed;
  if (have < wanted && room > 0 && now >= backoff_until_) {
    GrowLocked(std::min(wanted - have, room));
  }
}

void Pool::GrowLocked(int n) {
  auto growth = std::make_shared<Growth>();
  growth->n = growth->pending = n;
  growth->started = Clock::now();
  Emit({"pool.grow.start", {{"n", static_cast<double>(n)}}, {}});
  for (int i = 0; i < n; ++i) {
    auto worker = std::make_unique<Managed>();
    worker->name = fmt::format("{}-{}", prefix_, ++next_);
    worker->started = growth->started;
    worker->growth = growth;
    WorkerLaunch launch;
    launch.name = worker->name;
    launch.registry = options_.registry;
    launch.token_file = options_.token_file;
    launch.argv = options_.worker_command;
    auto add = [&](std::initializer_list<std::string> args) {
      launch.argv.insert(launch.argv.end(), args);
    };
    add({"--join", options_.registry, "--name", worker->name, "--registry-timeout",
         SecondsFlag(options_.worker_registry_timeout), "--idle-exit",
         SecondsFlag(
             options_.worker_idle_exit.count() > 0
                 ? options_.worker_idle_exit
                 : options_.idle_shutdown +
                       std::chrono::duration_cast<std::chrono::milliseconds>(kWorkerIdleMargin))});
    if (!options_.token_file.empty()) add({"--token-file", options_.token_file});
    std::string name = worker->name;
    managed_[name] = std::move(worker);
    SpawnLocked([this, launch = std::move(launch), name] {
      auto job = backend_->Start(launch);
      std::lock_guard lock(mu_);
      Managed& w = *managed_.at(name);  // kept while `starting`
      w.starting = false;
      if (!job.ok()) {
        if (w.growth) BootDoneLocked(w, job.status());
        w.state = Managed::State::kDraining;  // nothing to stop
      } else {
        w.job_id = *job;
        if (w.state == Managed::State::kStarting) w.state = Managed::State::kBooting;
        // Retired while its Start ran: stop it now that it has a job id.
        if (w.state == Managed::State::kDraining) StopJobLocked(w);
      }
      wake_ = true;
      cv_.notify_all();
    });
  }
}

void Pool::BootDoneLocked(Managed& worker, const dux::Status& status) {
  std::shared_ptr<Growth> growth = std::move(worker.growth);
  if (!status.ok()) {
    last_boot_error_ = status.message();
    ++boot_failures_;
    backoff_ = backoff_.count() == 0
                   ? kFirstBackoff
                   : std::min(backoff_ * 2,
                              std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
    backoff_until_ = Clock::now() + backoff_;
  } else {
    backoff_ = std::chrono::milliseconds(0);
  }
  if (!growth) return;
  growth->failed += !status.ok();
  if (--growth->pending == 0) {
    Emit({"pool.grow.stop",
          {{"n", static_cast<double>(growth->n)},
           {"failed", static_cast<double>(growth->failed)},
           {"duration", Seconds(Clock::now() - growth->started)}},
          {}});
  }
}

void Pool::RetireLocked(Managed& worker, const std::string& reason) {
  if (worker.state == Managed::State::kDraining) return;
  worker.growth.reset();  // only the destructor retires a booting worker: no grow.stop
  worker.state = Managed::State::kDraining;
  Emit({"pool.shrink",
        {{"uptime", Seconds(Clock::now() - worker.started)}},
        {{"reason", reason},
         {"job_id", worker.job_id},
         {"name", worker.name},
         {"address", worker.address}}});
  // A worker whose Start still runs is stopped by that Start's thread.
  if (!worker.starting) StopJobLocked(worker);
}

void Pool::StopJobLocked(Managed& worker) {
  worker.stopping = true;
  SpawnLocked([this, job = worker.job_id, name = worker.name] {
    dux::Status stopped = backend_->Stop(job);
    std::lock_guard lock(mu_);
    managed_.at(name)->stopping = false;  // kept while `stopping`
    if (!stopped.ok()) std::cerr << "dux pool: " << stopped.message() << "\n";
  });
}

SpinUpResult Pool::SpinUp(int n) {
  std::unique_lock lock(mu_);
  auto demand = demands_.insert(n);
  auto deadline = Clock::now() + options_.boot_timeout;
  int failures = boot_failures_;
  GrowIfWantedLocked(Clock::now());  // now, so that the wait below sees the boots
  wake_ = true;
  cv_.notify_all();
  auto booting = [&] {
    for (const auto& [name, w] : managed_) {
      if (w->state == Managed::State::kStarting || w->state == Managed::State::kBooting)
        return true;
    }
    return false;
  };
  // At --max with nothing booting, waiting cannot give more.
  auto at_max = [&] {
    int managed = 0;
    for (const auto& [name, w] : managed_) managed += w->state == Managed::State::kLive;
    return managed >= options_.max && !booting();
  };
  // Idle workers first; busy ones when no more can come (they run both queries).
  cv_.wait_until(lock, deadline + 2 * options_.tick + std::chrono::milliseconds(100), [&] {
    return stop_ || IdleLocked() >= n || (LiveLocked() >= n && !booting()) ||
           (boot_failures_ > failures && !booting()) || at_max();
  });
  demands_.erase(demand);
  SpinUpResult result;
  auto now = Clock::now();
  auto full = [&] { return static_cast<int>(result.addresses.size()) >= n; };
  for (bool idle : {true, false}) {
    for (auto& [name, w] : managed_) {
      if (full() || w->state != Managed::State::kLive || (w->queries == 0) != idle) continue;
      result.addresses.push_back(w->address);
      w->last_busy = now;  // handed out: not idle
    }
    for (auto& [address, seen] : unmanaged_) {
      if (!full() && UnmanagedBusy(seen) != idle) result.addresses.push_back(address);
    }
  }
  if (static_cast<int>(result.addresses.size()) < n) {
    result.shortfall =
        fmt::format("the pool has {} of the {} workers wanted", result.addresses.size(), n);
    if (n > options_.max + static_cast<int>(unmanaged_.size())) {
      result.shortfall += fmt::format(" (its --max is {})", options_.max);
    } else if (now >= deadline) {
      result.shortfall +=
          fmt::format(" after the boot timeout of {:g} s", options_.boot_timeout.count() / 1000.0);
    }
    if (boot_failures_ > failures) result.shortfall += "; last boot error: " + last_boot_error_;
  }
  return result;
}

std::vector<PoolWorker> Pool::Workers() {
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  std::vector<PoolWorker> out;
  for (const auto& [name, w] : managed_) {
    PoolWorker p;
    p.name = w->name;
    p.job_id = w->job_id;
    p.address = w->address;
    p.uptime_seconds = Seconds(now - w->started);
    switch (w->state) {
      case Managed::State::kStarting:
      case Managed::State::kBooting:
        p.state = "booting";
        break;
      case Managed::State::kLive:
        p.state = w->queries > 0 ? "busy" : "idle";
        p.idle_seconds = w->queries > 0 ? 0 : Seconds(now - w->last_busy);
        break;
      case Managed::State::kDraining:
        p.state = "draining";
        break;
    }
    out.push_back(std::move(p));
  }
  for (const auto& [address, times] : unmanaged_) {
    PoolWorker p;
    p.address = address;
    p.uptime_seconds = Seconds(now - times.first);
    bool busy = UnmanagedBusy(times);
    p.state = busy ? "busy" : "idle";
    p.idle_seconds = busy ? 0 : Seconds(now - times.second);
    out.push_back(std::move(p));
  }
  return out;
}

bool Pool::Retained(const std::string& address) {
  std::lock_guard lock(mu_);
  if (LiveLocked() > WantedLocked()) return false;
  for (const auto& [name, w] : managed_) {
    if (w->address == address) return w->state == Managed::State::kLive;
  }
  return false;
}

}  // namespace dux::pool
