// Prometheus metrics: counters, gauges and histograms, with optional labels, kept in a
// registry and rendered in the text exposition format 0.0.4 (what /metrics serves).
//
// In common/ rather than http/: the code that counts (a worker running fragments, the
// registry, a coordinator) must not need an HTTP server to do so, and rendering is text; the
// server that serves it is someone else's choice.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dux {

/// The Content-Type of the text exposition format.
constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds for durations in seconds: 5 ms to 10 min.
std::vector<double> DurationBuckets();
/// `count` bounds start, start*factor, start*factor^2, ...
std::vector<double> ExponentialBuckets(double start, double factor, int count);

/// A value that only goes up (e.g. fragments finished). Thread-safe.
class Counter {
 public:
  /// Adds `amount`, which must not be negative.
  void Increment(double amount = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

/// A value that goes up and down (e.g. fragments running). Thread-safe.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double amount);
  void Subtract(double amount) { Add(-amount); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

/// Observations counted into fixed buckets, with their sum (e.g. fragment durations).
/// Thread-safe.
class Histogram {
 public:
  /// `bounds`: the buckets' upper bounds, strictly increasing; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  ///< per bound, then +Inf: observations <= bound
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::vector<uint64_t> counts_;  ///< per bucket (not cumulative), +Inf last
  double sum_ = 0;
};

/// One metric name with its help and label names, and one series (a Counter, Gauge or
/// Histogram) per combination of label values, made on first use. Series live as long as the
/// registry: a reference to one may be kept. Thread-safe.
template <typename Series>
class Family {
 public:
  /// The series of these label values, one per label name, in the family's order.
  Series& With(const std::vector<std::string>& label_values);
  /// The series of a family without labels.
  Series& Get() { return With({}); }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  /// Each series' label values and the series, sorted by label values.
  void ForEach(
      const std::function<void(const std::vector<std::string>&, const Series&)>& visit) const;

 private:
  friend class MetricsRegistry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::function<std::unique_ptr<Series>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        make_(std::move(make)) {}

  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<Series>()> make_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Series>> series_;
};

/// The metrics of one process (or one component of it), and their rendering.
///
/// Names follow Prometheus' conventions: `dux_` first, `_total` for counters, base units
/// (`_seconds`, `_bytes`). A bad metric or label name, a label named `le` on a histogram, or
/// a name registered twice with another kind or labels is a programming error (a debug
/// check). Registering the same name again with the same kind returns the same family.
/// Thread-safe; families live as long as the registry.
class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<double> bounds,
                                  std::vector<std::string> label_names = {});

  /// `refresh` runs at the start of every Render, on the rendering thread, without the
  /// registry's lock: it sets gauges that are read rather than counted (memory in use,
  /// uptime). It must be thread-safe and must not call Render.
  void OnRender(std::function<void()> refresh);

  /// Every family, sorted by name, in the text exposition format 0.0.4: `# HELP`, `# TYPE`,
  /// then its series; label values escaped (\\, \", \n).
  std::string Render() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Entry {
    Kind kind = Kind::kCounter;
    std::vector<std::string> label_names;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
  };
  /// The family `name` in `slot` of its entry, made with `make` when new.
  template <typename Series>
  Family<Series>& Register(Kind kind, std::unique_ptr<Family<Series>> Entry::*slot,
                           const std::string& name, const std::string& help,
                           std::vector<std::string> label_names,
                           std::function<std::unique_ptr<Series>()> make);

  mutable std::mutex mutex_;
  std::map<std::string, Entry> families_;
  std::vector<std::function<void()>> refreshers_;
};

}  // namespace dux
