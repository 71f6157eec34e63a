#include "dux/coordinator/speculation.h"

#include <algorithm>
#include <cmath>

namespace dux::coordinator {

StragglerWatch::StragglerWatch(SpeculationPolicy policy, size_t n_tasks)
    : policy_(policy), n_tasks_(n_tasks), started_(n_tasks) {}

void StragglerWatch::Started(size_t task, Clock::time_point at) {
  if (task < started_.size()) started_[task] = at;
}

void StragglerWatch::Finished(size_t task, Clock::time_point at) {
  if (task >= started_.size() || !started_[task]) return;
  finished_.push_back(std::chrono::duration<double>(at - *started_[task]).count());
  started_[task].reset();
}

std::optional<double> StragglerWatch::MedianSeconds() const {
  if (finished_.empty()) return std::nullopt;
  std::vector<double> sorted = finished_;
  std::sort(sorted.begin(), sorted.end());
  size_t n = sorted.size();
  return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

double StragglerWatch::ElapsedSeconds(size_t task, Clock::time_point now) const {
  if (task >= started_.size() || !started_[task]) return 0;
  return std::chrono::duration<double>(now - *started_[task]).count();
}

bool StragglerWatch::IsStraggler(size_t task, Clock::time_point now) const {
  if (!policy_.enabled || task >= started_.size() || !started_[task]) return false;
  // At least one finished peer, and the required fraction of the stage.
  auto needed = static_cast<size_t>(std::ceil(policy_.min_finished_fraction * double(n_tasks_)));
  if (finished_.empty() || finished_.size() < needed) return false;
  double elapsed = ElapsedSeconds(task, now);
  return elapsed > policy_.min_seconds && elapsed > policy_.multiplier * *MedianSeconds();
}

}  // namespace dux::coordinator
