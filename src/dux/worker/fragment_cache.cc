#include "dux/worker/fragment_cache.h"

#include <sys/stat.h>

#include <variant>

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
    struct stat st {};
    if (file.find("://") != std::string::npos || ::stat(file.c_str(), &st) != 0) {
      return std::nullopt;
    }
    key += '\0' + file + '\0' + std::to_string(st.st_size) + ':' +
           std::to_string(st.st_mtim.tv_sec) + '.' + std::to_string(st.st_mtim.tv_nsec);
  }
  return key;
}

std::optional<CompiledFragment> FragmentCache::Find(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  entries_.splice(entries_.begin(), entries_, it->second);
  return it->second->second;
}

void FragmentCache::Put(const std::string& key, CompiledFragment compiled) {
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->second = std::move(compiled);
    entries_.splice(entries_.begin(), entries_, it->second);
    return;
  }
  entries_.emplace_front(key, std::move(compiled));
  index_[key] = entries_.begin();
  while (entries_.size() > capacity_) {
    index_.erase(entries_.back().first);
    entries_.pop_back();
  }
}

}  // namespace dux::worker
