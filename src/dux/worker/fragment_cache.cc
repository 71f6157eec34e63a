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
  int pipelines = 0;  // joins and concat_rows nest pipelines, which may read tables
  pipeline::ForEachPipeline(p, [&](const pipeline::Pipeline&) { ++pipelines; });
  if (pipelines != 1) return std::nullopt;
  const auto* parquet = std::get_if<pipeline::ParquetSource>(&p.source().body);
  if (!parquet || parquet->files.empty()) return std::nullopt;
  std::string key;
  fragment.script().AppendToString(&key);
  fragment.adaptive_partial_aggregate().AppendToString(&key);
  for (const auto& file : parquet->files) {
    std::optional<std::string> identity = LocalFileIdentity(file);
    if (!identity) return std::nullopt;
    key += '\0' + *identity;
  }
  return key;
}

}  // namespace dux::worker
