// A strict parser of the Prometheus text exposition format 0.0.4, for tests of /metrics:
// every line must parse, and what a scraper would accept silently but a careful exporter
// never writes is an error too.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dux::test {

/// One sample: `name{labels} value`.
struct PrometheusSample {
  std::string name;                           ///< as written, e.g. "dux_x_bucket"
  std::map<std::string, std::string> labels;  ///< values unescaped
  double value = 0;
};

/// One family: its `# TYPE` (counter, gauge, histogram, summary, untyped), `# HELP` and
/// samples in the order written.
struct PrometheusFamily {
  std::string name;
  std::string type;
  std::string help;  ///< unescaped
  std::vector<PrometheusSample> samples;
};

/// A parsed exposition. Parse rejects, with the line number and why:
/// - a line that is not a comment, `# HELP`, `# TYPE` or a sample; a blank line;
/// - a bad metric or label name, a label name starting with "__", a repeated label;
/// - a label value with a bad escape (only \\, \" and \n) or without its closing quote;
/// - a value that is not a float (Go's ParseFloat: digits, exponent, +Inf, -Inf, NaN);
///   a timestamp (dux writes none);
/// - a sample with no `# TYPE` before it for its family, or not next to its family's other
///   samples; `# TYPE` or `# HELP` twice for one name, or after its samples; an unknown type;
/// - a counter sample whose name does not end in `_total` or is negative;
/// - a histogram: samples other than _bucket/_sum/_count, a series without the `le="+Inf"`
///   bucket, `le` not increasing, counts not cumulative, _count not the +Inf bucket's value,
///   a bucket without `le`;
/// - two samples with the same name and labels (a duplicate series);
/// - text not ending in a newline.
class PrometheusText {
 public:
  /// The parsed text, or nullopt with `*error` ("line N: why").
  static std::optional<PrometheusText> Parse(const std::string& text, std::string* error);

  const std::map<std::string, PrometheusFamily>& families() const { return families_; }

  /// The value of the sample `name` (e.g. "dux_x_total", "dux_y_bucket") with exactly these
  /// labels, or nullopt.
  std::optional<double> Value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const;
  /// The sum of the samples `name` whose labels include `labels` (e.g. every status).
  double Sum(const std::string& name, const std::map<std::string, std::string>& labels = {}) const;
  /// The family of `name`, or nullptr.
  const PrometheusFamily* Family(const std::string& name) const;

 private:
  std::map<std::string, PrometheusFamily> families_;
};

}  // namespace dux::test
