#include "dux/worker/partial_aggregation.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "dux/common/group_estimate.h"
#include "dux/sql/group_sample.h"
#include "dux/sql/quote.h"

namespace dux::worker {

PartialAggregationDecision DecidePartialAggregation(const PartialAggregationSample& sample) {
  if (sample.rows <= 0 || sample.groups <= 0) return {false, 0};
  double rows = static_cast<double>(sample.rows);
  double groups = static_cast<double>(sample.groups);
  double rows_per_group = rows / groups;  // the whole partition was seen
  if (sample.rows >= kPartialAggregationSampleRows) {
    double total = std::max(static_cast<double>(sample.input_rows), rows);
    rows_per_group = total / std::max(GroupsFromSample(groups, rows, total), groups);
  }
  return {rows_per_group < kMinRowsPerGroup, rows_per_group};
}

Result<pipeline::Pipeline> RowPartialsPipeline(const pipeline::Pipeline& partial,
                                               const pipeline::Schema& partial_schema,
                                               const std::vector<std::string>& row_partials) {
  const auto& ops = partial.ops();
  const auto* summarise =
      ops.empty() ? nullptr : std::get_if<pipeline::SummariseOp>(&ops.back().body);
  const auto* group =
      ops.size() < 2 ? nullptr : std::get_if<pipeline::GroupByOp>(&ops[ops.size() - 2].body);
  if (!summarise || !group) {
    return Status::InvalidArgument(
        "adaptive partial aggregation: the fragment does not end in group_by + summarise");
  }
  if (summarise->aggregates.size() != row_partials.size()) {
    return Status::InvalidArgument(
        fmt::format("adaptive partial aggregation: {} row partials for {} aggregates",
                    row_partials.size(), summarise->aggregates.size()));
  }
  pipeline::Pipeline rows(partial.source());
  for (size_t i = 0; i + 2 < ops.size(); ++i) rows.Append(ops[i]);
  pipeline::MutateOp partials;
  pipeline::SelectOp columns{group->columns};
  for (size_t i = 0; i < row_partials.size(); ++i) {
    const auto& aggregate = summarise->aggregates[i];
    auto at = partial_schema.Find(aggregate.name);
    if (!at) {
      return Status::InvalidArgument("adaptive partial aggregation: no partial called " +
                                     sql::QuoteIdentifier(aggregate.name));
    }
    partials.columns.push_back(
        {aggregate.name,
         {"CAST((" + row_partials[i] + ") AS " + partial_schema.columns[*at].type + ")",
          aggregate.expr.loc}});
    columns.columns.push_back(aggregate.name);
  }
  rows.Append(pipeline::Op{std::move(partials), ops.back().loc});
  rows.Append(pipeline::Op{std::move(columns), ops.back().loc});
  return rows;
}

namespace {

// The rows of the parquet files `source` reads, from their footers (a file read in part:
// its row ranges).
Result<int64_t> InputRows(exec::Connection& connection, const pipeline::ParquetSource& source) {
  std::vector<std::string> whole;
  int64_t ranged = 0;
  for (const auto& file : source.files) {
    bool in_part = false;
    for (const auto& r : source.row_ranges) {
      if (r.file != file) continue;
      in_part = true;
      ranged += r.end - r.begin;
    }
    if (!in_part) whole.push_back(file);
  }
  if (source.files.empty()) whole.push_back(source.path);
  if (whole.empty()) return ranged;
  std::string list;
  for (const auto& f : whole) list += (list.empty() ? "" : ", ") + sql::QuoteString(f);
  DUX_ASSIGN_OR_RETURN(sql::TextRows rows,
                       connection.QueryText("SELECT CAST(sum(num_rows) AS VARCHAR) FROM "
                                            "parquet_file_metadata([" +
                                            list + "])"));
  return ranged + std::stoll(rows[0][0].value_or("0"));
}

}  // namespace

Result<PartialAggregationChoice> ChoosePartialAggregation(
    engine::LocalEngine* engine, const pipeline::Pipeline& partial,
    const sql::CompiledQuery& compiled, const v1::AdaptivePartialAggregate& adaptive) {
  const auto* parquet = std::get_if<pipeline::ParquetSource>(&partial.source().body);
  if (!parquet) {
    return Status::InvalidArgument("adaptive partial aggregation: the fragment reads no parquet");
  }
  std::vector<std::string> row_partials(adaptive.row_partials().begin(),
                                        adaptive.row_partials().end());
  DUX_ASSIGN_OR_RETURN(pipeline::Pipeline rows,
                       RowPartialsPipeline(partial, compiled.schema, row_partials));
  const auto& keys = std::get<pipeline::GroupByOp>(partial.ops()[partial.ops().size() - 2].body);
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery rows_query, engine->Compile(rows));
  exec::Connection& connection = engine->connection();
  DUX_ASSIGN_OR_RETURN(sql::TextRows counted,
                       connection.QueryText(sql::CountGroupsOfFirstRows(
                           keys.columns, rows_query.Sql(), kPartialAggregationSampleRows)));
  PartialAggregationChoice choice;
  choice.sample.groups = std::stoll(counted[0][0].value_or("0"));
  choice.sample.rows = std::stoll(counted[0][1].value_or("0"));
  if (choice.sample.rows >= kPartialAggregationSampleRows) {
    DUX_ASSIGN_OR_RETURN(choice.sample.input_rows, InputRows(connection, *parquet));
  }
  choice.decision = DecidePartialAggregation(choice.sample);
  if (choice.decision.skip) {
    choice.query = std::move(rows_query);
  } else {
    // Compiled again: a compile replaces the previous one's inputs.
    DUX_ASSIGN_OR_RETURN(choice.query, engine->Compile(partial));
  }
  return choice;
}

}  // namespace dux::worker
