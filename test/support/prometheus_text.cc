#include "prometheus_text.h"

#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>
#include <sstream>

namespace dux::test {

namespace {

bool IsMetricName(const std::string& name) {
  static const std::regex kName("[a-zA-Z_:][a-zA-Z0-9_:]*");
  return std::regex_match(name, kName);
}

bool IsLabelName(const std::string& name) {
  static const std::regex kName("[a-zA-Z_][a-zA-Z0-9_]*");
  return std::regex_match(name, kName) && name.rfind("__", 0) != 0;
}

std::optional<double> ParseValue(const std::string& text) {
  if (text == "+Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  static const std::regex kNumber(R"([+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?)");
  if (!std::regex_match(text, kNumber)) return std::nullopt;
  return std::strtod(text.c_str(), nullptr);
}

// Undoes \\ and \n (and \" when `quote`); nullopt on any other backslash sequence.
std::optional<std::string> Unescape(const std::string& text, bool quote) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (i + 1 == text.size()) return std::nullopt;
    char next = text[++i];
    if (next == '\\') {
      out += '\\';
    } else if (next == 'n') {
      out += '\n';
    } else if (next == '"' && quote) {
      out += '"';
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// Parses `name{a="x",b="y"} value` into `sample`; an error text, or empty.
std::string ParseSample(const std::string& line, PrometheusSample& sample) {
  size_t pos = line.find_first_of("{ ");
  if (pos == std::string::npos) return "a sample without a value";
  sample.name = line.substr(0, pos);
  if (!IsMetricName(sample.name)) return "bad metric name \"" + sample.name + "\"";
  if (line[pos] == '{') {
    ++pos;
    while (true) {
      if (pos < line.size() && line[pos] == '}') {
        if (!sample.labels.empty()) return "a comma before '}'";
        break;
      }
      size_t equals = line.find('=', pos);
      if (equals == std::string::npos) return "a label without '='";
      std::string label = line.substr(pos, equals - pos);
      if (!IsLabelName(label)) return "bad label name \"" + label + "\"";
      if (equals + 1 >= line.size() || line[equals + 1] != '"') {
        return "label " + label + ": the value is not quoted";
      }
      size_t end = equals + 2;
      std::string raw;
      while (end < line.size() && line[end] != '"') {
        if (line[end] == '\\' && end + 1 < line.size()) raw += line[end++];
        raw += line[end++];
      }
      if (end >= line.size()) return "label " + label + ": no closing quote";
      auto value = Unescape(raw, true);
      if (!value) return "label " + label + ": a bad escape in \"" + raw + "\"";
      if (!sample.labels.emplace(label, *value).second) return "label " + label + " twice";
      pos = end + 1;
      if (pos < line.size() && line[pos] == ',') {
        ++pos;
        if (pos < line.size() && line[pos] == '}') return "a comma before '}'";
        continue;
      }
      if (pos < line.size() && line[pos] == '}') break;
      return "expected ',' or '}' after label " + label;
    }
    ++pos;  // past '}'
  }
  if (pos >= line.size() || line[pos] != ' ') return "expected one space before the value";
  std::string rest = line.substr(pos + 1);
  if (rest.find(' ') != std::string::npos) return "a timestamp or text after the value";
  auto value = ParseValue(rest);
  if (!value) return "bad value \"" + rest + "\"";
  sample.value = *value;
  return "";
}

// The family a sample of `family` may be named for: the name, or a histogram's or summary's
// suffixed names. The suffix, or nullopt when `name` is not of `family`.
std::optional<std::string> SuffixIn(const PrometheusFamily& family, const std::string& name) {
  if (name == family.name) {
    if (family.type == "histogram") return std::nullopt;
    return "";
  }
  if (name.rfind(family.name, 0) != 0) return std::nullopt;
  std::string suffix = name.substr(family.name.size());
  if (family.type == "histogram" &&
      (suffix == "_bucket" || suffix == "_sum" || suffix == "_count")) {
    return suffix;
  }
  if (family.type == "summary" && (suffix == "_sum" || suffix == "_count")) return suffix;
  return std::nullopt;
}

std::string LabelsText(const std::map<std::string, std::string>& labels) {
  std::string out;
  for (const auto& [k, v] : labels) out += (out.empty() ? "" : ",") + k + "=\"" + v + "\"";
  return "{" + out + "}";
}

// The histogram rules for every series of `family`; an error text, or empty.
std::string CheckHistogram(const PrometheusFamily& family) {
  struct Series {
    std::vector<std::pair<double, double>> buckets;  // (le, count) in order written
    std::optional<double> sum, count;
  };
  std::map<std::map<std::string, std::string>, Series> series;
  for (const PrometheusSample& s : family.samples) {
    std::map<std::string, std::string> key = s.labels;
    std::string suffix = s.name.substr(family.name.size());
    if (suffix == "_bucket") {
      auto le = key.find("le");
      if (le == key.end()) return s.name + ": a bucket without le";
      auto bound = ParseValue(le->second);
      if (!bound) return s.name + ": bad le \"" + le->second + "\"";
      key.erase(le);
      series[key].buckets.emplace_back(*bound, s.value);
    } else {
      if (key.count("le")) return s.name + ": le on " + suffix;
      (suffix == "_sum" ? series[key].sum : series[key].count) = s.value;
    }
  }
  for (const auto& [labels, s] : series) {
    std::string where = family.name + LabelsText(labels);
    if (s.buckets.empty() || !std::isinf(s.buckets.back().first)) {
      return where + ": no le=\"+Inf\" bucket last";
    }
    for (size_t i = 1; i < s.buckets.size(); ++i) {
      if (!(s.buckets[i].first > s.buckets[i - 1].first)) return where + ": le not increasing";
      if (s.buckets[i].second < s.buckets[i - 1].second) {
        return where + ": bucket counts not cumulative";
      }
    }
    if (!s.sum || !s.count) return where + ": no _sum or no _count";
    if (*s.count != s.buckets.back().second) return where + ": _count is not the +Inf bucket";
  }
  return "";
}

}  // namespace

std::optional<PrometheusText> PrometheusText::Parse(const std::string& text, std::string* error) {
  PrometheusText result;
  auto fail = [&](int line, const std::string& why) {
    *error = "line " + std::to_string(line) + ": " + why;
    return std::nullopt;
  };
  if (!text.empty() && text.back() != '\n') return fail(0, "the text does not end in a newline");
  std::set<std::string> helped, sampled, series;
  PrometheusFamily* current = nullptr;
  std::istringstream in(text);
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.empty()) return fail(number, "a blank line");
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, keyword, name;
      words >> hash >> keyword >> name;
      if (hash != "#" || (keyword != "HELP" && keyword != "TYPE")) continue;  // a comment
      if (!IsMetricName(name)) return fail(number, "bad metric name \"" + name + "\"");
      std::string prefix = "# " + keyword + " " + name;
      if (line.rfind(prefix, 0) != 0) return fail(number, "not \"" + prefix + " ...\"");
      std::string rest = line.size() > prefix.size() ? line.substr(prefix.size()) : "";
      if (!rest.empty() && rest[0] != ' ') return fail(number, "no space after the name");
      if (!rest.empty()) rest = rest.substr(1);
      if (sampled.count(name)) return fail(number, keyword + " of " + name + " after its samples");
      PrometheusFamily& family = result.families_[name];
      family.name = name;
      if (keyword == "HELP") {
        if (!helped.insert(name).second) return fail(number, "HELP of " + name + " twice");
        auto help = Unescape(rest, false);
        if (!help) return fail(number, "a bad escape in the HELP of " + name);
        family.help = *help;
      } else {
        if (!family.type.empty()) return fail(number, "TYPE of " + name + " twice");
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (!kTypes.count(rest)) return fail(number, "unknown type \"" + rest + "\"");
        if (rest == "counter" &&
            (name.size() < 6 || name.compare(name.size() - 6, 6, "_total") != 0)) {
          return fail(number, "counter " + name + " does not end in _total");
        }
        family.type = rest;
        current = &family;
      }
      continue;
    }
    PrometheusSample sample;
    std::string why = ParseSample(line, sample);
    if (!why.empty()) return fail(number, why);
    std::optional<std::string> suffix;
    if (current != nullptr) suffix = SuffixIn(*current, sample.name);
    if (!suffix) {
      for (const auto& [name, family] : result.families_) {
        if (SuffixIn(family, sample.name) && sampled.count(name)) {
          return fail(number, sample.name + " apart from the other samples of " + name);
        }
      }
      return fail(number, sample.name + " has no # TYPE line before it");
    }
    if (current->type == "counter" && !(sample.value >= 0)) {
      return fail(number, "counter " + sample.name + " is negative or NaN");
    }
    if (!series.insert(sample.name + LabelsText(sample.labels)).second) {
      return fail(number, "duplicate series " + sample.name + LabelsText(sample.labels));
    }
    sampled.insert(current->name);
    current->samples.push_back(std::move(sample));
  }
  for (auto& [name, family] : result.families_) {
    if (family.type.empty()) return fail(number, name + " has HELP but no TYPE");
    if (family.type == "histogram") {
      std::string why = CheckHistogram(family);
      if (!why.empty()) return fail(number, why);
    }
  }
  return result;
}

const PrometheusFamily* PrometheusText::Family(const std::string& name) const {
  auto it = families_.find(name);
  return it == families_.end() ? nullptr : &it->second;
}

std::optional<double> PrometheusText::Value(
    const std::string& name, const std::map<std::string, std::string>& labels) const {
  for (const auto& [family_name, family] : families_) {
    for (const PrometheusSample& s : family.samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
  }
  return std::nullopt;
}

double PrometheusText::Sum(const std::string& name,
                           const std::map<std::string, std::string>& labels) const {
  double sum = 0;
  for (const auto& [family_name, family] : families_) {
    for (const PrometheusSample& s : family.samples) {
      if (s.name != name) continue;
      bool match = true;
      for (const auto& [k, v] : labels) {
        auto it = s.labels.find(k);
        match = match && it != s.labels.end() && it->second == v;
      }
      if (match) sum += s.value;
    }
  }
  return sum;
}

}  // namespace dux::test
