// Compiled fragments a worker keeps between queries (docs/cluster.md, "Fragment cache"): a
// repeated query's fragment runs the SQL compiled the first time, without binding its verbs
// again or sampling its partition for adaptive partial aggregation. The key is the fragment
// as sent (without its query and lease ids) and the identity of every file it reads, so a
// changed file compiles afresh.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "dux/common/lru_cache.h"
#include "dux/pipeline/pipeline.h"
#include "dux/sql/table_references.h"
#include "dux/v1/worker.pb.h"
#include "dux/worker/partial_aggregation.h"

namespace dux::worker {

/// What a fragment compiled to: the SQL it runs, the tables and table functions that SQL
/// names (checked against each later fragment's lease), and, with adaptive partial
/// aggregation, the decision its sample gave.
struct CompiledFragment {
  std::string sql;
  sql::TableReferences references;
  std::optional<PartialAggregationDecision> partial_aggregation;
};

/// The fragments a worker keeps: thread-safe, at most `capacity`, the least recently used
/// dropped first.
class FragmentCache : public LruCache<CompiledFragment> {
 public:
  explicit FragmentCache(size_t capacity = 256) : LruCache(capacity) {}

  /// The key of a fragment whose rows come back to the caller (no shuffle, no PostgreSQL
  /// insert) and whose `script` reads local parquet files only, in each of its pipelines (a
  /// join's side read from its files too), each file found by stat: its path, size and
  /// modification time. nullopt for any other fragment: its compile depends on more than its
  /// text and files (attached databases, tables, S3 objects, Arrow files).
  static std::optional<std::string> KeyOf(const v1::Fragment& fragment,
                                          const pipeline::Script& script);
};

}  // namespace dux::worker
