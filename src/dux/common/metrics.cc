#include "dux/common/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cmath>

namespace dux {

std::vector<double> DurationBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> bounds;
  bounds.reserve(count);
  for (double bound = start; static_cast<int>(bounds.size()) < count; bound *= factor) {
    bounds.push_back(bound);
  }
  return bounds;
}

void Counter::Increment(double amount) {
  assert(amount >= 0 && "a counter only goes up");
  value_.fetch_add(amount, std::memory_order_relaxed);
}

void Gauge::Add(double amount) { value_.fetch_add(amount, std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  assert(std::is_sorted(bounds_.begin(), bounds_.end()) &&
         std::adjacent_find(bounds_.begin(), bounds_.end()) == bounds_.end() &&
         "histogram bounds must be strictly increasing");
}

void Histogram::Observe(double value) {
  // The first bucket whose bound is >= value ("le"); past the last: +Inf.
  size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  std::lock_guard<std::mutex> lock(mutex_);
  ++counts_[bucket];
  sum_ += value;
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.bounds = bounds_;
  std::lock_guard<std::mutex> lock(mutex_);
  snapshot.cumulative.reserve(counts_.size());
  uint64_t running = 0;
  for (uint64_t count : counts_) {
    running += count;
    snapshot.cumulative.push_back(running);
  }
  snapshot.sum = sum_;
  snapshot.count = running;
  return snapshot;
}

template <typename Series>
Series& Family<Series>::With(const std::vector<std::string>& label_values) {
  assert(label_values.size() == label_names_.size() && "one value per label name");
  std::lock_guard<std::mutex> lock(mutex_);
  std::unique_ptr<Series>& series = series_[label_values];
  if (!series) series = make_();
  return *series;
}

template <typename Series>
void Family<Series>::ForEach(
    const std::function<void(const std::vector<std::string>&, const Series&)>& visit) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [labels, series] : series_) visit(labels, *series);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

namespace {

[[maybe_unused]] bool ValidName(const std::string& name, bool colons) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colons && c == ':');
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// A sample value as Prometheus writes it: integers without a fraction, +Inf, -Inf, NaN.
std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

// The text format's escapes: \\ and \n, and \" in a label value (`quote`); not in HELP.
std::string Escape(const std::string& text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// {a="x",b="y"} with `extra` (already escaped: le="0.5") last; empty without labels.
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     const std::string& extra = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += (out.empty() ? "" : ",") + names[i] + "=\"" + Escape(values[i], /*quote=*/true) + "\"";
  }
  if (!extra.empty()) out += (out.empty() ? "" : ",") + extra;
  return out.empty() ? "" : "{" + out + "}";
}

template <typename Series>
void RenderHeader(const Family<Series>& family, const char* type, std::string& out) {
  out += "# HELP " + family.name() + " " + Escape(family.help(), /*quote=*/false) + "\n";
  out += "# TYPE " + family.name() + " " + type + "\n";
}

template <typename Series>
void RenderScalar(const Family<Series>& family, const char* type, std::string& out) {
  RenderHeader(family, type, out);
  family.ForEach([&](const std::vector<std::string>& labels, const Series& series) {
    out += family.name() + LabelSet(family.label_names(), labels) + " " +
           FormatValue(series.value()) + "\n";
  });
}

void RenderHistogram(const Family<Histogram>& family, std::string& out) {
  RenderHeader(family, "histogram", out);
  const std::string& name = family.name();
  family.ForEach([&](const std::vector<std::string>& labels, const Histogram& histogram) {
    Histogram::Snapshot s = histogram.Read();
    for (size_t i = 0; i < s.cumulative.size(); ++i) {
      std::string le = i < s.bounds.size() ? FormatValue(s.bounds[i]) : "+Inf";
      out += name + "_bucket" + LabelSet(family.label_names(), labels, "le=\"" + le + "\"") + " " +
             std::to_string(s.cumulative[i]) + "\n";
    }
    std::string set = LabelSet(family.label_names(), labels);
    out += name + "_sum" + set + " " + FormatValue(s.sum) + "\n";
    out += name + "_count" + set + " " + std::to_string(s.count) + "\n";
  });
}

}  // namespace

template <typename Series>
Family<Series>& MetricsRegistry::Register(Kind kind, std::unique_ptr<Family<Series>> Entry::*slot,
                                          const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names,
                                          std::function<std::unique_ptr<Series>()> make) {
  assert(ValidName(name, true) && "bad metric name");
  for (const std::string& label : label_names) {
    assert(ValidName(label, false) && label.rfind("__", 0) != 0 && "bad label name");
    assert(!(kind == Kind::kHistogram && label == "le") && "le is a histogram's own label");
    (void)label;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  auto [it, added] = families_.try_emplace(name);
  Entry& entry = it->second;
  if (added) {
    entry.kind = kind;
    entry.label_names = label_names;
  }
  assert(entry.kind == kind && entry.label_names == label_names &&
         "a metric registered twice with another kind or labels");
  std::unique_ptr<Family<Series>>& family = entry.*slot;
  if (!family) {
    family.reset(new Family<Series>(name, help, std::move(label_names), std::move(make)));
  }
  return *family;
}

Family<Counter>& MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                             std::vector<std::string> label_names) {
  return Register<Counter>(Kind::kCounter, &Entry::counter, name, help, std::move(label_names),
                           [] { return std::make_unique<Counter>(); });
}

Family<Gauge>& MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                                         std::vector<std::string> label_names) {
  return Register<Gauge>(Kind::kGauge, &Entry::gauge, name, help, std::move(label_names),
                         [] { return std::make_unique<Gauge>(); });
}

Family<Histogram>& MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                                 std::vector<double> bounds,
                                                 std::vector<std::string> label_names) {
  return Register<Histogram>(
      Kind::kHistogram, &Entry::histogram, name, help, std::move(label_names),
      [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); });
}

void MetricsRegistry::OnRender(std::function<void()> refresh) {
  std::lock_guard<std::mutex> lock(mutex_);
  refreshers_.push_back(std::move(refresh));
}

std::string MetricsRegistry::Render() const {
  std::vector<std::function<void()>> refreshers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    refreshers = refreshers_;
  }
  for (const auto& refresh : refreshers) refresh();
  std::string out;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [name, entry] : families_) {
    switch (entry.kind) {
      case Kind::kCounter:
        RenderScalar(*entry.counter, "counter", out);
        break;
      case Kind::kGauge:
        RenderScalar(*entry.gauge, "gauge", out);
        break;
      case Kind::kHistogram:
        RenderHistogram(*entry.histogram, out);
        break;
    }
  }
  return out;
}

}  // namespace dux
