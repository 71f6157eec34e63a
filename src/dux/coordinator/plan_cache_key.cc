#include "dux/coordinator/plan_cache_key.h"

#include <utility>
#include <variant>

#include "dux/common/file_identity.h"
#include "dux/coordinator/partitioner.h"
#include "dux/exec/output_target.h"
#include "dux/pipeline/proto_mapping.h"

namespace dux::coordinator {

namespace {

// The identities of the files a parquet source reads, or nullopt when it is not local
// parquet without hive partitioning.
std::optional<std::string> SourceFiles(const pipeline::Pipeline& p, sql::Binder* binder) {
  const auto* parquet = std::get_if<pipeline::ParquetSource>(&p.source().body);
  if (!parquet || parquet->hive_partitioning || exec::IsUrl(parquet->path)) return std::nullopt;
  std::vector<std::string> files = parquet->files;
  if (files.empty()) {
    auto globbed = GlobFiles(binder, parquet->path);
    if (!globbed.ok()) return std::nullopt;  // the planning reports it
    files = std::move(globbed).value();
  }
  std::string key;
  for (const auto& file : files) {
    std::optional<std::string> identity = LocalFileIdentity(file);
    if (!identity) return std::nullopt;
    key += '\0' + *identity;
  }
  return key + '\1';
}

}  // namespace

std::optional<std::string> PlanCacheKey(const pipeline::Script& script,
                                        const ClusterOptions& cluster, sql::Binder* binder) {
  if (!script.attachments.empty() || !script.s3.empty() || script.pipeline.sink()) {
    return std::nullopt;
  }
  v1::Script proto;
  pipeline::ToProto(script, &proto);
  std::string key = proto.SerializeAsString();
  for (const auto& worker : cluster.workers) key += '\0' + worker->address();
  for (const auto& rule : cluster.disabled_rules) key += '\0' + ("-" + rule);
  for (int64_t option : {cluster.final_on_workers_groups, cluster.broadcast_threshold,
                         cluster.small_side_bytes, cluster.skew_floor_rows}) {
    key += '\0' + std::to_string(option);
  }
  bool local = true;
  pipeline::ForEachPipeline(script.pipeline, [&](const pipeline::Pipeline& p) {
    if (!local) return;
    std::optional<std::string> files = SourceFiles(p, binder);
    if (files) {
      key += *files;
    } else {
      local = false;
    }
  });
  if (!local) return std::nullopt;
  return key;
}

}  // namespace dux::coordinator
