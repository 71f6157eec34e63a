#include "dux/cli/stop_signals.h"

#include <cstdint>
#include <ctime>

namespace dux::cli {

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

void WaitForStop(const sigset_t& set) {
  int signal = 0;
  sigwait(&set, &signal);
}

bool StopSignalWithin(const sigset_t& set, std::chrono::milliseconds wait) {
  timespec timeout{static_cast<time_t>(wait.count() / 1000),
                   static_cast<long>(wait.count() % 1000) * 1'000'000};
  return sigtimedwait(&set, nullptr, &timeout) > 0;
}

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

}  // namespace dux::cli
