// ProgressDisplay: the progress line of a distributed `dux run` on stderr, fed by the
// session's telemetry (docs/observability.md, "Progress line").
#pragma once

#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dux/cli/run_progress.h"
#include "dux/common/telemetry.h"

namespace dux::cli {

/// How the progress of a distributed run shows.
enum class ProgressMode {
  kNone,
  kTerminal,  ///< one line rewritten in place (\r), cleared at the end
  kLines,     ///< a plain line per change, at most one a second (and each stage's last)
};

/// kNone with `quiet`; kLines with `forced` (--progress); else kTerminal when stderr is a
/// terminal and `telemetry` (JSON lines on stderr) is off; else kNone.
ProgressMode ChooseProgressMode(bool quiet, bool forced, bool telemetry);

/// Subscribed to `telemetry` while it lives; writes to `out` from its own thread and from
/// the threads that emit. Destroy it before `telemetry`.
class ProgressDisplay {
 public:
  /// Null for kNone.
  static std::unique_ptr<ProgressDisplay> Start(ProgressMode mode, Telemetry* telemetry,
                                                FILE* out = stderr);
  ~ProgressDisplay();
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

  /// The result starts to be written on stdout: a terminal line stops (and is cleared) when
  /// stdout is a terminal too, so that rows and line do not mix. Lines go on.
  void OutputStarts();

 private:
  ProgressDisplay(ProgressMode mode, Telemetry* telemetry, FILE* out);
  void OnEvent(const Event& event);
  void Tick();
  /// Writes the current line when due (or `now_due`); mutex_ held.
  void ShowLocked(bool now_due);
  void StopLocked();

  const ProgressMode mode_;
  Telemetry* telemetry_;
  FILE* out_;
  std::mutex mutex_;
  std::condition_variable wake_;
  RunProgress progress_;
  std::string shown_;         ///< the last line written
  std::string shown_counts_;  ///< its counts (RunProgress::Counts)
  RunProgress::Clock::time_point shown_at_{};
  int stages_complete_ = 0;
  bool stopped_ = false;
  int subscription_ = -1;
  std::thread ticker_;  // last: it uses the rest
};

}  // namespace dux::cli
