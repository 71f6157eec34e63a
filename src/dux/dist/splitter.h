// The splitter (DESIGN.md section 4): which verbs of a pipeline run on the workers, each on
// its partition, and which run on the coordinator over the gathered rows. The base split is
// always correct: the workers run the leading row-wise verbs (the scan stage) and the
// coordinator runs everything after them exactly as a local run would. Named rules then
// move more work onto the workers where that keeps the result exact; each can be switched
// off (ClusterOptions::disabled_rules) and is tested on its own.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/pipeline/pipeline.h"
#include "dux/sql/binder.h"

namespace dux::dist {

struct SplitRule {
  const char* name;
  const char* description;
};

/// Every rule, in the order they are tried.
const std::vector<SplitRule>& SplitRules();

struct Split {
  /// What each partition runs: the source and the verbs pushed to the workers.
  pipeline::Pipeline worker;
  /// What the coordinator runs on the gathered rows, in order (the sink aside).
  std::vector<pipeline::Op> finish;
  /// The rules that moved work onto the workers, in order, for explain.
  std::vector<std::string> applied;
};

/// Splits `pipeline` (without its sink). `binder` parses expressions; `verb_schemas` are
/// the schemas after each verb from the coordinator's own compile of `pipeline`
/// (sql::CompiledQuery::verb_schemas). Rules named in `disabled` are not applied.
Result<Split> SplitPipeline(sql::Binder* binder, const pipeline::Pipeline& pipeline,
                            const std::vector<pipeline::Schema>& verb_schemas,
                            const std::set<std::string>& disabled = {});

}  // namespace dux::dist
