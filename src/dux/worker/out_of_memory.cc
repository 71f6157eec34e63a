#include "dux/worker/out_of_memory.h"

#include <fmt/format.h>

namespace dux::worker {

namespace {

constexpr const char* kDuckDbPrefix = "Out of Memory Error: ";

// DuckDB's message up to its first line break or the advice after its first sentence.
std::string FirstSentence(std::string message) {
  if (message.rfind(kDuckDbPrefix, 0) == 0) message.erase(0, std::string(kDuckDbPrefix).size());
  for (const char* end : {"\n", " This limit was set", " Possible solutions"}) {
    size_t at = message.find(end);
    if (at != std::string::npos) message.erase(at);
  }
  while (!message.empty() && (message.back() == ' ' || message.back() == '.')) message.pop_back();
  return message;
}

}  // namespace

Status ExplainOutOfMemory(const Status& s, const MemoryLimits& limits) {
  if (s.ok() || s.message().find(kDuckDbPrefix) == std::string::npos) return s;
  std::string detail = FirstSentence(s.message().substr(s.message().find(kDuckDbPrefix)));
  const std::string dir = limits.temp_directory.empty() ? "(none)" : limits.temp_directory;
  // DuckDB offloads a block to the temp directory to make room; failing that, it is full.
  if (s.message().find("failed to offload") != std::string::npos ||
      s.message().find("max_temp_directory_size") != std::string::npos) {
    return Status(StatusCode::kResourceExhausted,
                  fmt::format("out of memory: the temp directory {} is full "
                              "(--max-temp-size {}) beyond --memory-limit {}: {}",
                              dir, limits.max_temp_directory_size, limits.memory_limit, detail));
  }
  return Status(StatusCode::kResourceExhausted,
                fmt::format("out of memory: what must stay in memory at once is beyond "
                            "--memory-limit {} even with spilling to {}: {}",
                            limits.memory_limit, dir, detail));
}

}  // namespace dux::worker
