#include "dux/protocol/worker_client.h"

#include <fmt/format.h>

namespace dux::protocol {

std::string BucketTable(const std::string& exchange_id, int bucket) {
  return fmt::format("__dux_exchange_{}_{}", exchange_id, bucket);
}

}  // namespace dux::protocol
