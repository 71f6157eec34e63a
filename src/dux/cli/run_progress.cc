#include "dux/cli/run_progress.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace dux::cli {

namespace {

double Measurement(const Event& event, const char* name, double fallback = 0) {
  auto it = event.measurements.find(name);
  return it == event.measurements.end() ? fallback : it->second;
}

std::string Metadata(const Event& event, const char* name) {
  auto it = event.metadata.find(name);
  return it == event.metadata.end() ? "" : it->second;
}

std::string Bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[unit]);
}

std::string Duration(double seconds) {
  auto s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

double Seconds(RunProgress::Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

RunProgress::Stage& RunProgress::StageNamed(const std::string& name, const std::string& kind,
                                            Clock::time_point now) {
  for (Stage& stage : stages_) {
    if (stage.name == name) return stage;
  }
  Stage stage;
  stage.name = name;
  stage.kind = kind.empty() ? name : kind;
  stage.started = now;
  // A coordinator without stage events announces only the first stage's partitions.
  if (stages_.empty()) stage.total = first_stage_partitions_;
  stages_.push_back(std::move(stage));
  current_ = static_cast<int>(stages_.size()) - 1;
  return stages_.back();
}

void RunProgress::Done(Stage& stage) {
  if (!stage.complete && stage.total >= 0 && stage.done >= stage.total) {
    stage.complete = true;
    ++stages_complete_;
  }
}

void RunProgress::Add(const Event& event, Clock::time_point now) {
  const std::string& name = event.name;
  if (name == "stage.start") {
    Stage& stage = StageNamed(Metadata(event, "stage"), Metadata(event, "kind"), now);
    stage.kind = Metadata(event, "kind").empty() ? stage.kind : Metadata(event, "kind");
    stage.total = static_cast<int64_t>(Measurement(event, "partitions", -1));
    stage.started = now;
    current_ = static_cast<int>(&stage - stages_.data());
    Done(stage);
  } else if (name == "stage.stop") {
    Stage& stage = StageNamed(Metadata(event, "stage"), Metadata(event, "kind"), now);
    stage.running.clear();
    // A stage that ends well has done all its partitions (the coordinator's own final stage
    // has no worker to report them).
    if (Metadata(event, "status") == "ok" && stage.total >= 0) {
      stage.done = std::max(stage.done, stage.total);
      Done(stage);
    }
  } else if (name == "partition.progress") {
    Stage& stage = StageNamed(Metadata(event, "stage"), "", now);
    stage.running[Metadata(event, "task")] =
        std::clamp(Measurement(event, "percentage"), 0.0, 100.0);
  } else if (name == "distributed.worker.stop") {
    Stage& stage = StageNamed(Metadata(event, "stage"), "", now);
    const std::string task = Metadata(event, "task");
    stage.running.erase(task);
    const bool ok = Metadata(event, "status") == "ok";
    const bool again =
        ok && stage.speculated.count(task) > 0 && !stage.speculated_done.insert(task).second;
    if (ok && !again) {
      ++stage.done;
      rows_ += Measurement(event, "rows");
      bytes_ += Measurement(event, "ipc_bytes");
      Done(stage);
    }
  } else if (name == "partition.retry") {
    ++retries_;
  } else if (name == "partition.speculate") {
    ++speculated_;
    StageNamed(Metadata(event, "stage"), "", now).speculated.insert(Metadata(event, "task"));
  } else if (name == "distributed.broadcast.stop" || name == "distributed.shuffle.stop") {
    bytes_ += Measurement(event, "bytes");
  } else if (name == "distributed.fan_out.start") {
    first_stage_partitions_ = static_cast<int64_t>(Measurement(event, "n_partitions", -1));
  }
}

std::string RunProgress::Counts() const {
  if (current_ < 0) return "";
  const Stage& stage = stages_[static_cast<size_t>(current_)];
  std::string line = fmt::format("dux: {} (stage {}): ", stage.kind, current_ + 1);
  if (stage.total == 0) {
    line += "on the coordinator";  // e.g. the finishing query over the gathered rows
  } else if (stage.total > 0) {
    line += fmt::format("{}/{} partitions", std::min(stage.done, stage.total), stage.total);
  } else {
    line += fmt::format("{} partitions done", stage.done);
  }
  line += fmt::format(", {:.0f} rows, {}", rows_, Bytes(bytes_));
  if (retries_ > 0) line += fmt::format(", {} {}", retries_, retries_ == 1 ? "retry" : "retries");
  if (speculated_ > 0) line += fmt::format(", {} speculated", speculated_);
  return line;
}

std::string RunProgress::Line(Clock::time_point now) const {
  if (current_ < 0) return "";
  const Stage& stage = stages_[static_cast<size_t>(current_)];
  std::string line = Counts() + ", " + Duration(Seconds(now - start_)) + " elapsed";
  if (stage.total > 0 && !stage.complete) {
    double partial = 0;
    for (const auto& [task, percentage] : stage.running) partial += percentage / 100;
    double fraction = std::min(
        1.0, (static_cast<double>(stage.done) + partial) / static_cast<double>(stage.total));
    double spent = Seconds(now - stage.started);
    // Too little done (or too soon) says nothing of the rest.
    if (fraction >= 0.02 && spent >= 0.5) {
      line += ", ~" + Duration(spent * (1 - fraction) / fraction) + " left";
    }
  }
  return line;
}

}  // namespace dux::cli
