#include "dux/s3_filesystem/chunk_callback.h"

#include <memory>
#include <utility>

#include "client_context_internal.h"
#include "duckdb/common/exception.hpp"
#include "duckdb/common/types/column/column_data_collection.hpp"
#include "duckdb/execution/operator/helper/physical_result_collector.hpp"
#include "duckdb/execution/physical_plan_generator.hpp"
#include "duckdb/main/client_config.hpp"
#include "duckdb/main/materialized_query_result.hpp"
#include "duckdb/main/prepared_statement_data.hpp"
#include "duckdb/parallel/task_scheduler.hpp"

namespace dux::s3_filesystem {

namespace {

// What the sink reports back.
struct Outcome {
  std::function<Status(duckdb_data_chunk)> each;
  Status status;
  int64_t rows = 0;
  bool collected = false;
};

// The collector: Sink lends each chunk to the callback, in order (not a parallel sink). Its
// result is empty: the rows went to the callback.
class CallbackCollector final : public duckdb::PhysicalResultCollector {
 public:
  CallbackCollector(duckdb::PhysicalPlan& plan, duckdb::PreparedStatementData& data,
                    Outcome* outcome)
      : PhysicalResultCollector(plan, data), outcome_(outcome) {}

  duckdb::unique_ptr<duckdb::GlobalSinkState> GetGlobalSinkState(
      duckdb::ClientContext& context) const override {
    auto state = duckdb::make_uniq<State>();
    state->context = &context;
    return state;
  }

  duckdb::SinkResultType Sink(duckdb::ExecutionContext&, duckdb::DataChunk& chunk,
                              duckdb::OperatorSinkInput&) const override {
    // Flat, as a streaming result's copy of the chunk is: the pipeline's chunk may hold
    // dictionary vectors (the rows a filter selected), and duckdb_data_chunk_to_arrow's
    // lossless BOOLEAN (Int8) ignores their selection (exec/arrow_export_test.cc). Flat
    // vectors stay as they are; the others are copied.
    chunk.Flatten();
    // The C API's chunk handle is the C++ chunk (duckdb/main/capi/capi_internal.hpp).
    Status status = outcome_->each(reinterpret_cast<duckdb_data_chunk>(&chunk));
    if (!status.ok()) {
      outcome_->status = std::move(status);
      throw duckdb::InterruptException();  // ends the query; the status says why
    }
    outcome_->rows += static_cast<int64_t>(chunk.size());
    return duckdb::SinkResultType::NEED_MORE_INPUT;
  }

  bool ParallelSink() const override { return false; }
  bool SinkOrderDependent() const override { return true; }

  duckdb::unique_ptr<duckdb::QueryResult> GetResult(duckdb::GlobalSinkState& state) override {
    auto& s = state.Cast<State>();
    auto empty = duckdb::make_uniq<duckdb::ColumnDataCollection>(
        duckdb::Allocator::DefaultAllocator(), types);
    return duckdb::make_uniq<duckdb::MaterializedQueryResult>(
        statement_type, properties, names, std::move(empty), s.context->GetClientProperties());
  }

 private:
  struct State : duckdb::GlobalSinkState {
    duckdb::ClientContext* context = nullptr;
  };
  Outcome* outcome_;
};

}  // namespace

struct ChunkCallbackScope::State {
  ClientContextOf context;
  duckdb::get_result_collector_t before;
  Outcome outcome;
  explicit State(duckdb_connection connection) : context(connection) {}
};

bool RunsOneThread(duckdb_connection connection) {
  ClientContextOf context(connection);
  return context && duckdb::TaskScheduler::GetScheduler(context.get()).NumberOfThreads() == 1;
}

ChunkCallbackScope::ChunkCallbackScope(duckdb_connection connection,
                                       std::function<Status(duckdb_data_chunk)> each)
    : state_(std::make_unique<State>(connection)) {
  state_->outcome.each = std::move(each);
  if (!state_->context) return;
  auto& config = state_->context.get().config;
  state_->before = std::move(config.get_result_collector);
  Outcome* outcome = &state_->outcome;
  config.get_result_collector =
      [outcome](duckdb::ClientContext&,
                duckdb::PreparedStatementData& data) -> duckdb::PhysicalOperator& {
    outcome->collected = true;
    return data.physical_plan->Make<CallbackCollector>(data, outcome);
  };
}

ChunkCallbackScope::~ChunkCallbackScope() {
  if (state_->context)
    state_->context.get().config.get_result_collector = std::move(state_->before);
}

bool ChunkCallbackScope::collected() const { return state_->outcome.collected; }
int64_t ChunkCallbackScope::rows() const { return state_->outcome.rows; }
const Status& ChunkCallbackScope::status() const { return state_->outcome.status; }

}  // namespace dux::s3_filesystem
