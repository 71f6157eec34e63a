#include "dux/cli/progress_display.h"

#include <unistd.h>

namespace dux::cli {

namespace {

// How often a terminal line is redrawn (its elapsed time moves), and how often a plain
// line may be written at most.
constexpr auto kTerminalInterval = std::chrono::milliseconds(200);
constexpr auto kLinesInterval = std::chrono::seconds(1);

}  // namespace

ProgressMode ChooseProgressMode(bool quiet, bool forced, bool telemetry) {
  if (quiet) return ProgressMode::kNone;
  if (forced) return ProgressMode::kLines;
  if (!telemetry && isatty(STDERR_FILENO)) return ProgressMode::kTerminal;
  return ProgressMode::kNone;
}

std::unique_ptr<ProgressDisplay> ProgressDisplay::Start(ProgressMode mode, Telemetry* telemetry,
                                                        FILE* out) {
  if (mode == ProgressMode::kNone) return nullptr;
  return std::unique_ptr<ProgressDisplay>(new ProgressDisplay(mode, telemetry, out));
}

ProgressDisplay::ProgressDisplay(ProgressMode mode, Telemetry* telemetry, FILE* out)
    : mode_(mode), telemetry_(telemetry), out_(out), progress_(RunProgress::Clock::now()) {
  subscription_ = telemetry_->Subscribe([this](const Event& event) { OnEvent(event); });
  ticker_ = std::thread([this] { Tick(); });
}

ProgressDisplay::~ProgressDisplay() {
  telemetry_->Unsubscribe(subscription_);
  {
    std::lock_guard lock(mutex_);
    // The last state, unless it was written already (a plain line per change).
    if (!stopped_ && mode_ == ProgressMode::kLines) ShowLocked(true);
    StopLocked();
  }
  wake_.notify_all();
  ticker_.join();
}

void ProgressDisplay::OutputStarts() {
  if (mode_ != ProgressMode::kTerminal || !isatty(STDOUT_FILENO)) return;
  {
    std::lock_guard lock(mutex_);
    StopLocked();
  }
  wake_.notify_all();
}

void ProgressDisplay::StopLocked() {
  if (stopped_) return;
  stopped_ = true;
  if (mode_ == ProgressMode::kTerminal && !shown_.empty()) {
    std::fputs("\r\033[K", out_);
    std::fflush(out_);
  }
}

void ProgressDisplay::OnEvent(const Event& event) {
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  progress_.Add(event, RunProgress::Clock::now());
  // Each stage's last count shows, however soon it comes after the previous line.
  bool stage_ended = progress_.stages_complete() > stages_complete_;
  stages_complete_ = progress_.stages_complete();
  ShowLocked(stage_ended);
}

void ProgressDisplay::ShowLocked(bool now_due) {
  auto now = RunProgress::Clock::now();
  std::string line = progress_.Line(now);
  if (line.empty()) return;
  if (mode_ == ProgressMode::kTerminal) {
    if (line == shown_ || (!now_due && now - shown_at_ < kTerminalInterval)) return;
    std::fprintf(out_, "\r%s\033[K", line.c_str());
  } else {
    // A plain line is news when the counts moved, not the clock.
    std::string counts = progress_.Counts();
    if (counts == shown_counts_ || (!now_due && now - shown_at_ < kLinesInterval)) return;
    std::fprintf(out_, "%s\n", line.c_str());
    shown_counts_ = counts;
  }
  std::fflush(out_);
  shown_ = line;
  shown_at_ = now;
}

void ProgressDisplay::Tick() {
  std::unique_lock lock(mutex_);
  while (!stopped_) {
    wake_.wait_for(lock, kTerminalInterval);
    if (!stopped_) ShowLocked(false);
  }
}

}  // namespace dux::cli
