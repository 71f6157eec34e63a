#include "dux/common/unique_id.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>

namespace dux {

std::string UniqueId(char prefix) {
  static std::atomic<uint64_t> counter{0};
  auto now = std::chrono::system_clock::now().time_since_epoch();
  char out[64];
  std::snprintf(
      out, sizeof(out), "%c%" PRIx64 "-%x-%" PRIu64, prefix,
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now).count()),
      static_cast<unsigned>(getpid()), counter++);
  return out;
}

}  // namespace dux
