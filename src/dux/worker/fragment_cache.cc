#include "dux/worker/fragment_cache.h"

#include <variant>

#include "dux/common/file_identity.h"

namespace dux::worker {

std::optional<std::string> FragmentCache::KeyOf(const v1::Fragment& fragment,
                                                const pipeline::Script& script) {
  if (fragment.has_shuffle() || fragment.has_postgres_insert()) return std::nullopt;
  if (!script.attachments.empty() || !script.s3.empty()) return std::nullopt;
  const pipeline::Pipeline& p = script.pipeline;
  if (p.sink()) return std::nullopt;
  std::string key;
  fragment.script().AppendToString(&key);
  fragment.adaptive_partial_aggregate().AppendToString(&key);
  // Every pipeline, a join's side or a concat_rows frame as much as the fragment's own, reads
  // listed local parquet files: a side read from a table (a broadcast the coordinator
  // registered, a bucket) or found by a glob at compile time has no key.
  bool keyed = true;
  pipeline::ForEachPipeline(p, [&](const pipeline::Pipeline& each) {
    const auto* parquet = std::get_if<pipeline::ParquetSource>(&each.source().body);
    if (!keyed || !parquet || parquet->files.empty()) {
      keyed = false;
      return;
    }
    for (const auto& file : parquet->files) {
      std::optional<std::string> identity = LocalFileIdentity(file);
      if (!identity) {
        keyed = false;
        return;
      }
      key += '\0' + *identity;
    }
  });
  if (!keyed) return std::nullopt;
  return key;
}

}  // namespace dux::worker
