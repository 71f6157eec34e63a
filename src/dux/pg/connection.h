// A PostgreSQL connection through libpq: RAII owners of the connection and its results,
// statements with parameters, and COPY streams in both directions.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dux/common/status.h"
#include "dux/pg/libpq.h"

namespace dux::pg {

/// Owns a PGresult (PQclear on destruction). Move-only.
class ResultHandle {
 public:
  ResultHandle() = default;
  explicit ResultHandle(PGresult* result) : result_(result) {}
  ResultHandle(const ResultHandle&) = delete;
  ResultHandle& operator=(const ResultHandle&) = delete;
  ResultHandle(ResultHandle&& o) noexcept : result_(std::exchange(o.result_, nullptr)) {}
  ResultHandle& operator=(ResultHandle&& o) noexcept {
    if (this != &o) {
      Reset();
      result_ = std::exchange(o.result_, nullptr);
    }
    return *this;
  }
  ~ResultHandle() { Reset(); }

  PGresult* get() const { return result_; }
  explicit operator bool() const { return result_ != nullptr; }

 private:
  void Reset() {
    if (result_) Pq().PQclear(result_);
    result_ = nullptr;
  }
  PGresult* result_ = nullptr;
};

/// Rows of text cells, NULL as nullopt.
using TextRows = std::vector<std::vector<std::optional<std::string>>>;

/// One libpq connection (PQfinish on destruction). Move-only; not thread-safe: one thread at
/// a time, except Cancel. Every session is set up for dux: client_encoding UTF8, DateStyle
/// ISO, standard_conforming_strings on, and the given TimeZone.
///
/// Errors are one line and never show a password: connection failures are
/// Unavailable("cannot connect to PostgreSQL (<redacted conninfo>): <libpq's reason>");
/// statement failures are InvalidArgument (or Unavailable when the connection broke) with
/// the server's primary message, its detail and, for COPY, its context ("COPY t, line 3,
/// column x: ...").
class Connection {
 public:
  /// Connects with `conninfo` (keyword/value or URI form, as libpq takes it; libpq's own
  /// environment such as PGPASSWORD and PGPASSFILE applies). `time_zone` is the session's
  /// TimeZone (text values of timestamptz and timestamps without zone read in it).
  static Result<Connection> Open(const std::string& conninfo, const std::string& time_zone = "UTC");

  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;

  /// Runs one statement (or several separated by `;`, without parameters); OK unless the
  /// server reports an error. Returns the rows it affected, 0 when it reports none.
  Result<int64_t> Execute(const std::string& sql);
  /// Runs `sql` with text parameters $1, $2, ... and returns its rows as text.
  Result<TextRows> Query(const std::string& sql, const std::vector<std::string>& params = {});

  /// Runs a `COPY ... TO STDOUT` statement and hands each piece of data to `consume` as it
  /// arrives (libpq gives one row per piece, but consumers must not rely on it). When
  /// `consume` fails, the COPY is cancelled, the connection drained, and its error returned.
  Status CopyOut(const std::string& copy_sql,
                 const std::function<Status(std::string_view data)>& consume);

  /// Runs a `COPY ... FROM STDIN` statement, sending what `produce` writes through `send`
  /// (buffered by libpq). When `produce` fails, the COPY is ended with an error (the server
  /// rolls the statement back) and `produce`'s error returned. Returns the rows copied.
  Result<int64_t> CopyIn(
      const std::string& copy_sql,
      const std::function<Status(const std::function<Status(std::string_view)>& send)>& produce);

  /// Asks the server to stop the running statement; callable from another thread.
  void Cancel();

  /// The connection string with its password redacted (for messages and explain).
  const std::string& redacted() const { return redacted_; }
  PGconn* get() const { return conn_.get(); }

 private:
  Connection() = default;
  /// The server's error for `result` (or the connection's) made one line and scrubbed.
  Status Error(const PGresult* result, const char* what) const;
  /// Collects the results left on the connection after a statement (and the last error).
  Status Drain();

  struct Finish {
    void operator()(PGconn* conn) const { Pq().PQfinish(conn); }
  };
  std::unique_ptr<PGconn, Finish> conn_;
  std::string conninfo_;  ///< as given; used only to scrub messages
  std::string redacted_;
};

}  // namespace dux::pg
