#include "dux/pg/connection.h"

#include <cstdlib>

#include "dux/pg/conninfo.h"

namespace dux::pg {

namespace {

// libpq's and the server's messages span lines (a "\n\tIs the server running" hint, a
// "DETAIL:" line); dux messages are one line.
std::string OneLine(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string Literal(PGconn* conn, const std::string& text) {
  char* escaped = Pq().PQescapeLiteral(conn, text.data(), text.size());
  if (escaped == nullptr) return "''";
  std::string out(escaped);
  Pq().PQfreemem(escaped);
  return out;
}

}  // namespace

Result<Connection> Connection::Open(const std::string& conninfo, const std::string& time_zone) {
  Connection c;
  c.conninfo_ = conninfo;
  c.redacted_ = Redact(conninfo);
  DUX_RETURN_NOT_OK(LoadLibpq().status());
  c.conn_.reset(Pq().PQconnectdb(conninfo.c_str()));
  if (c.conn_ == nullptr) {
    return Status::Unavailable("cannot connect to PostgreSQL (" + c.redacted_ + "): out of memory");
  }
  if (Pq().PQstatus(c.get()) != CONNECTION_OK) {
    return Status::Unavailable("cannot connect to PostgreSQL (" + c.redacted_ +
                               "): " + Scrub(OneLine(Pq().PQerrorMessage(c.get())), conninfo));
  }
  // Notices ("table does not exist, skipping") would go to stderr; dux's output is its own.
  Pq().PQsetNoticeProcessor(
      c.get(), [](void*, const char*) {}, nullptr);
  if (Pq().PQsetClientEncoding(c.get(), "UTF8") != 0) {
    return Status::IOError("cannot set client_encoding UTF8 on PostgreSQL (" + c.redacted_ + ")");
  }
  DUX_RETURN_NOT_OK(c.Execute("SET DateStyle TO 'ISO, MDY'; SET standard_conforming_strings TO on; "
                              "SET IntervalStyle TO 'postgres'; SET TimeZone TO " +
                              Literal(c.get(), time_zone))
                        .status());
  return c;
}

Status Connection::Error(const PGresult* result, const char* what) const {
  std::string message;
  const char* primary = result ? Pq().PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  if (primary != nullptr) {
    message = primary;
    if (const char* detail = Pq().PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL)) {
      message += std::string(" (") + detail + ")";
    }
    const char* context = Pq().PQresultErrorField(result, PG_DIAG_CONTEXT);
    if (context != nullptr && std::string_view(context).starts_with("COPY ")) {
      message += std::string(" (") + context + ")";
    }
  } else {
    message = Pq().PQerrorMessage(get());
    if (message.empty()) message = std::string(what) + " failed";
  }
  message = Scrub(OneLine(message), conninfo_);
  if (Pq().PQstatus(get()) != CONNECTION_OK) {
    return Status::Unavailable("lost the connection to PostgreSQL (" + redacted_ + "): " + message);
  }
  return Status::InvalidArgument(message);
}

Status Connection::Drain() {
  Status status;
  while (PGresult* r = Pq().PQgetResult(get())) {
    ResultHandle result(r);
    ExecStatusType s = Pq().PQresultStatus(r);
    if (status.ok() && s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY) {
      status = Error(r, "statement");
    }
  }
  return status;
}

Result<int64_t> Connection::Execute(const std::string& sql) {
  ResultHandle result(Pq().PQexec(get(), sql.c_str()));
  ExecStatusType s = result ? Pq().PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY) {
    return Error(result.get(), "statement");
  }
  const char* tuples = Pq().PQcmdTuples(result.get());
  return tuples && *tuples ? std::strtoll(tuples, nullptr, 10) : 0;
}

Result<TextRows> Connection::Query(const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  ResultHandle result(Pq().PQexecParams(get(), sql.c_str(), static_cast<int>(values.size()),
                                        nullptr, values.data(), nullptr, nullptr, 0));
  if (!result || Pq().PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    return Error(result.get(), "query");
  }
  TextRows rows(Pq().PQntuples(result.get()));
  const int columns = Pq().PQnfields(result.get());
  for (size_t r = 0; r < rows.size(); ++r) {
    rows[r].resize(columns);
    for (int c = 0; c < columns; ++c) {
      if (Pq().PQgetisnull(result.get(), static_cast<int>(r), c)) continue;
      rows[r][c] = std::string(Pq().PQgetvalue(result.get(), static_cast<int>(r), c),
                               Pq().PQgetlength(result.get(), static_cast<int>(r), c));
    }
  }
  return rows;
}

Status Connection::CopyOut(const std::string& copy_sql,
                           const std::function<Status(std::string_view data)>& consume) {
  {
    ResultHandle start(Pq().PQexec(get(), copy_sql.c_str()));
    if (!start || Pq().PQresultStatus(start.get()) != PGRES_COPY_OUT) {
      Status error = Error(start.get(), "COPY");
      (void)Drain();
      return error;
    }
  }
  Status consumer;
  for (;;) {
    char* buffer = nullptr;
    int n = Pq().PQgetCopyData(get(), &buffer, /*async=*/0);
    if (n > 0) {
      if (consumer.ok()) {
        consumer = consume(std::string_view(buffer, static_cast<size_t>(n)));
        if (!consumer.ok()) Cancel();  // then drain what is already on its way
      }
      Pq().PQfreemem(buffer);
      continue;
    }
    if (buffer) Pq().PQfreemem(buffer);
    break;  // -1: done (the result follows); -2: error (reported by the result)
  }
  Status server = Drain();
  if (!consumer.ok()) return consumer;
  return server;
}

Result<int64_t> Connection::CopyIn(
    const std::string& copy_sql,
    const std::function<Status(const std::function<Status(std::string_view)>& send)>& produce) {
  {
    ResultHandle start(Pq().PQexec(get(), copy_sql.c_str()));
    if (!start || Pq().PQresultStatus(start.get()) != PGRES_COPY_IN) {
      Status error = Error(start.get(), "COPY");
      (void)Drain();
      return error;
    }
  }
  auto send = [this](std::string_view data) -> Status {
    if (data.empty()) return Status::OK();
    if (Pq().PQputCopyData(get(), data.data(), static_cast<int>(data.size())) != 1) {
      return Error(nullptr, "COPY");
    }
    return Status::OK();
  };
  Status produced = produce(send);
  if (!produced.ok()) {
    // The server fails the COPY with this message, which rolls the statement back.
    (void)Pq().PQputCopyEnd(get(), "aborted by dux");
    (void)Drain();
    return produced;
  }
  if (Pq().PQputCopyEnd(get(), nullptr) != 1) {
    Status error = Error(nullptr, "COPY");
    (void)Drain();
    return error;
  }
  int64_t rows = 0;
  Status status;
  while (PGresult* r = Pq().PQgetResult(get())) {
    ResultHandle result(r);
    if (Pq().PQresultStatus(r) == PGRES_COMMAND_OK) {
      const char* tuples = Pq().PQcmdTuples(r);
      if (tuples && *tuples) rows = std::strtoll(tuples, nullptr, 10);
    } else if (status.ok()) {
      status = Error(r, "COPY");
    }
  }
  if (!status.ok()) return status;
  return rows;
}

void Connection::Cancel() {
  PGcancel* cancel = Pq().PQgetCancel(get());
  if (cancel == nullptr) return;
  char error[256];
  (void)Pq().PQcancel(cancel, error, sizeof(error));
  Pq().PQfreeCancel(cancel);
}

}  // namespace dux::pg
