// MetricsRegistry's rendering, read back by the strict parser of test/support (the one every
// /metrics test uses), and its thread-safety under concurrent updates.
#include "dux/common/metrics.h"

#include <gtest/gtest.h>

#include <thread>

#include "prometheus_text.h"

namespace dux {
namespace {

using test::PrometheusText;

PrometheusText ParseOrFail(const std::string& text) {
  std::string error;
  auto parsed = PrometheusText::Parse(text, &error);
  EXPECT_TRUE(parsed) << error << "\n" << text;
  return parsed ? *parsed : PrometheusText();
}

TEST(Metrics, RendersCountersGaugesAndHistogramsInTheTextFormat) {
  MetricsRegistry registry;
  auto& fragments = registry.AddCounter("dux_fragments_total", "Fragments.", {"status"});
  fragments.With({"ok"}).Increment();
  fragments.With({"ok"}).Increment(2);
  fragments.With({"failed \"x\"\\\n"}).Increment();
  registry.AddGauge("dux_running", "Running now.\nSecond line \\.").Get().Set(4);
  auto& seconds = registry.AddHistogram("dux_duration_seconds", "Durations.", {0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 20.0}) seconds.Get().Observe(v);
  std::string text = registry.Render();
  EXPECT_NE(text.find("# HELP dux_running Running now.\\nSecond line \\\\.\n"
                      "# TYPE dux_running gauge\ndux_running 4\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("dux_duration_seconds_bucket{le=\"0.1\"} 2\n"), std::string::npos) << text;
  PrometheusText parsed = ParseOrFail(text);
  EXPECT_EQ(parsed.Value("dux_fragments_total", {{"status", "ok"}}), 3);
  EXPECT_EQ(parsed.Value("dux_fragments_total", {{"status", "failed \"x\"\\\n"}}), 1);
  EXPECT_EQ(parsed.Value("dux_duration_seconds_bucket", {{"le", "1"}}), 3);
  EXPECT_EQ(parsed.Value("dux_duration_seconds_bucket", {{"le", "10"}}), 3);
  EXPECT_EQ(parsed.Value("dux_duration_seconds_bucket", {{"le", "+Inf"}}), 4);
  EXPECT_DOUBLE_EQ(*parsed.Value("dux_duration_seconds_sum"), 20.65);
  EXPECT_EQ(parsed.Value("dux_duration_seconds_count"), 4);
  EXPECT_EQ(parsed.Family("dux_running")->help, "Running now.\nSecond line \\.");
}

TEST(Metrics, LabelledHistogramsAndRefreshedGauges) {
  MetricsRegistry registry;
  auto& bytes =
      registry.AddHistogram("dux_bytes", "Sizes.", ExponentialBuckets(1024, 4, 3), {"kind"});
  bytes.With({"bucket"}).Observe(5000);
  bytes.With({"broadcast"}).Observe(1);
  // Same name, same kind: the same family.
  EXPECT_EQ(&registry.AddHistogram("dux_bytes", "Sizes.", {1}, {"kind"}), &bytes);
  auto& memory = registry.AddGauge("dux_memory_bytes", "Memory.");
  int refreshed = 0;
  registry.OnRender([&] { memory.Get().Set(++refreshed * 100.0); });
  registry.Render();
  PrometheusText parsed = ParseOrFail(registry.Render());
  EXPECT_EQ(parsed.Value("dux_memory_bytes"), 200);
  EXPECT_EQ(parsed.Value("dux_bytes_bucket", {{"kind", "bucket"}, {"le", "4096"}}), 0);
  EXPECT_EQ(parsed.Value("dux_bytes_bucket", {{"kind", "bucket"}, {"le", "16384"}}), 1);
  EXPECT_EQ(parsed.Value("dux_bytes_bucket", {{"kind", "broadcast"}, {"le", "1024"}}), 1);
  EXPECT_EQ(parsed.Value("dux_bytes_count", {{"kind", "broadcast"}}), 1);
}

TEST(Metrics, ConcurrentUpdatesAreAllCounted) {
  MetricsRegistry registry;
  auto& counter = registry.AddCounter("dux_n_total", "N.", {"thread"});
  auto& histogram = registry.AddHistogram("dux_h", "H.", {1});
  auto& gauge = registry.AddGauge("dux_g", "G.");
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        counter.With({t % 2 == 0 ? "even" : "odd"}).Increment();
        histogram.Get().Observe(i % 2);
        gauge.Get().Add(1);
        gauge.Get().Subtract(1);
        if (i % 1000 == 0) registry.Render();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  PrometheusText parsed = ParseOrFail(registry.Render());
  EXPECT_EQ(parsed.Sum("dux_n_total"), 40000);
  EXPECT_EQ(parsed.Value("dux_h_count"), 40000);
  EXPECT_EQ(parsed.Value("dux_h_sum"), 20000);
  EXPECT_EQ(parsed.Value("dux_g"), 0);
}

}  // namespace
}  // namespace dux
