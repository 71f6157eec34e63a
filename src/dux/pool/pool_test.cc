// The pool's decisions with a fake backend and a fake registry: workers "join" when the test
// says so, so each rule (grow, boot timeout, lost, idle, min, max) is checked on its own.
// The real backends are tested with real processes and a real Slurm in test/pool/.
#include "dux/pool/pool.h"

#include <gtest/gtest.h>

#include <future>

#include "dux/pool/command_backend.h"
#include "dux/pool/command_runner.h"

namespace dux::pool {
namespace {

using namespace std::chrono_literals;

// Workers that join on their own after `join_after` (never when negative), unless the start fails.
struct FakeCluster {
  std::mutex mu;
  std::map<std::string, std::string> joined;  // address -> name
  std::map<std::string, std::string> jobs;    // job id -> name
  std::set<std::string> stopped;
  std::string start_error;
  std::map<std::string, int> queries;
  int next = 0;
  bool auto_join = true;
};

class FakeBackend final : public Backend {
 public:
  explicit FakeBackend(std::shared_ptr<FakeCluster> c) : c_(std::move(c)) {}
  std::string name() const override { return "fake"; }
  Result<std::string> Start(const WorkerLaunch& launch) override {
    std::lock_guard lock(c_->mu);
    if (!c_->start_error.empty()) return Status::Unavailable(c_->start_error);
    std::string id = "job" + std::to_string(++c_->next);
    c_->jobs[id] = launch.name;
    if (c_->auto_join) c_->joined["10.0.0." + std::to_string(c_->next) + ":1"] = launch.name;
    return id;
  }
  Status Stop(const std::string& job_id) override {
    std::lock_guard lock(c_->mu);
    std::string name = c_->jobs[job_id];
    std::erase_if(c_->joined, [&](const auto& e) { return e.second == name; });
    c_->stopped.insert(job_id);
    return Status::OK();
  }
  Result<std::vector<std::string>> List() override { return std::vector<std::string>{}; }

 private:
  std::shared_ptr<FakeCluster> c_;
};

struct Fixture {
  std::shared_ptr<FakeCluster> cluster = std::make_shared<FakeCluster>();
  Telemetry telemetry;
  std::mutex events_mu;
  std::vector<Event> events;
  std::unique_ptr<Pool> pool;

  void Start(int min, int max, std::chrono::milliseconds idle, std::chrono::milliseconds boot) {
    telemetry.Subscribe([this](const Event& e) {
      std::lock_guard lock(events_mu);
      events.push_back(e);
    });
    PoolOptions options;
    options.min = min;
    options.max = max;
    options.idle_shutdown = idle;
    options.boot_timeout = boot;
    options.registry = "127.0.0.1:1";
    options.worker_command = {"dux", "worker"};
    options.tick = 10ms;
    options.telemetry = &telemetry;
    PoolProbes probes;
    probes.joined = [c = cluster] {
      std::lock_guard lock(c->mu);
      return c->joined;
    };
    probes.running_queries = [c = cluster](const std::string& address) -> Result<int> {
      std::lock_guard lock(c->mu);
      return c->queries[address];
    };
    auto started = Pool::Start(options, std::make_unique<FakeBackend>(cluster), probes);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    pool = std::move(started).value();
  }
  int Count(const std::string& name, const std::string& reason = "") {
    std::lock_guard lock(events_mu);
    return static_cast<int>(std::count_if(events.begin(), events.end(), [&](const Event& e) {
      return e.name == name && (reason.empty() || e.metadata.at("reason") == reason);
    }));
  }
  // Waits up to 5 s for `done`.
  template <typename F>
  bool Eventually(F done) {
    for (int i = 0; i < 500; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return done();
  }
  int InState(const std::string& state) {
    auto workers = pool->Workers();
    return static_cast<int>(std::count_if(workers.begin(), workers.end(),
                                          [&](const PoolWorker& w) { return w.state == state; }));
  }
};

TEST(PoolTest, GrowsOnDemandAndRetiresTheIdleDownToMin) {
  Fixture f;
  f.Start(/*min=*/1, /*max=*/5, /*idle=*/300ms, /*boot=*/5s);
  ASSERT_TRUE(f.Eventually([&] { return f.InState("idle") == 1; }));  // min
  SpinUpResult got = f.pool->SpinUp(3);
  EXPECT_EQ(got.addresses.size(), 3u);
  EXPECT_EQ(got.shortfall, "");
  EXPECT_EQ(f.Count("pool.worker.boot"), 3);
  EXPECT_EQ(f.Count("pool.grow.start"), 2);  // the min, then 2 more
  // Idle past the timeout: back to min, never below.
  ASSERT_TRUE(f.Eventually([&] { return f.pool->Workers().size() == 1; }));
  EXPECT_EQ(f.Count("pool.shrink", "idle"), 2);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(f.pool->Workers().size(), 1u);
  EXPECT_TRUE(f.pool->Retained(f.pool->Workers()[0].address));
}

TEST(PoolTest, ABusyWorkerIsNotRetired) {
  Fixture f;
  // The pool asks its workers' load every second: an idle timeout above that.
  f.Start(0, 2, 1500ms, 5s);
  auto got = f.pool->SpinUp(1);
  ASSERT_EQ(got.addresses.size(), 1u);
  {
    std::lock_guard lock(f.cluster->mu);
    f.cluster->queries[got.addresses[0]] = 1;
  }
  ASSERT_TRUE(f.Eventually([&] { return f.InState("busy") == 1; }));
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(f.InState("busy"), 1);
  {
    std::lock_guard lock(f.cluster->mu);
    f.cluster->queries[got.addresses[0]] = 0;
  }
  ASSERT_TRUE(f.Eventually([&] { return f.pool->Workers().empty(); }));
}

TEST(PoolTest, GrowsWhenTheLiveWorkersAreBusyAndHandsOutIdleOnesFirst) {
  Fixture f;
  f.Start(0, 3, 10s, 5s);
  auto first = f.pool->SpinUp(1);
  ASSERT_EQ(first.addresses.size(), 1u);
  {
    std::lock_guard lock(f.cluster->mu);
    f.cluster->queries[first.addresses[0]] = 1;
  }
  ASSERT_TRUE(f.Eventually([&] { return f.InState("busy") == 1; }));
  auto second = f.pool->SpinUp(1);
  ASSERT_EQ(second.addresses.size(), 1u);
  EXPECT_NE(second.addresses[0], first.addresses[0]);
  EXPECT_EQ(f.Count("pool.worker.boot"), 2);
  // Two wanted, one busy and one idle: a third boots; the idle one comes first.
  auto third = f.pool->SpinUp(2);
  ASSERT_EQ(third.addresses.size(), 2u);
  EXPECT_EQ(f.Count("pool.worker.boot"), 3);
  EXPECT_TRUE(std::find(third.addresses.begin(), third.addresses.end(), first.addresses[0]) ==
              third.addresses.end());
}

TEST(PoolTest, NeverBeyondMax) {
  Fixture f;
  f.Start(0, 2, 10s, 20s);
  auto before = std::chrono::steady_clock::now();
  auto got = f.pool->SpinUp(4);
  EXPECT_LT(std::chrono::steady_clock::now() - before, 10s);  // not the boot timeout
  EXPECT_EQ(got.addresses.size(), 2u);
  EXPECT_EQ(got.shortfall, "the pool has 2 of the 4 workers wanted (its --max is 2)");
}

TEST(PoolTest, ALostWorkerIsReplaced) {
  Fixture f;
  f.Start(2, 3, 10s, 5s);
  ASSERT_TRUE(f.Eventually([&] { return f.InState("idle") == 2; }));
  {
    std::lock_guard lock(f.cluster->mu);
    f.cluster->joined.erase(f.cluster->joined.begin());  // missed its heartbeats
  }
  ASSERT_TRUE(f.Eventually([&] { return f.Count("pool.shrink", "lost") == 1; }));
  ASSERT_TRUE(f.Eventually([&] { return f.InState("idle") == 2; }));
  EXPECT_EQ(f.Count("pool.worker.boot"), 3);
}

TEST(PoolTest, AFailingBackendGivesItsErrorWithoutWaitingForTheTimeout) {
  Fixture f;
  f.cluster->start_error = "start command exited 1: no such host";
  f.Start(0, 4, 10s, 20s);
  auto before = std::chrono::steady_clock::now();
  auto got = f.pool->SpinUp(2);
  EXPECT_LT(std::chrono::steady_clock::now() - before, 10s);
  EXPECT_TRUE(got.addresses.empty());
  EXPECT_EQ(got.shortfall,
            "the pool has 0 of the 2 workers wanted; last boot error: start command exited 1: no "
            "such host");
}

TEST(PoolTest, AWorkerThatNeverJoinsIsStoppedAtTheBootTimeout) {
  Fixture f;
  f.cluster->auto_join = false;
  f.Start(0, 4, 10s, 300ms);
  auto got = f.pool->SpinUp(1);
  EXPECT_TRUE(got.addresses.empty());
  EXPECT_NE(got.shortfall.find("fake backend: worker dux-"), std::string::npos) << got.shortfall;
  EXPECT_NE(got.shortfall.find("did not join within the boot timeout of 0.3 s"), std::string::npos);
  ASSERT_TRUE(f.Eventually([&] {
    std::lock_guard lock(f.cluster->mu);
    return f.cluster->stopped.size() == 1;
  }));
}

TEST(PoolTest, StoppingThePoolStopsEveryWorkerItStarted) {
  Fixture f;
  f.Start(3, 3, 10s, 5s);
  ASSERT_TRUE(f.Eventually([&] { return f.InState("idle") == 3; }));
  f.pool.reset();
  std::lock_guard lock(f.cluster->mu);
  EXPECT_EQ(f.cluster->stopped.size(), 3u);
  EXPECT_TRUE(f.cluster->joined.empty());
}

TEST(PoolTest, HandStartedWorkersCountAndAreNeverStopped) {
  Fixture f;
  {
    std::lock_guard lock(f.cluster->mu);
    f.cluster->joined["192.168.1.1:4000"] = "";
  }
  f.Start(0, 3, 100ms, 5s);
  ASSERT_TRUE(f.Eventually([&] { return f.pool->Workers().size() == 1; }));  // seen joined
  auto got = f.pool->SpinUp(1);
  ASSERT_EQ(got.addresses, std::vector<std::string>{"192.168.1.1:4000"});
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(f.pool->Workers().size(), 1u);
  EXPECT_EQ(f.Count("pool.worker.boot"), 0);
}

TEST(CommandTemplateTest, PlaceholdersAreQuotedAndUnknownOnesRefused) {
  auto out = ExpandTemplate("ssh {name} {worker} >log &",
                            {{"name", ShellQuote("h 1")}, {"worker", ShellQuote("dux")}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "ssh 'h 1' 'dux' >log &");
  EXPECT_EQ(*ExpandTemplate("echo ${HOME} {}", {}), "echo ${HOME} {}");
  auto bad = ExpandTemplate("start {host}", {{"name", ""}});
  EXPECT_EQ(bad.status().message(),
            "unknown placeholder {host} in \"start {host}\" (known: {name})");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
}

TEST(CommandRunnerTest, GivesExitCodeOutputAndStderrAndKillsAtTheTimeout) {
  auto run = RunCommand({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, 5s);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exit_code, 3);
  EXPECT_EQ(run->out, "out\n");
  EXPECT_EQ(LastLine(run->err), "err");
  auto slow = RunCommand({"/bin/sh", "-c", "sleep 30"}, 200ms);
  EXPECT_EQ(slow.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(RunCommand({"/nonexistent/x"}, 1s)->exit_code, 127);
}

}  // namespace
}  // namespace dux::pool
