// A bounded map from string keys to values that drops the least recently used entry: what the
// worker's fragment cache and the session's plan cache keep their entries in.
#pragma once

#include <cstddef>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace dux {

/// Thread-safe; holds at most `capacity` values. Find returns a copy, so a value stays valid
/// after a later Put drops its entry.
template <typename Value>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity) {}

  std::optional<Value> Find(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    entries_.splice(entries_.begin(), entries_, it->second);
    return it->second->second;
  }

  void Put(const std::string& key, Value value) {
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) {
      it->second->second = std::move(value);
      entries_.splice(entries_.begin(), entries_, it->second);
      return;
    }
    entries_.emplace_front(key, std::move(value));
    index_[key] = entries_.begin();
    while (entries_.size() > capacity_) {
      index_.erase(entries_.back().first);
      entries_.pop_back();
    }
  }

 private:
  using Entries = std::list<std::pair<std::string, Value>>;  // most recent first
  const size_t capacity_;
  std::mutex mutex_;
  Entries entries_;
  std::map<std::string, typename Entries::iterator> index_;
};

}  // namespace dux
