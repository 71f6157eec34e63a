// The splitter (docs/architecture.md section 4): which verbs of a pipeline run on the workers, each
// on its partition, and which run on the coordinator over the gathered rows. The base split is
// always correct: the workers run the leading row-wise verbs (the scan stage) and the
// coordinator runs everything after them exactly as a local run would. Named rules then
// move more work onto the workers where that keeps the result exact; each can be switched
// off (ClusterOptions::disabled_rules) and is tested on its own.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/pipeline/pipeline.h"
#include "dux/sql/binder.h"

namespace dux::coordinator {

struct SplitRule {
  const char* name;
  const char* description;
};

/// Every rule, in the order they are tried.
const std::vector<SplitRule>& SplitRules();

/// A hash exchange after the workers' part: every row goes to the worker that owns the
/// bucket of its `keys`, and each owner runs `ops` on the rows of its buckets. Rows of one
/// group thus meet on one worker, which computes the group's result alone.
struct HashStage {
  std::vector<std::string> keys;
  std::vector<pipeline::Op> ops;
  /// The rule that asked for it (for explain).
  std::string rule;
  /// When not empty, the DuckDB type each key is cast to before hashing (a join's keys,
  /// cast to the type both sides compare in).
  std::vector<std::string> key_types;
  /// Buckets per worker; bucket b is owned by worker b % n_workers.
  int buckets_per_worker = 1;
};

/// How gathered partial aggregates fold as they arrive, before the final verbs: grouped by
/// `keys`, each partial column merged by its own lattice aggregate (`columns`: name, SQL),
/// which gives partials of the same shape.
struct Fold {
  std::vector<std::string> keys;
  std::vector<std::pair<std::string, std::string>> columns;
  /// Each summarise result (name, SQL over the partial columns) computed from the one row
  /// per group that the fold leaves: FinishingPipeline reads these from the folded table in
  /// place of the finish's leading group_by and summarise, with no second aggregation. Empty
  /// when some result has no such form.
  std::vector<std::pair<std::string, std::string>> one_row_finals;
};

struct Split {
  /// What each partition runs: the source and the verbs pushed to the workers.
  pipeline::Pipeline worker;
  /// How many of the worker's verbs are the scan stage (row-wise, before any rule's).
  size_t scan_ops = 0;
  /// When set, the workers' rows go through this exchange before the gather.
  std::optional<HashStage> hash_stage;
  /// When set, the gather folds the workers' partial aggregates this way as they arrive.
  std::optional<Fold> fold;
  /// What the coordinator runs on the gathered rows, in order (the sink aside).
  std::vector<pipeline::Op> finish;
  /// The rules that moved work onto the workers, in order, for explain.
  std::vector<std::string> applied;
  /// When partial_aggregate applied with groups (and adaptive_partial_aggregate is not
  /// disabled): one expression per aggregate of the workers' final summarise, in order, that
  /// gives the partial of one row over the summarise's input, for a worker that skips its
  /// partial aggregate (v1::AdaptivePartialAggregate). Empty when some partial has none.
  std::vector<std::string> row_partials;
};

/// Whether `op` maps each row on its own, so that the scan stage may hold it.
bool RowWiseVerb(sql::Binder* binder, const pipeline::Op& op);

/// The columns of `input` that `ops` read, in input order; nothing when they may read all
/// (or `ops` is empty: the result keeps every column).
std::optional<std::vector<std::string>> ColumnsRead(sql::Binder* binder,
                                                    const pipeline::Schema& input,
                                                    const std::vector<pipeline::Op>& ops);

/// Moves a partial_aggregate's final verbs (the first verbs of `split->finish`, up to and
/// including the final summarise) behind a hash exchange on its group keys, so that each
/// worker finalises its own groups. False (nothing changed) when the split has no grouped
/// partial aggregate.
bool FinishAggregateOnWorkers(Split* split);

/// Splits `pipeline` (without its sink). `binder` parses expressions; `verb_schemas` are
/// the schemas after each verb from the coordinator's own compile of `pipeline`
/// (sql::CompiledQuery::verb_schemas). Rules named in `disabled` are not applied.
/// `local_joins` are the indices of joins that each partition can run on its own rows (a
/// broadcast right side, or buckets exchanged on the keys): the scan stage goes on past them.
Result<Split> SplitPipeline(sql::Binder* binder, const pipeline::Pipeline& pipeline,
                            const std::vector<pipeline::Schema>& verb_schemas,
                            const std::set<std::string>& disabled = {},
                            const std::set<size_t>& local_joins = {});

}  // namespace dux::coordinator
