#include "dux/worker/bucket_chunk_source.h"

#include <algorithm>
#include <cstring>

namespace dux::worker {

Result<bool> BucketMessages::NextHead(v1::BucketChunk* head) {
  DUX_ASSIGN_OR_RETURN(bool more, next_(&chunk_));
  if (!more) return false;
  offset_ = 0;
  head->set_exchange_id(chunk_.exchange_id());
  head->set_bucket(chunk_.bucket());
  head->set_last(chunk_.last());
  head->set_lease_id(chunk_.lease_id());
  head->clear_data();
  return true;
}

Result<size_t> BucketMessages::ReadData(void* data, size_t size) {
  size_t n = std::min(size, chunk_.data().size() - offset_);
  std::memcpy(data, chunk_.data().data() + offset_, n);
  offset_ += n;
  return n;
}

}  // namespace dux::worker
