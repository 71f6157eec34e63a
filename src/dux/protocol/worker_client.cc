#include "dux/protocol/worker_client.h"

#include <fmt/format.h>

namespace dux::protocol {

namespace {
constexpr const char* kBucketTablePrefix = "__dux_exchange_";
}  // namespace

std::string BucketTable(const std::string& exchange_id, int bucket) {
  return fmt::format("{}{}_{}", kBucketTablePrefix, exchange_id, bucket);
}

bool IsBucketTable(const std::string& table) { return table.rfind(kBucketTablePrefix, 0) == 0; }

}  // namespace dux::protocol
