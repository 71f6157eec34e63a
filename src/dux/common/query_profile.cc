#include "dux/common/query_profile.h"

#include <algorithm>
#include <cstdlib>
#include <map>

namespace dux {

namespace {

std::optional<double> Measurement(const Event& e, const char* key) {
  auto it = e.measurements.find(key);
  if (it == e.measurements.end()) return std::nullopt;
  return it->second;
}

std::optional<int64_t> Count(const Event& e, const char* key) {
  auto m = Measurement(e, key);
  if (!m) return std::nullopt;
  return static_cast<int64_t>(*m);
}

std::string Metadata(const Event& e, const char* key) {
  auto it = e.metadata.find(key);
  return it == e.metadata.end() ? std::string() : it->second;
}

std::vector<int64_t> ParseNumbers(const std::string& text) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    std::string one = text.substr(start, comma == std::string::npos ? comma : comma - start);
    char* end = nullptr;
    long long value = std::strtoll(one.c_str(), &end, 10);
    out.push_back(end && *end == '\0' && !one.empty() ? value : 0);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

void KeepLarger(std::optional<int64_t>* peak, const std::optional<int64_t>& value) {
  if (value) *peak = std::max(peak->value_or(*value), *value);
}

// A sum of figures some of which may be unknown: unknown once any is.
class KnownSum {
 public:
  void Add(const std::optional<int64_t>& value) {
    if (value) {
      total_ += *value;
    } else {
      missing_ = true;
    }
    any_ = true;
  }
  std::optional<int64_t> value() const {
    if (!any_ || missing_) return std::nullopt;
    return total_;
  }

 private:
  int64_t total_ = 0;
  bool any_ = false, missing_ = false;
};

// A stage's workers, peaks, rows out and rows in, from its tasks (rows from the attempts that
// succeeded). A stage that reads an exchange takes in the exchange's rows; one without tasks
// (final) takes in what `previous`, the run's last worker stage, put out.
void Aggregate(StageProfile* stage, const StageProfile* previous) {
  std::map<std::string, size_t> by_address;
  std::vector<KnownSum> worker_in, worker_out;
  KnownSum rows_in, rows_out;
  for (const auto& t : stage->tasks) {
    auto [it, added] = by_address.emplace(t.address, stage->workers.size());
    if (added) {
      WorkerProfile w;
      w.address = t.address;
      stage->workers.push_back(std::move(w));
      worker_in.emplace_back();
      worker_out.emplace_back();
    }
    WorkerProfile& w = stage->workers[it->second];
    ++w.partitions;
    w.busy_seconds += t.end - t.start;
    w.bytes += t.bytes;
    KeepLarger(&w.peak_memory_bytes, t.peak_memory_bytes);
    KeepLarger(&w.spill_bytes, t.spill_bytes);
    KeepLarger(&stage->peak_memory_bytes, t.peak_memory_bytes);
    KeepLarger(&stage->spill_bytes, t.spill_bytes);
    if (t.status != "ok") continue;
    if (t.partial_aggregation == "kept") ++stage->partial_aggregation_kept;
    if (t.partial_aggregation == "skipped") ++stage->partial_aggregation_skipped;
    worker_in[it->second].Add(t.rows_in);
    worker_out[it->second].Add(t.rows_out);
    rows_in.Add(t.rows_in);
    rows_out.Add(t.rows_out);
  }
  for (size_t i = 0; i < stage->workers.size(); ++i) {
    stage->workers[i].rows_in = worker_in[i].value();
    stage->workers[i].rows_out = worker_out[i].value();
  }
  if (rows_out.value()) stage->rows_out = rows_out.value();
  if (stage->buckets) {
    int64_t total = 0;
    for (int64_t r : stage->buckets->rows) total += r;
    stage->rows_in = total;
  } else if (stage->tasks.empty()) {
    if (previous) stage->rows_in = previous->rows_out;
  } else {
    stage->rows_in = rows_in.value();
  }
  if (stage->kind == "broadcast") stage->rows_in = stage->rows_out;
}

}  // namespace

BucketSizes ParseBucketSizes(const std::string& bucket_rows, const std::string& bucket_bytes) {
  BucketSizes sizes;
  sizes.rows = ParseNumbers(bucket_rows);
  if (!bucket_bytes.empty()) sizes.bytes = ParseNumbers(bucket_bytes);
  if (sizes.rows.empty()) return sizes;
  std::vector<int64_t> sorted = sizes.rows;
  std::sort(sorted.begin(), sorted.end());
  sizes.largest = sorted.back();
  sizes.median = sorted[sorted.size() / 2];
  if (sizes.median > 0) {
    sizes.skew = static_cast<double>(sizes.largest) / static_cast<double>(sizes.median);
  }
  return sizes;
}

StageProfile* QueryProfile::FindStage(const std::string& name) {
  // The latest stage of that name: a name is unique within a run, and a later run reuses it.
  for (auto it = run_.stages.rbegin(); it != run_.stages.rend(); ++it) {
    if (it->name == name) return &*it;
  }
  return nullptr;
}

PartitionProfile* QueryProfile::FindRunning(StageProfile* stage, const std::string& task,
                                            const std::string& address) {
  if (!stage) return nullptr;
  for (auto it = stage->tasks.rbegin(); it != stage->tasks.rend(); ++it) {
    if (!it->ended && it->task == task && it->address == address) return &*it;
  }
  return nullptr;
}

void QueryProfile::Record(const Event& event) {
  auto now = std::chrono::steady_clock::now();
  double seconds = 0;
  {
    std::lock_guard lock(mu_);
    if (!first_) first_ = now;
    seconds = std::chrono::duration<double>(now - *first_).count();
  }
  RecordAt(event, seconds);
}

void QueryProfile::RecordAt(const Event& event, double seconds) {
  std::lock_guard lock(mu_);
  if (!first_) first_ = std::chrono::steady_clock::now();
  last_ = std::max(last_, seconds);
  const std::string& name = event.name;
  std::string stage_name = Metadata(event, "stage");
  if (name == "stage.start") {
    StageProfile stage;
    stage.name = stage_name;
    stage.kind = Metadata(event, "kind");
    stage.partitions = Count(event, "partitions").value_or(0);
    stage.start = seconds;
    if (auto read = reads_.find(stage.name); read != reads_.end()) {
      stage.keys = std::move(read->second.keys);
      stage.buckets = std::move(read->second.buckets);
      stage.skewed = std::move(read->second.skewed);
      reads_.erase(read);
    }
    run_.stages.push_back(std::move(stage));
  } else if (name == "stage.stop") {
    StageProfile* stage = FindStage(stage_name);
    if (!stage) return;
    stage->end = seconds;
    stage->ended = true;
    stage->status = Metadata(event, "status");
    if (auto rows = Count(event, "rows")) stage->rows_out = rows;
    stage->bytes = Count(event, "bytes").value_or(0);
    std::string bucket_rows = Metadata(event, "bucket_rows");
    if (!bucket_rows.empty()) {
      ExchangeProfile exchange;
      exchange.from = stage_name;
      exchange.into = Metadata(event, "exchange");
      exchange.rows = Count(event, "rows").value_or(0);
      exchange.bytes = stage->bytes;
      exchange.buckets = ParseBucketSizes(bucket_rows, Metadata(event, "bucket_bytes"));
      run_.exchanges.push_back(std::move(exchange));
    }
  } else if (name == "partition.start") {
    StageProfile* stage = FindStage(stage_name);
    if (!stage) return;
    PartitionProfile p;
    p.task = Metadata(event, "task");
    p.address = Metadata(event, "address");
    p.attempt = static_cast<int>(Count(event, "attempt").value_or(0));
    p.start = seconds;
    stage->tasks.push_back(std::move(p));
    std::string address = Metadata(event, "address");
    if (std::find(run_.addresses.begin(), run_.addresses.end(), address) == run_.addresses.end()) {
      run_.addresses.push_back(address);
    }
  } else if (name == "partition.progress") {
    PartitionProfile* p =
        FindRunning(FindStage(stage_name), Metadata(event, "task"), Metadata(event, "address"));
    if (!p) return;
    p->percentage = Measurement(event, "percentage");
    KeepLarger(&p->rows_in, Count(event, "rows_processed"));
  } else if (name == "distributed.worker.stop") {
    PartitionProfile* p =
        FindRunning(FindStage(stage_name), Metadata(event, "task"), Metadata(event, "address"));
    if (!p) return;
    p->end = seconds;
    p->ended = true;
    p->status = Metadata(event, "status");
    p->rows_out = Count(event, "rows");
    KeepLarger(&p->rows_in, Count(event, "rows_processed"));
    // To the coordinator, and for a shuffle to the other workers.
    p->bytes = Count(event, "ipc_bytes").value_or(0) + Count(event, "exchanged_bytes").value_or(0);
    p->peak_memory_bytes = Count(event, "peak_memory_bytes");
    p->spill_bytes = Count(event, "spill_bytes");
    p->partial_aggregation = Metadata(event, "partial_aggregation");
    p->rows_per_group = Measurement(event, "rows_per_group");
  } else if (name == "partition.retry") {
    if (StageProfile* stage = FindStage(stage_name)) ++stage->retries;
  } else if (name == "partition.speculate") {
    if (StageProfile* stage = FindStage(stage_name)) ++stage->speculated;
  } else if (name == "partition.speculate.stop") {
    StageProfile* stage = FindStage(stage_name);
    if (stage && Metadata(event, "winner") == "speculative") ++stage->speculation_won;
  } else if (name == "distributed.shuffle.stop") {
    // The stage that reads the exchange starts afterwards.
    ExchangeRead& read = reads_[stage_name];
    read.keys = Metadata(event, "keys");
    read.buckets = ParseBucketSizes(Metadata(event, "bucket_rows"), "");
  } else if (name == "distributed.shuffle.skew_detected") {
    reads_[stage_name].skewed.push_back(
        {Count(event, "bucket").value_or(0), Count(event, "rows").value_or(0),
         Count(event, "median_rows").value_or(0), Count(event, "split_into").value_or(1)});
  } else if (name == "query.stop") {
    run_.rows = Count(event, "rows");
  }
}

RunProfile QueryProfile::Profile() const {
  std::lock_guard lock(mu_);
  RunProfile run = run_;
  run.seconds = last_;
  const StageProfile* previous = nullptr;  // the last worker stage of the run itself
  for (auto& stage : run.stages) {
    Aggregate(&stage, previous);
    bool nested = stage.name.rfind("broadcast ", 0) == 0 && stage.kind != "broadcast";
    if (!nested && stage.kind != "broadcast" && stage.kind != "final") previous = &stage;
  }
  // The result's rows: what the final stage put out, else the last stage's.
  for (auto it = run.stages.rbegin(); it != run.stages.rend(); ++it) {
    if (it->kind == "final" && it->rows_out) {
      run.rows = it->rows_out;
      break;
    }
  }
  return run;
}

ProfileSubscription::ProfileSubscription(Telemetry* telemetry, QueryProfile* profile)
    : telemetry_(telemetry),
      id_(telemetry->Subscribe([profile](const Event& e) { profile->Record(e); })) {}

ProfileSubscription::~ProfileSubscription() { telemetry_->Unsubscribe(id_); }

}  // namespace dux
