// The strict Prometheus text parser: what it accepts, and each malformation it must reject
// (a parser that accepted everything would let every /metrics test pass).
#include "prometheus_text.h"

#include <gtest/gtest.h>

namespace dux::test {
namespace {

const char* const kGood =
    "# HELP dux_runs_total Runs, by status.\n"
    "# TYPE dux_runs_total counter\n"
    "dux_runs_total{status=\"ok\"} 3\n"
    "dux_runs_total{status=\"a \\\"q\\\" \\\\ \\n\"} 1\n"
    "# a comment\n"
    "# TYPE dux_up gauge\n"
    "dux_up 1\n"
    "# HELP dux_seconds Durations.\n"
    "# TYPE dux_seconds histogram\n"
    "dux_seconds_bucket{le=\"0.5\"} 1\n"
    "dux_seconds_bucket{le=\"1\"} 2\n"
    "dux_seconds_bucket{le=\"+Inf\"} 3\n"
    "dux_seconds_sum 4.25\n"
    "dux_seconds_count 3\n";

TEST(PrometheusText, ParsesFamiliesSamplesAndEscapes) {
  std::string error;
  auto text = PrometheusText::Parse(kGood, &error);
  ASSERT_TRUE(text) << error;
  EXPECT_EQ(text->Value("dux_runs_total", {{"status", "ok"}}), 3);
  EXPECT_EQ(text->Value("dux_runs_total", {{"status", "a \"q\" \\ \n"}}), 1);
  EXPECT_EQ(text->Sum("dux_runs_total"), 4);
  EXPECT_EQ(text->Value("dux_up"), 1);
  EXPECT_EQ(text->Value("dux_seconds_bucket", {{"le", "1"}}), 2);
  EXPECT_EQ(text->Value("dux_seconds_sum"), 4.25);
  EXPECT_EQ(text->Family("dux_seconds")->help, "Durations.");
  EXPECT_EQ(text->Family("dux_seconds")->type, "histogram");
  EXPECT_FALSE(text->Value("dux_up", {{"x", "y"}}));
}

// Each case replaces one line of kGood (or adds one) and must fail with `why` in the error.
struct Bad {
  std::string from, to, why;
};

TEST(PrometheusText, RejectsEachMalformation) {
  const std::vector<Bad> cases = {
      {"dux_up 1\n", "dux-up 1\n", "bad metric name"},
      {"dux_up 1\n", "dux_up{9x=\"a\"} 1\n", "bad label name"},
      {"dux_up 1\n", "dux_up{__x=\"a\"} 1\n", "bad label name"},
      {"dux_up 1\n", "dux_up{x=\"a\\t\"} 1\n", "bad escape"},
      {"dux_up 1\n", "dux_up{x=\"a} 1\n", "no closing quote"},
      {"dux_up 1\n", "dux_up{x=a} 1\n", "not quoted"},
      {"dux_up 1\n", "dux_up{x=\"a\",x=\"b\"} 1\n", "twice"},
      {"dux_up 1\n", "dux_up{x=\"a\",} 1\n", "comma"},
      {"dux_up 1\n", "dux_up one\n", "bad value"},
      {"dux_up 1\n", "dux_up 1 1700000000\n", "timestamp"},
      {"dux_up 1\n", "dux_up  1\n", "after the value"},
      {"dux_up 1\n", "dux_up 1\n\n", "blank line"},
      {"dux_up 1\n", "dux_up 1\ndux_down 1\n", "no # TYPE"},
      {"dux_up 1\n", "dux_up 1\ndux_runs_total{status=\"x\"} 1\n", "apart from"},
      {"dux_up 1\n", "dux_up 1\ndux_up 2\n", "duplicate series"},
      {"# TYPE dux_up gauge\n", "# TYPE dux_up gauge\n# TYPE dux_up gauge\n", "twice"},
      {"# TYPE dux_up gauge\n", "# TYPE dux_up gauges\n", "unknown type"},
      {"# TYPE dux_up gauge\n", "# TYPE dux_up counter\n", "_total"},
      {"dux_runs_total{status=\"ok\"} 3\n", "dux_runs_total{status=\"ok\"} -3\n", "negative"},
      {"dux_seconds_bucket{le=\"+Inf\"} 3\n", "", "+Inf"},
      {"dux_seconds_bucket{le=\"1\"} 2\n", "dux_seconds_bucket{le=\"1\"} 0\n", "cumulative"},
      {"dux_seconds_bucket{le=\"1\"} 2\n", "dux_seconds_bucket{le=\"0.25\"} 2\n", "increasing"},
      {"dux_seconds_count 3\n", "dux_seconds_count 4\n", "_count"},
      {"dux_seconds_sum 4.25\n", "", "_sum"},
      {"dux_seconds_sum 4.25\n", "dux_seconds_total 4.25\n", "no # TYPE"},
      {"dux_seconds_bucket{le=\"1\"} 2\n", "dux_seconds_bucket 2\n", "without le"},
      {"# HELP dux_seconds Durations.\n", "# HELP dux_seconds Dur\\ations.\n", "bad escape"},
  };
  for (const Bad& c : cases) {
    std::string text = kGood;
    size_t at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    std::string error;
    EXPECT_FALSE(PrometheusText::Parse(text, &error)) << "accepted: " << c.to;
    EXPECT_NE(error.find(c.why), std::string::npos) << c.to << " -> " << error;
  }
  std::string error;
  EXPECT_FALSE(PrometheusText::Parse("# TYPE dux_up gauge\ndux_up 1", &error));
  EXPECT_NE(error.find("newline"), std::string::npos) << error;
}

}  // namespace
}  // namespace dux::test
