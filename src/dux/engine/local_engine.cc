#include "dux/engine/local_engine.h"

#include <chrono>

#include "dux/arrow_ipc/streams.h"
#include "dux/common/unique_id.h"
#include "dux/engine/attached_tables.h"
#include "dux/exec/arrow_import.h"
#include "dux/exec/output_target.h"
#include "dux/pg/catalog.h"
#include "dux/pg/table_writer.h"
#include "dux/s3/config.h"
#include "dux/s3_filesystem/s3_filesystem.h"
#include "dux/sql/quote.h"

namespace dux::engine {

using pipeline::Pipeline;

/// The from_arrow inputs of one pipeline, each decoded into a temporary table that lives
/// until the next compile (or the engine's end), so that the compiled query can run.
class LocalEngine::ArrowSources {
 public:
  static Result<std::unique_ptr<ArrowSources>> Load(exec::Connection& connection,
                                                    const Pipeline& pipeline) {
    std::map<std::string, pipeline::Location> paths = pipeline::ArrowSourcePaths(pipeline);
    auto sources = std::unique_ptr<ArrowSources>(new ArrowSources(connection));
    for (const auto& [path, loc] : paths) {
      auto error = [&, &path = path, &loc = loc](const Status& s) {
        return Status(s.code(),
                      "from_arrow: cannot read \"" + path + "\": " + s.message() + loc.Suffix());
      };
      std::string table = sql::ArrowTableName(path);
      connection.DropTemporaryTable(table);
      auto in = Open(connection, path);
      if (!in.ok()) return error(in.status());
      auto rows =
          exec::ImportIpc(connection, table, std::move(in).value(), exec::TableMode::kTemporary);
      if (!rows.ok()) return error(rows.status());
      sources->tables_.push_back(table);
    }
    return sources;
  }
  ~ArrowSources() {
    for (const auto& t : tables_) {
      connection_.DropTemporaryTable(t);
    }
  }

 private:
  explicit ArrowSources(exec::Connection& connection) : connection_(connection) {}
  // A local file, or an object through the database's file system (ranged reads: the file
  // format's footer first, then the batches).
  static Result<std::unique_ptr<arrow_ipc::RandomAccessInput>> Open(
      const exec::Connection& connection, const std::string& path) {
    if (!exec::IsUrl(path)) {
      DUX_ASSIGN_OR_RETURN(auto file, arrow_ipc::FileInputStream::Open(path));
      return std::unique_ptr<arrow_ipc::RandomAccessInput>(std::move(file));
    }
    if (connection.url_files() == nullptr) {
      return Status::Unimplemented("this database has no file system for URLs");
    }
    return connection.url_files()->OpenForReading(path);
  }
  exec::Connection& connection_;
  std::vector<std::string> tables_;
};

Result<std::unique_ptr<LocalEngine>> LocalEngine::Open(std::shared_ptr<exec::Database> db,
                                                       const Telemetry* telemetry) {
  DUX_ASSIGN_OR_RETURN(exec::Connection connection, exec::Connection::Open(*db));
  return std::unique_ptr<LocalEngine>(
      new LocalEngine(std::move(db), std::move(connection), telemetry));
}

LocalEngine::LocalEngine(std::shared_ptr<exec::Database> db, exec::Connection connection,
                         const Telemetry* telemetry)
    : db_(std::move(db)), connection_(std::move(connection)), telemetry_(telemetry) {}

LocalEngine::~LocalEngine() = default;

namespace {

// The s3 statement's settings as the S3 client's overrides.
Result<s3::ConfigOverrides> OverridesOf(const pipeline::S3Settings& settings) {
  s3::ConfigOverrides overrides;
  overrides.region = settings.region;
  overrides.endpoint = settings.endpoint;
  overrides.profile = settings.profile;
  overrides.use_tls = settings.tls;
  if (settings.url_style) {
    DUX_ASSIGN_OR_RETURN(overrides.url_style, s3::ParseUrlStyle(*settings.url_style));
  }
  return overrides;
}

}  // namespace

Status LocalEngine::UseS3Settings(const pipeline::S3Settings& settings) {
  auto error = [&settings](const Status& s) {
    std::string message = s.message();
    if (message.rfind("s3: ", 0) != 0) message = "s3: " + message;
    return Status(s.code(), message + settings.loc.Suffix());
  };
  auto overrides = OverridesOf(settings);
  if (!overrides.ok()) return error(overrides.status());
  // Checked here, so that a bad endpoint or an unknown profile is the statement's error
  // rather than the first s3:// path's.
  if (!settings.empty()) {
    auto config = s3::LoadConfig(s3::ProcessEnvironment(), *overrides);
    if (!config.ok()) return error(config.status());
  }
  Status used = s3_filesystem::UseS3Settings(connection_.get(), *overrides);
  if (!used.ok()) return error(used);
  s3_settings_ = settings;
  return Status::OK();
}

std::string LocalEngine::ExplainS3(const std::string& explained) const {
  if (s3_settings_.empty() && explained.find("s3://") == std::string::npos) return "";
  // Where S3 requests go and where the credentials come from; never what they are.
  auto overrides = OverridesOf(s3_settings_);
  auto config = overrides.ok() ? s3::LoadConfig(s3::ProcessEnvironment(), *overrides)
                               : Result<s3::Config>(overrides.status());
  return "-- s3: " + (config.ok() ? config->Describe() : config.status().message()) +
         (s3_settings_.empty() ? "" : " (with the run's s3 settings)") +
         "; each worker uses its own AWS environment" +
         (s3_settings_.empty() ? "" : " with the same settings") + "\n";
}

Status LocalEngine::BeginRun() {
  run_ = UniqueId('r');
  return s3_filesystem::UseS3Run(connection_.get(), run_);
}

Status LocalEngine::ShareRunWith(exec::Connection& connection) const {
  if (!s3_settings_.empty()) {
    DUX_ASSIGN_OR_RETURN(s3::ConfigOverrides overrides, OverridesOf(s3_settings_));
    DUX_RETURN_NOT_OK(s3_filesystem::UseS3Settings(connection.get(), overrides));
  }
  return s3_filesystem::UseS3Run(connection.get(), run_);
}

Status LocalEngine::Attach(const pipeline::Attachment& a, bool if_not_exists) {
  if (a.alias.empty() || a.path.empty()) {
    return Status::InvalidArgument("attach: needs an alias and a path" + a.loc.Suffix());
  }
  auto error = [&a](const Status& s) {
    return Status(s.code(), "attach \"" + a.alias + "\": " + s.message() + a.loc.Suffix());
  };
  if (const pipeline::Attachment* existing = FindAttachment(a.alias)) {
    if (if_not_exists && existing->type == a.type) return Status::OK();
    if (existing->type == pipeline::AttachmentType::kPostgres ||
        a.type == pipeline::AttachmentType::kPostgres) {
      return error(Status::AlreadyExists("the alias is already attached"));
    }
  }
  if (a.type == pipeline::AttachmentType::kPostgres) {
    // PostgreSQL reads naive timestamps' text in its session TimeZone: DuckDB's, so that
    // both agree on what a TIMESTAMP written into a timestamptz column means.
    std::string zone = "UTC";
    auto rows = connection_.QueryText("SELECT current_setting('TimeZone')");
    if (rows.ok() && rows->size() == 1 && (*rows)[0][0]) zone = *(*rows)[0][0];
    auto pg = pg::Connection::Open(a.path, zone);
    if (!pg.ok()) return error(pg.status());
    if (a.read_only) {
      auto read_only = pg->Execute("SET default_transaction_read_only TO on");
      if (!read_only.ok()) return error(read_only.status());
    }
    postgres_[a.alias] = std::make_unique<pg::Connection>(std::move(pg).value());
    attachments_.push_back(a);
    return Status::OK();
  }
  auto done = connection_.Execute(
      std::string("ATTACH ") + (if_not_exists ? "IF NOT EXISTS " : "") + sql::QuoteString(a.path) +
      " AS " + sql::QuoteIdentifier(a.alias) + (a.read_only ? " (READ_ONLY)" : ""));
  if (!done.ok()) return error(done.status());
  attachments_.push_back(a);
  return Status::OK();
}

const pipeline::Attachment* LocalEngine::FindAttachment(const std::string& alias) const {
  for (const auto& a : attachments_) {
    if (a.alias == alias) return &a;
  }
  const pipeline::Attachment* found = nullptr;
  for (const auto& a : attachments_) {
    if (pipeline::SameColumnName(a.alias, alias)) {
      if (found) return nullptr;  // ambiguous
      found = &a;
    }
  }
  return found;
}

pg::Connection* LocalEngine::postgres(const std::string& alias) {
  const pipeline::Attachment* a = FindAttachment(alias);
  if (!a) return nullptr;
  auto found = postgres_.find(a->alias);
  return found == postgres_.end() ? nullptr : found->second.get();
}

const pipeline::Attachment* LocalEngine::PostgresTarget(const pipeline::Sink& sink,
                                                        std::string* table) const {
  auto* insert = std::get_if<pipeline::InsertIntoSink>(&sink.body);
  if (!insert) return nullptr;
  size_t dot = insert->table.find('.');
  if (dot == std::string::npos) return nullptr;
  const pipeline::Attachment* a = FindAttachment(insert->table.substr(0, dot));
  if (!a || a->type != pipeline::AttachmentType::kPostgres) return nullptr;
  *table = insert->table.substr(dot + 1);
  return a;
}

void LocalEngine::ReleaseInputs() {
  arrow_.reset();
  attached_.reset();
}

Result<sql::CompiledQuery> LocalEngine::Compile(const Pipeline& pipeline, bool schema_only,
                                                sql::Binder* binder) {
  ReleaseInputs();  // the previous pipeline's tables, before loading this one's
  DUX_ASSIGN_OR_RETURN(arrow_, ArrowSources::Load(connection_, pipeline));
  std::vector<AttachedDatabase> databases;
  for (const auto& a : attachments_) {
    auto pg = postgres_.find(a.alias);
    databases.push_back({a, pg == postgres_.end() ? nullptr : pg->second.get()});
  }
  auto find = [&](const std::string& alias) -> const AttachedDatabase* {
    const pipeline::Attachment* a = FindAttachment(alias);
    for (const auto& d : databases) {
      if (a && d.attachment.alias == a->alias) return &d;
    }
    return nullptr;
  };
  using Mode = AttachedTables::Mode;
  DUX_ASSIGN_OR_RETURN(
      attached_, AttachedTables::Load(connection_, pipeline, find,
                                      schema_only ? Mode::kSchemaOnly : Mode::kData, telemetry_));
  sql::Compiler compiler(binder ? binder : &connection_);
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, compiler.Compile(pipeline));
  if (check_) DUX_RETURN_NOT_OK(check_(query));
  return query;
}

const std::string& LocalEngine::attached_explain() const {
  static const std::string kNone;
  return attached_ ? attached_->explain() : kNone;
}

Status LocalEngine::RunError(const Pipeline& pipeline, Status failed) {
  // Mistakes in the pipeline are InvalidArgument, as are DuckDB's errors of running it; a
  // lost worker, an IO error or an interruption says nothing about a verb.
  if (failed.code() != StatusCode::kInvalidArgument) return failed;
  sql::Compiler compiler(&connection_);
  Status probed = compiler.Probe(pipeline);
  if (probed.ok()) return failed;
  // The probe's error is the run's only when it says the same ("verb: <DuckDB's words>
  // (line L, col C)", the words inside the run's message): anything else the probe met is
  // not what the user ran into.
  std::string words = probed.message();
  if (size_t colon = words.find(": "); colon != std::string::npos) words.erase(0, colon + 2);
  if (size_t at = words.rfind(" (line "); at != std::string::npos) words.erase(at);
  return failed.message().find(words) != std::string::npos ? probed : failed;
}

Status LocalEngine::CheckOutput(const pipeline::Sink& sink) {
  if (std::holds_alternative<pipeline::InsertIntoSink>(sink.body) || exec::SinkPath(sink).empty() ||
      exec::WritesDirectory(sink) || exec::IsUrl(exec::SinkPath(sink))) {
    return Status::OK();
  }
  // A local file, checked before anything runs (WriteSink writes it as it classifies it then).
  auto target = exec::ClassifyOutput(exec::SinkPath(sink));
  if (target.ok()) return Status::OK();
  return Status(target.status().code(),
                std::string(sink.Verb()) + ": " + target.status().message() + sink.loc.Suffix());
}

Result<exec::WriteReport> LocalEngine::Write(const Pipeline& pipeline) {
  if (!pipeline.sink()) {
    return Status::InvalidArgument(
        "this pipeline has no to_parquet, to_csv, to_ndjson, to_arrow or insert_into at its end");
  }
  const pipeline::Sink& sink = *pipeline.sink();
  DUX_RETURN_NOT_OK(CheckOutput(sink));
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, Compile(pipeline));
  std::string pg_table;
  if (PostgresTarget(sink, &pg_table)) return WritePostgres(sink, query);
  auto written = exec::WriteSink(connection_, sink, query);
  if (!written.ok()) return RunError(pipeline, written.status());
  return written;
}

Result<exec::WriteReport> LocalEngine::WritePostgres(const pipeline::Sink& sink,
                                                     const sql::CompiledQuery& query) {
  const auto& insert = std::get<pipeline::InsertIntoSink>(sink.body);
  auto error = [&sink](const Status& s) {
    return Status(s.code(), std::string(sink.Verb()) + ": " + s.message() + sink.loc.Suffix());
  };
  std::string rest;
  const pipeline::Attachment* a = PostgresTarget(sink, &rest);
  if (a->read_only) {
    return error(Status::InvalidArgument("\"" + a->alias + "\" is attached read_only"));
  }
  auto table = pg::ParseTableName(rest);
  if (!table.ok()) return error(table.status());
  pg::Connection& pg = *postgres_.at(a->alias);
  auto start = std::chrono::steady_clock::now();
  auto rows = pg::InsertQuery(connection_, query.Sql(), query.schema, pg,
                              {*table, insert.create, insert.atomic, insert.table});
  if (!rows.ok()) return error(rows.status());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (telemetry_) {
    telemetry_->Emit({"postgres.write.stop",
                      {{"rows", static_cast<double>(*rows)}, {"duration", seconds}},
                      {{"table", insert.table}, {"conninfo", pg.redacted()}}});
  }
  exec::WriteReport report;
  report.rows = *rows;
  return report;
}

Result<std::string> LocalEngine::Explain(const Pipeline& pipeline) {
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, Compile(pipeline, /*schema_only=*/true));
  std::string out = attached_explain() + query.Sql() + ";\n";
  std::string pg_table;
  if (const pipeline::Attachment* a =
          pipeline.sink() ? PostgresTarget(*pipeline.sink(), &pg_table) : nullptr) {
    const auto& insert = std::get<pipeline::InsertIntoSink>(pipeline.sink()->body);
    auto table = pg::ParseTableName(pg_table);
    if (!table.ok()) {
      return Status(table.status().code(), "insert_into: " + table.status().message());
    }
    DUX_ASSIGN_OR_RETURN(
        std::string statements,
        pg::ExplainInsert(query.schema, {*table, insert.create, insert.atomic, insert.table}));
    return out + "-- insert_into: PostgreSQL (" + postgres_.at(a->alias)->redacted() + ") runs " +
           statements + "\n";
  }
  if (pipeline.sink() && std::holds_alternative<pipeline::ToArrowSink>(pipeline.sink()->body)) {
    const auto& a = std::get<pipeline::ToArrowSink>(pipeline.sink()->body);
    out += std::string("-- to_arrow: the result encoded by dux as an Arrow IPC ") +
           (a.stream_format ? "stream" : "file") +
           (a.compression.empty() ? "" : " (" + a.compression + " compressed)") + "\n";
  } else if (pipeline.sink()) {
    DUX_ASSIGN_OR_RETURN(std::string statement,
                         sql::SinkStatement(*pipeline.sink(), "<query>", query.schema,
                                            "<temporary file, renamed when complete>"));
    out += "-- " + std::string(pipeline.sink()->Verb()) + ": " + statement + "\n";
  }
  return out;
}

}  // namespace dux::engine
