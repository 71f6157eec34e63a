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
Result<T> SharedAnswers::Once(std::map<std::string, std::shared_ptr<Answer<T>>>* known,
                              const std::string& key, const std::function<Result<T>()>& run) {
  std::shared_ptr<Answer<T>> answer;
  {
    std::unique_lock lock(mutex_);
    auto it = known->find(key);
    if (it != known->end()) {
      answer = it->second;
      answered_.wait(lock, [&] { return answer->done; });
      if (answer->value->ok()) return *answer->value;
      // Failed for the other asker: this one runs it on its own connection below.
    } else {
      answer = std::make_shared<Answer<T>>();
      known->emplace(key, answer);
    }
  }
  Result<T> value = run();
  std::lock_guard lock(mutex_);
  if (!answer->done) {
    answer->value = value;
    answer->done = true;
    answered_.notify_all();
  }
  return value;
}

Result<pipeline::Schema> SharedAnswers::Describe(Binder* runner, const std::string& select_sql) {
  return Once<pipeline::Schema>(&schemas_, select_sql,
                                [&] { return runner->Describe(select_sql); });
}

Result<TextRows> SharedAnswers::QueryText(Binder* runner, const std::string& sql) {
  return Once<TextRows>(&rows_, sql, [&] { return runner->QueryText(sql); });
}

Result<TextRows> SharingBinder::QueryText(const std::string& sql) {
  if (sql.rfind("SELECT ", 0) != 0) return inner_->QueryText(sql);
  return answers_->QueryText(inner_, sql);
}

}  // namespace dux::sql
