#include "runner.h"

#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "dux/exec/arrow_export.h"
#include "dux/pg/connection.h"
#include "dux/pipeline/language.h"
#include "dux/sql/quote.h"
#include "pg_server.h"

namespace dux::test {

namespace fs = std::filesystem;
using pipeline::Value;
using pipeline::ValueKind;

namespace {

// Runs in the session itself, or distributed from it when given workers.
class SessionExecutor : public Executor {
 public:
  SessionExecutor(std::string name, std::vector<std::shared_ptr<protocol::WorkerClient>> workers,
                  coordinator::ClusterOptions options = {})
      : name_(std::move(name)), workers_(std::move(workers)), options_(std::move(options)) {}
  std::string Name() const override { return name_; }
  Result<Outcome> Run(Session& session, const pipeline::Script& script) override {
    if (workers_.empty()) return RunHere(session, script);
    return OnWorkers(session, [&] { return RunHere(session, script); });
  }
  Result<std::optional<std::string>> SplitterRules(Session& session,
                                                   const pipeline::Script& script) override {
    if (workers_.empty()) return std::optional<std::string>();
    auto plan = OnWorkers(session, [&] { return session.Explain(script.pipeline); });
    DUX_RETURN_NOT_OK(plan.status());
    const std::string marker = "-- splitter rules applied: ";
    size_t at = plan->find(marker);
    if (at == std::string::npos) return Status::Internal("explain lists no splitter rules");
    at += marker.size();
    return std::optional<std::string>(plan->substr(at, plan->find('\n', at) - at));
  }

 private:
  // `work()` with the session distributing onto this executor's workers.
  template <typename Work>
  auto OnWorkers(Session& session, const Work& work) -> decltype(work()) {
    coordinator::ClusterOptions cluster = options_;
    cluster.workers = workers_;
    session.Distribute(std::move(cluster));
    auto result = work();
    session.RunLocally();
    return result;
  }

  static Result<Outcome> RunHere(Session& session, const pipeline::Script& script) {
    const auto& p = script.pipeline;
    Outcome out;
    if (p.sink()) {
      DUX_ASSIGN_OR_RETURN(exec::WriteReport report, session.Write(p));
      out.table.schema.columns = {{"rows", "BIGINT"}};
      out.table.rows = {{Value::Int(report.rows)}};
      return out;
    }
    // As a user's run reports it (Session::Stream traces a failing run back to its verb).
    DUX_RETURN_NOT_OK(session
                          .Stream(
                              p,
                              [&](const std::string& select, const pipeline::Schema& schema,
                                  bool ordered) -> Result<int64_t> {
                                DUX_ASSIGN_OR_RETURN(out.table,
                                                     session.connection().Query(select, schema));
                                out.ordered = ordered;
                                return static_cast<int64_t>(out.table.NumRows());
                              },
                              /*live=*/false)
                          .status());
    return out;
  }

  std::string name_;
  std::vector<std::shared_ptr<protocol::WorkerClient>> workers_;
  coordinator::ClusterOptions options_;
};

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

std::string Cell(const Value& v) {
  if (v.kind() == ValueKind::kString && v.text().empty()) return "(empty)";
  return v.ToString();
}

std::string RowText(const std::vector<Value>& row) {
  std::string out;
  for (size_t c = 0; c < row.size(); ++c) out += (c ? "\t" : "") + Cell(row[c]);
  return out;
}

// Floats compare to 1e-9 relative (docs/architecture.md section 1); everything else exactly.
bool SameValue(const Value& a, const Value& b) {
  if (a.kind() == ValueKind::kDouble && b.kind() == ValueKind::kDouble) {
    double x = a.double_value(), y = b.double_value();
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
    if (x == y) return true;
    return std::fabs(x - y) <= 1e-9 * std::max(std::fabs(x), std::fabs(y));
  }
  return a == b;
}

// Rows in a canonical order for comparing unordered results. Doubles count to 8 significant
// digits there: values equal to 1e-9 must not sort apart and misalign the rows compared.
void SortRows(std::vector<std::vector<Value>>* rows) {
  auto key = [](const std::vector<Value>& row) {
    std::string out;
    for (const Value& v : row) {
      out += (v.kind() == ValueKind::kDouble ? fmt::format("{:.8g}", v.double_value()) : Cell(v));
      out += '\t';
    }
    return out;
  };
  std::vector<std::pair<std::string, std::vector<Value>>> keyed;
  for (auto& row : *rows) keyed.emplace_back(key(row), std::move(row));
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < keyed.size(); ++i) (*rows)[i] = std::move(keyed[i].second);
}

struct Context {
  std::string file;
  int failures = 0;
};

void Fail(Context& ctx, const Record& r, const std::string& executor, const std::string& what) {
  ++ctx.failures;
  std::cerr << ctx.file << ":" << r.line << ": [" << executor << "] " << what << "\n";
}

// The column types and up to `max_rows` rows from row `from` on.
std::string Describe(const exec::Table& t, size_t from = 0, size_t max_rows = 20) {
  std::string out;
  for (const auto& c : t.schema.columns) out += c.name + " " + c.type + "\t";
  out += "\n";
  if (from > 0) out += fmt::format("... from row {}:\n", from);
  for (size_t i = from; i < t.rows.size() && i < from + max_rows; ++i) {
    out += RowText(t.rows[i]) + "\n";
  }
  if (t.rows.size() > from + max_rows) out += fmt::format("... {} rows\n", t.rows.size());
  return out;
}

bool NeedsSort(Context& ctx, const Record& r, const std::string& executor, bool ordered,
               size_t num_rows, bool* ok) {
  *ok = true;
  if (r.sort == SortMode::kRowSort) return true;
  if (r.sort == SortMode::kNoSort || ordered || num_rows <= 1) return false;
  Fail(ctx, r, executor,
       "multi-row result without an ordering verb: add sort_by or mark the record rowsort");
  *ok = false;
  return false;
}

void CheckExpectedRows(Context& ctx, const Record& r, const std::string& executor,
                       exec::Table table, bool ordered) {
  bool ok;
  if (NeedsSort(ctx, r, executor, ordered, table.rows.size(), &ok)) {
    SortRows(&table.rows);
  }
  if (!ok) return;
  std::vector<std::string> expected = r.expected;
  if (r.sort == SortMode::kRowSort) std::sort(expected.begin(), expected.end());
  std::vector<std::string> got;
  for (const auto& row : table.rows) got.push_back(RowText(row));
  if (got != expected) {
    std::string want;
    for (const auto& e : expected) want += e + "\n";
    Fail(ctx, r, executor, "wrong result\n--- expected\n" + want + "--- got\n" + Describe(table));
  }
}

void CheckOracle(Context& ctx, const Record& r, const std::string& executor, exec::Table got,
                 bool ordered, exec::Connection& oracle) {
  // DuckDB 1.4 pushes a join's runtime filter below LIMIT and TOP_N (duckdb/duckdb#22924):
  // an oracle that limits below a join would itself be wrong now and then. Without that
  // optimizer it is right; dux's own SQL stays clear of the defect by itself (JoinSide in
  // sql/compile_combining.cc) and is run as compiled.
  auto off = oracle.Execute("SET disabled_optimizers = 'join_filter_pushdown'");
  auto want = off.ok() ? oracle.Query(r.oracle_sql) : Result<exec::Table>(off.status());
  (void)oracle.Execute("RESET disabled_optimizers");
  if (!want.ok()) {
    Fail(ctx, r, executor, "oracle query failed: " + want.status().message());
    return;
  }
  if (got.schema != want->schema) {
    Fail(ctx, r, executor,
         "schema differs from the oracle\n--- oracle\n" + Describe(*want, 0) + "--- got\n" +
             Describe(got, 0));
    return;
  }
  bool ok;
  if (NeedsSort(ctx, r, executor, ordered, got.rows.size(), &ok)) {
    SortRows(&got.rows);
    SortRows(&want->rows);
  }
  if (!ok) return;
  bool same = got.rows.size() == want->rows.size();
  size_t first = 0;  // the first row that differs
  for (bool equal = true; equal && first < std::min(got.rows.size(), want->rows.size());) {
    for (size_t c = 0; equal && c < got.rows[first].size(); ++c) {
      equal = SameValue(got.rows[first][c], want->rows[first][c]);
    }
    if (equal) ++first;
    same = same && equal;
  }
  if (!same) {
    size_t from = first > 2 ? first - 2 : 0;
    Fail(ctx, r, executor,
         "result differs from the oracle\n--- oracle\n" + Describe(*want, from) + "--- got\n" +
             Describe(got, from));
  }
}

}  // namespace

std::unique_ptr<Executor> MakeLocalExecutor() {
  return std::make_unique<SessionExecutor>("local",
                                           std::vector<std::shared_ptr<protocol::WorkerClient>>{});
}

std::unique_ptr<Executor> MakeDistributedExecutor(
    std::vector<std::shared_ptr<protocol::WorkerClient>> workers, bool shuffle_joins,
    const std::string& kind) {
  std::string name = kind + "-" + std::to_string(workers.size());
  coordinator::ClusterOptions options;
  // Test data is small, so grouped aggregates would always be finalised on the coordinator;
  // on three workers they are always finalised on the workers instead, so that every file
  // exercises both paths.
  if (workers.size() >= 3) options.final_on_workers_groups = 0;
  // Likewise small broadcast sides are read by every worker (bare parquet sides) or by the
  // coordinator (others) on one and two workers, and gathered from the workers on three.
  if (workers.size() >= 3) options.small_side_bytes = 0;
  if (shuffle_joins) {
    options.broadcast_threshold = 0;
    // The skewed key of joins/distributed.test has about 8,000 rows: split it.
    options.skew_floor_rows = 1'000;
    name += "-shuffle";
  }
  return std::make_unique<SessionExecutor>(name, std::move(workers), std::move(options));
}

Status CopyTablesToWorkers(Session& session,
                           const std::vector<std::shared_ptr<protocol::WorkerClient>>& workers,
                           std::vector<std::string>* synced) {
  for (const auto& worker : workers) {
    for (const auto& table : *synced) {
      v1::DropTableRequest drop;
      drop.set_table(table);
      drop.set_if_exists(true);
      DUX_RETURN_NOT_OK(worker->DropTable(drop));
    }
  }
  synced->clear();
  DUX_ASSIGN_OR_RETURN(sql::TextRows tables,
                       session.connection().QueryText(
                           "SELECT table_name FROM duckdb_tables() WHERE database_name = "
                           "current_database() AND schema_name = 'main' AND NOT temporary"));
  for (const auto& row : tables) {
    const std::string& table = *row[0];
    arrow_ipc::StringOutputStream ipc;
    DUX_RETURN_NOT_OK(exec::WriteQueryIpc(session.connection(),
                                          "SELECT * FROM " + sql::QuoteIdentifier(table), &ipc, {})
                          .status());
    for (const auto& worker : workers) {
      arrow_ipc::StringInputStream in(ipc.bytes());
      DUX_RETURN_NOT_OK(worker->RegisterTable(table, "", &in).status());
    }
    synced->push_back(table);
  }
  return Status::OK();
}

namespace {

// The PostgreSQL server of every file that needs one, started by the first of them and
// stopped when the runner exits; null (with the reason) where none can start.
PgServer* SharedPostgres(std::string* why) {
  static std::unique_ptr<PgServer> server;
  static std::string error;
  static bool tried = false;
  if (!tried) {
    tried = true;
    server = PgServer::Start(&error);
  }
  *why = error;
  return server.get();
}

// A PostgreSQL database of one executor's run of a file, dropped afterwards.
class PostgresDatabase {
 public:
  static Result<std::unique_ptr<PostgresDatabase>> Create(PgServer* server) {
    static int counter = 0;
    auto db = std::unique_ptr<PostgresDatabase>(new PostgresDatabase());
    db->name_ = "e2e_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    DUX_ASSIGN_OR_RETURN(pg::Connection admin, pg::Connection::Open(server->ConnInfo()));
    db->admin_ = std::make_unique<pg::Connection>(std::move(admin));
    DUX_RETURN_NOT_OK(db->admin_->Execute("CREATE DATABASE " + db->name_).status());
    db->conninfo_ = server->ConnInfo(db->name_);
    DUX_ASSIGN_OR_RETURN(pg::Connection connection, pg::Connection::Open(db->conninfo_));
    db->connection_ = std::make_unique<pg::Connection>(std::move(connection));
    return db;
  }
  ~PostgresDatabase() {
    connection_.reset();
    if (admin_) (void)admin_->Execute("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }
  const std::string& conninfo() const { return conninfo_; }
  pg::Connection& connection() { return *connection_; }

 private:
  PostgresDatabase() = default;
  std::string name_;
  std::string conninfo_;
  std::unique_ptr<pg::Connection> admin_;
  std::unique_ptr<pg::Connection> connection_;
};

// PostgreSQL's text rows as a table of strings (NULL as NULL), for CheckExpectedRows.
exec::Table TextTable(const pg::TextRows& rows) {
  exec::Table table;
  for (const auto& row : rows) {
    std::vector<Value> values;
    values.reserve(row.size());
    for (const auto& cell : row) values.push_back(cell ? Value::String(*cell) : Value());
    table.rows.push_back(std::move(values));
  }
  return table;
}

// Runs every record with one executor, in a session, a __TEST_DIR__ and (when `postgres` is
// given) a PostgreSQL database of its own: records that write (sinks, statements) then see
// exactly what a run with that executor alone would. In the S3 mode the run's S3 prefix is
// named after its local test directory (unique), and removed with it.
Status RunRecords(Context& ctx, const std::vector<Record>& records, Executor* executor,
                  const RunOptions& options, PgServer* postgres) {
  std::string tmpl = (fs::temp_directory_path() / "dux-e2e-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) return Status::IOError("cannot create a temporary directory");
  std::string test_dir = tmpl;
  S3Mirror* s3 = options.s3;
  const std::string s3_prefix = "runs/" + fs::path(test_dir).filename().string();
  std::unique_ptr<PostgresDatabase> pg;
  if (postgres) {
    DUX_ASSIGN_OR_RETURN(pg, PostgresDatabase::Create(postgres));
  }
  auto substitute_dirs = [&](const std::string& s, const std::string& test,
                             const std::string& data) {
    std::string out = Replace(Replace(s, "__TEST_DIR__", test), "__DATA_DIR__", data);
    return pg ? Replace(out, "__PG__", pg->conninfo()) : out;
  };
  // What DuckDB (statements, queries, the oracle) reads: local paths, always.
  auto substitute = [&](const std::string& s) {
    return substitute_dirs(s, test_dir, options.data_dir);
  };
  // What dux reads and writes: S3 in the S3 mode.
  auto substitute_for_dux = [&](const std::string& s) {
    if (!s3) return substitute(s);
    return substitute_dirs(s, s3->Url(s3_prefix), s3->Url(kS3DataPrefix));
  };
  const std::string name = executor->Name();
  DUX_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::Open());
  for (const Record& r : records) {
    std::string text =
        r.kind == Record::Kind::kPipeline ? substitute_for_dux(r.text) : substitute(r.text);
    if (r.kind == Record::Kind::kStatement && r.engine != Engine::kDuckDb) {
      auto done = pg->connection().Execute(text);
      if (!done.ok()) {
        Fail(ctx, r, name, "PostgreSQL statement failed: " + done.status().message());
      }
      if (r.engine == Engine::kPostgres) continue;
    }
    if (r.kind == Record::Kind::kQuery && r.engine == Engine::kPostgres) {
      auto rows = pg->connection().Query(text);
      if (!rows.ok()) {
        Fail(ctx, r, name, "PostgreSQL query failed: " + rows.status().message());
      } else {
        CheckExpectedRows(ctx, r, name, TextTable(*rows), r.sort == SortMode::kNoSort);
      }
      continue;
    }
    if (r.kind == Record::Kind::kStatement) {
      auto done = session->connection().Execute(text);
      if (!done.ok()) Fail(ctx, r, name, "statement failed: " + done.status().message());
      if (s3) {
        Status up = s3->Up(test_dir, s3_prefix);
        if (!up.ok()) Fail(ctx, r, name, "mirroring the test directory to S3: " + up.message());
      }
      if (done.ok() && options.after_statement) {
        Status synced = options.after_statement(*session);
        if (!synced.ok()) Fail(ctx, r, name, "copying tables to workers: " + synced.message());
      }
      continue;
    }
    if (r.kind == Record::Kind::kQuery) {
      auto t = session->connection().Query(text);
      if (!t.ok()) {
        Fail(ctx, r, name, "query failed: " + t.status().message());
      } else {
        CheckExpectedRows(ctx, r, name, std::move(t).value(), r.sort == SortMode::kNoSort);
      }
      continue;
    }
    bool writes = false;
    auto run = [&]() -> Result<Outcome> {
      DUX_ASSIGN_OR_RETURN(pipeline::Script script, pipeline::ParseScript(text));
      writes = script.pipeline.sink().has_value();
      for (const auto& a : script.attachments) {
        // An alias attached by an earlier record is not a failure.
        Status s = session->Attach(a);
        if (!s.ok() && s.message().find("already") == std::string::npos) return s;
      }
      // The record's s3 statement, as `dux run` applies it; none restores the process's.
      DUX_RETURN_NOT_OK(session->UseS3Settings(script.s3));
      return executor->Run(*session, script);
    };
    Result<Outcome> outcome = run();
    // Whatever the sink did, finished or failed, the oracle and later records see it.
    if (s3 && writes) {
      Status down = s3->Down(s3_prefix, test_dir);
      if (!down.ok()) Fail(ctx, r, name, "mirroring S3 to the test directory: " + down.message());
    }
    // A sink may have created or changed tables of the session: the workers get them too.
    if (options.after_statement) {
      Status synced = options.after_statement(*session);
      if (!synced.ok()) Fail(ctx, r, name, "copying tables to workers: " + synced.message());
    }
    if (r.expect_error) {
      if (outcome.ok()) {
        Fail(ctx, r, name, "expected an error containing \"" + substitute_for_dux(r.error) + "\"");
      } else if (outcome.status().message().find(substitute_for_dux(r.error)) ==
                     std::string::npos ||
                 outcome.status().message().find('\n') != std::string::npos) {
        Fail(ctx, r, name, "wrong error: " + outcome.status().message());
      }
      continue;
    }
    if (!outcome.ok()) {
      Fail(ctx, r, name, "failed: " + outcome.status().ToString());
      continue;
    }
    if (!r.rule.empty()) {
      auto script = pipeline::ParseScript(text);
      auto rules = script.ok() ? executor->SplitterRules(*session, *script)
                               : Result<std::optional<std::string>>(script.status());
      if (!rules.ok()) {
        Fail(ctx, r, name, "explain failed: " + rules.status().ToString());
      } else if (*rules) {
        bool applied = (", " + **rules + ", ").find(", " + r.rule + ", ") != std::string::npos;
        if (applied != r.rule_applied) {
          Fail(ctx, r, name,
               "the plan " + std::string(applied ? "applies " : "does not apply ") + r.rule +
                   " (rules: " + **rules + ")");
        }
      }
    }
    if (r.oracle) {
      Record substituted = r;
      substituted.oracle_sql = substitute(r.oracle_sql);
      CheckOracle(ctx, substituted, name, std::move(outcome->table), outcome->ordered,
                  session->connection());
    } else {
      CheckExpectedRows(ctx, r, name, std::move(outcome->table), outcome->ordered);
    }
  }
  session.reset();  // closes its PostgreSQL connections before the database is dropped
  pg.reset();
  std::error_code ignored;
  fs::remove_all(test_dir, ignored);
  if (s3) {
    Status cleared = s3->Clear(s3_prefix);
    if (!cleared.ok()) return cleared;
  }
  return Status::OK();
}

}  // namespace

Result<std::optional<std::string>> ReadS3SkipReason(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return S3SkipReason(buffer.str());
}

Result<int> RunTestFile(const std::string& path, const std::vector<Executor*>& executors,
                        const RunOptions& options, bool* skipped) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  DUX_ASSIGN_OR_RETURN(std::vector<Record> records, ParseTestFile(buffer.str()));
  if (options.s3) {
    DUX_ASSIGN_OR_RETURN(std::optional<std::string> why, S3SkipReason(buffer.str()));
    if (why) {
      std::cerr << path << ": skipped on S3: " << *why << "\n";
      if (skipped) *skipped = true;
      return 0;
    }
  }
  PgServer* postgres = nullptr;
  if (UsesPostgres(records)) {
    std::string why;
    postgres = SharedPostgres(&why);
    if (!postgres) {
      std::cerr << path << ": skipped, no PostgreSQL server: " << why << "\n";
      if (skipped) *skipped = true;
      return 0;
    }
  }
  Context ctx{path};
  for (Executor* executor : executors) {
    DUX_RETURN_NOT_OK(RunRecords(ctx, records, executor, options, postgres));
  }
  return ctx.failures;
}

}  // namespace dux::test
