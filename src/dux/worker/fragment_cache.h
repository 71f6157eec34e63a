// Compiled fragments a worker keeps between queries (docs/cluster.md, "Fragment cache"): a
// repeated query's fragment runs the SQL compiled the first time, without binding its verbs
// again or sampling its partition for adaptive partial aggregation. The key is the fragment
// as sent (without its query and lease ids) and the identity of every file it reads, so a
// changed file compiles afresh.
#pragma once

#include <cstddef>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "dux/pipeline/pipeline.h"
#include "dux/v1/worker.pb.h"
#include "dux/worker/partial_aggregation.h"

namespace dux::worker {

/// What a fragment compiled to: the SQL it runs and, with adaptive partial aggregation,
/// the decision its sample gave.
struct CompiledFragment {
  std::string sql;
  std::optional<PartialAggregationDecision> partial_aggregation;
};

/// Thread-safe; holds at most `capacity` fragments, dropping the least recently used.
class FragmentCache {
 public:
  explicit FragmentCache(size_t capacity = 256) : capacity_(capacity) {}

  /// The key of a fragment whose rows come back to the caller (no shuffle, no PostgreSQL
  /// insert) and whose `script` reads local parquet files only, each found by stat: its
  /// path, size and modification time. nullopt for any other fragment: its compile depends on
  /// more than its text and files (attached databases, tables, S3 objects, Arrow files).
  static std::optional<std::string> KeyOf(const v1::Fragment& fragment,
                                          const pipeline::Script& script);

  std::optional<CompiledFragment> Find(const std::string& key);
  void Put(const std::string& key, CompiledFragment compiled);

 private:
  using Entries = std::list<std::pair<std::string, CompiledFragment>>;  // most recent first
  const size_t capacity_;
  std::mutex mutex_;
  Entries entries_;
  std::map<std::string, Entries::iterator> index_;
};

}  // namespace dux::worker
