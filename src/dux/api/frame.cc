#include "dux/api/session.h"

namespace dux {

using pipeline::Pipeline;

Frame Frame::Filter(std::string predicate) const {
  return With([&](Pipeline& p) { p.Filter(std::move(predicate)); });
}
Frame Frame::Mutate(std::vector<std::pair<std::string, std::string>> columns) const {
  return With([&](Pipeline& p) { p.Mutate(std::move(columns)); });
}
Frame Frame::Select(std::vector<std::string> columns) const {
  return With([&](Pipeline& p) { p.Select(std::move(columns)); });
}
Frame Frame::Discard(std::vector<std::string> columns) const {
  return With([&](Pipeline& p) { p.Discard(std::move(columns)); });
}
Frame Frame::Rename(std::vector<std::pair<std::string, std::string>> renames) const {
  return With([&](Pipeline& p) { p.Rename(std::move(renames)); });
}
Frame Frame::DropNil(std::vector<std::string> columns) const {
  return With([&](Pipeline& p) { p.DropNil(std::move(columns)); });
}
Frame Frame::GroupBy(std::vector<std::string> columns) const {
  return With([&](Pipeline& p) { p.GroupBy(std::move(columns)); });
}
Frame Frame::Ungroup() const {
  return With([&](Pipeline& p) { p.Ungroup(); });
}
Frame Frame::Summarise(std::vector<std::pair<std::string, std::string>> aggregates) const {
  return With([&](Pipeline& p) { p.Summarise(std::move(aggregates)); });
}
Frame Frame::SortBy(std::vector<pipeline::SortKey> keys) const {
  return With([&](Pipeline& p) { p.SortBy(std::move(keys)); });
}
Frame Frame::Head(int64_t n) const {
  return With([&](Pipeline& p) { p.Head(n); });
}
Frame Frame::Slice(int64_t offset, int64_t length) const {
  return With([&](Pipeline& p) { p.Slice(offset, length); });
}
Frame Frame::Distinct(std::vector<std::string> columns) const {
  return With([&](Pipeline& p) { p.Distinct(std::move(columns)); });
}
Frame Frame::Join(const Frame& right, pipeline::JoinHow how, std::vector<pipeline::JoinKey> on,
                  std::string suffix) const {
  return With([&](Pipeline& p) { p.Join(right.pipeline_, how, std::move(on), std::move(suffix)); });
}
Frame Frame::AsofJoin(const Frame& right, pipeline::JoinKey by, pipeline::AsofCompare compare,
                      std::vector<pipeline::JoinKey> on, bool left, std::string suffix) const {
  return With([&](Pipeline& p) {
    p.AsofJoin(right.pipeline_, std::move(by), compare, std::move(on), left, std::move(suffix));
  });
}
Frame Frame::ConcatRows(const std::vector<Frame>& others) const {
  std::vector<Pipeline> pipelines;
  pipelines.reserve(others.size());
  for (const auto& f : others) pipelines.push_back(f.pipeline_);
  return With([&](Pipeline& p) { p.ConcatRows(std::move(pipelines)); });
}
Frame Frame::PivotWider(std::string names_from, std::vector<std::string> values_from) const {
  return With([&](Pipeline& p) { p.PivotWider(std::move(names_from), std::move(values_from)); });
}
Frame Frame::PivotLonger(std::vector<std::string> columns, std::string names_to,
                         std::string values_to) const {
  return With([&](Pipeline& p) {
    p.PivotLonger(std::move(columns), std::move(names_to), std::move(values_to));
  });
}

Result<exec::Table> Frame::Compute() const { return session_->Compute(pipeline_); }

Result<std::vector<std::vector<pipeline::Value>>> Frame::ToRows() const {
  DUX_ASSIGN_OR_RETURN(exec::Table t, Compute());
  return std::move(t.rows);
}

Result<std::vector<std::pair<std::string, std::vector<pipeline::Value>>>> Frame::ToColumns() const {
  DUX_ASSIGN_OR_RETURN(exec::Table t, Compute());
  std::vector<std::pair<std::string, std::vector<pipeline::Value>>> out;
  auto columns = t.ToColumns();
  for (size_t c = 0; c < columns.size(); ++c) {
    out.emplace_back(t.schema.columns[c].name, std::move(columns[c]));
  }
  return out;
}

Result<int64_t> Frame::NumRows() const { return session_->NumRows(pipeline_); }
Result<exec::Table> Frame::Peek(int64_t n) const { return Head(n).Compute(); }
Result<std::string> Frame::Explain() const { return session_->Explain(pipeline_); }

Result<exec::WriteReport> Frame::ToParquet(pipeline::ToParquetSink sink) const {
  Pipeline p = pipeline_;
  return session_->Write(p.ToParquet(std::move(sink)));
}
Result<exec::WriteReport> Frame::ToCsv(pipeline::ToCsvSink sink) const {
  Pipeline p = pipeline_;
  return session_->Write(p.ToCsv(std::move(sink)));
}
Result<exec::WriteReport> Frame::ToNdjson(std::string path) const {
  Pipeline p = pipeline_;
  return session_->Write(p.ToNdjson(std::move(path)));
}
Result<exec::WriteReport> Frame::ToArrow(pipeline::ToArrowSink sink) const {
  Pipeline p = pipeline_;
  return session_->Write(p.ToArrow(std::move(sink)));
}
Result<exec::WriteReport> Frame::InsertInto(std::string table, bool create, bool atomic) const {
  Pipeline p = pipeline_;
  return session_->Write(p.InsertInto(std::move(table), create, atomic));
}

}  // namespace dux
