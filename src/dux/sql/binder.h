// Binder: what the SQL compiler needs from a DuckDB connection, as an interface so that sql/
// does not depend on exec/ (exec implements it).
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/pipeline/schema.h"

namespace dux::sql {

/// Rows of text cells, NULL as nullopt.
using TextRows = std::vector<std::vector<std::optional<std::string>>>;

/// Binds and runs small catalog queries for the compiler. Implementations are used from one
/// thread at a time. Errors carry DuckDB's message (first line, without the "LINE 1:" echo).
class Binder {
 public:
  virtual ~Binder() = default;
  /// Binds `select_sql` without running it and returns its output columns.
  virtual Result<pipeline::Schema> Describe(const std::string& select_sql) = 0;
  /// Runs `sql` and returns its rows as text.
  virtual Result<TextRows> QueryText(const std::string& sql) = 0;
  /// The value of `function(argument)`, `function` being a scalar function of one VARCHAR
  /// that returns one (json_serialize_sql, ...; never user text), NULL as nullopt. By default a
  /// query with the argument as a literal.
  virtual Result<std::optional<std::string>> CallText(const std::string& function,
                                                      const std::string& argument);
};

/// The one cell of `rows` (Internal naming `what` unless there is exactly one).
Result<std::optional<std::string>> OnlyValue(const TextRows& rows, const std::string& what);

/// The results of one planning's SELECTs, shared by the binders of several connections (one
/// thread each): each distinct SELECT is bound, or run, once, by the first binder that runs
/// it; one that asks meanwhile waits for that result. Planning binds some sources and sides
/// more than once (0.5-5 ms each), and other connections prefetch for it
/// (coordinator::PlanningPrefetches). A source changed meanwhile is read by the query itself, which
/// then fails or differs as DuckDB's would. Failures are not kept: each caller meets its own.
class BindCache {
 public:
  Result<pipeline::Schema> Describe(Binder* runner, const std::string& select_sql);
  Result<TextRows> QueryText(Binder* runner, const std::string& sql);

 private:
  template <typename T>
  struct Entry {
    bool done = false;
    std::optional<Result<T>> value;
  };
  template <typename T>
  Result<T> Once(std::map<std::string, std::shared_ptr<Entry<T>>>* known, const std::string& key,
                 const std::function<Result<T>()>& run);

  std::mutex mutex_;
  std::condition_variable done_;
  std::map<std::string, std::shared_ptr<Entry<pipeline::Schema>>> schemas_;
  std::map<std::string, std::shared_ptr<Entry<TextRows>>> rows_;
};

/// A Binder over `inner` (one connection) that takes its results from `cache`. Only
/// statements that start with SELECT are shared; others (which may change something) run
/// every time.
class CachingBinder : public Binder {
 public:
  CachingBinder(Binder* inner, BindCache* cache) : inner_(inner), cache_(cache) {}
  Result<pipeline::Schema> Describe(const std::string& select_sql) override {
    return cache_->Describe(inner_, select_sql);
  }
  Result<TextRows> QueryText(const std::string& sql) override;
  Result<std::optional<std::string>> CallText(const std::string& function,
                                              const std::string& argument) override {
    return inner_->CallText(function, argument);
  }

 private:
  Binder* inner_;
  BindCache* cache_;
};

}  // namespace dux::sql
