#include "dux/sql/binder.h"

#include "dux/sql/quote.h"

namespace dux::sql {

Result<std::optional<std::string>> Binder::CallText(const std::string& function,
                                                    const std::string& argument) {
  DUX_ASSIGN_OR_RETURN(TextRows rows,
                       QueryText("SELECT " + function + "(" + QuoteString(argument) + ")"));
  return OnlyValue(rows, function);
}

Result<std::optional<std::string>> OnlyValue(const TextRows& rows, const std::string& what) {
  if (rows.size() != 1 || rows[0].size() != 1) return Status::Internal("no result from " + what);
  return rows[0][0];
}

template <typename T>
Result<T> BindCache::Once(std::map<std::string, std::shared_ptr<Entry<T>>>* known,
                          const std::string& key, const std::function<Result<T>()>& run) {
  std::shared_ptr<Entry<T>> entry;
  {
    std::unique_lock lock(mutex_);
    auto it = known->find(key);
    if (it != known->end()) {
      entry = it->second;
      done_.wait(lock, [&] { return entry->done; });
      if (entry->value->ok()) return *entry->value;
      // Failed for the other caller: this one runs it on its own connection below.
    } else {
      entry = std::make_shared<Entry<T>>();
      known->emplace(key, entry);
    }
  }
  Result<T> value = run();
  std::lock_guard lock(mutex_);
  if (!entry->done) {
    entry->value = value;
    entry->done = true;
    done_.notify_all();
  }
  return value;
}

Result<pipeline::Schema> BindCache::Describe(Binder* runner, const std::string& select_sql) {
  return Once<pipeline::Schema>(&schemas_, select_sql,
                                [&] { return runner->Describe(select_sql); });
}

Result<TextRows> BindCache::QueryText(Binder* runner, const std::string& sql) {
  return Once<TextRows>(&rows_, sql, [&] { return runner->QueryText(sql); });
}

Result<TextRows> CachingBinder::QueryText(const std::string& sql) {
  if (sql.rfind("SELECT ", 0) != 0) return inner_->QueryText(sql);
  return cache_->QueryText(inner_, sql);
}

}  // namespace dux::sql
