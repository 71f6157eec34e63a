#include <algorithm>
#include <set>

#include "duckdb/common/constants.hpp"
#include "key_glob_internal.h"

// DuckDB's name matcher, declared as in duckdb/function/scalar/string_common.hpp (which
// includes third-party headers the npm package does not ship). A different signature in
// another DuckDB would fail to link, not misbehave: the parameters are in the mangled name.
namespace duckdb {
DUCKDB_API bool Glob(const char* s, idx_t slen, const char* pattern, idx_t plen,
                     bool allow_question_mark);
}  // namespace duckdb

namespace dux::s3_filesystem {

namespace {

std::vector<std::string_view> SplitSegments(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t slash = text.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(text.substr(start));
      return out;
    }
    out.push_back(text.substr(start, slash - start));
    start = slash + 1;
  }
}

bool IsCrawl(std::string_view segment) { return segment == "**"; }

// DuckDB's name matcher, the one LocalFileSystem::Glob applies to each directory entry.
bool NameMatches(std::string_view name, const std::string& pattern) {
  return duckdb::Glob(name.data(), name.size(), pattern.data(), pattern.size(), true);
}

}  // namespace

bool HasGlob(std::string_view text) { return text.find_first_of("*?[") != std::string_view::npos; }

KeyGlob::KeyGlob(std::string pattern) : pattern_(std::move(pattern)) {}

Result<KeyGlob> KeyGlob::Make(std::string pattern) {
  KeyGlob glob(std::move(pattern));
  for (std::string_view segment : SplitSegments(glob.pattern_)) {
    glob.segments_.emplace_back(segment);
  }
  if (std::count_if(glob.segments_.begin(), glob.segments_.end(),
                    [](const std::string& s) { return IsCrawl(s); }) > 1) {
    return Status::InvalidArgument("Cannot use multiple '**' in one path: " + glob.pattern_);
  }
  // '\' escapes the next character in a name pattern: the listing must stop before it too.
  size_t first = glob.pattern_.find_first_of("*?[\\");
  glob.list_prefix_ = glob.pattern_.substr(0, first);
  glob.single_level_ =
      first == std::string::npos ||
      (glob.pattern_.find('/', first) == std::string::npos && !IsCrawl(glob.segments_.back()));
  return glob;
}

bool KeyGlob::MatchFrom(const std::vector<std::string_view>& path, size_t s, size_t p,
                        bool is_object) const {
  const std::string& segment = segments_[p];
  const bool last_pattern = p + 1 == segments_.size();
  if (last_pattern) {
    if (IsCrawl(segment)) return is_object && s < path.size();  // every object below
    if (s + 1 != path.size()) return false;
    if (HasGlob(segment)) return is_object && NameMatches(path[s], segment);
    return path[s] == segment;  // a literal: an object or a directory
  }
  if (IsCrawl(segment)) {
    // Zero directories, or one more: path[s] is a directory when something follows it.
    if (MatchFrom(path, s, p + 1, is_object)) return true;
    return s + 1 < path.size() && MatchFrom(path, s + 1, p, is_object);
  }
  if (s + 1 >= path.size()) return false;  // path[s] must be a directory
  bool matches = HasGlob(segment) ? NameMatches(path[s], segment) : path[s] == segment;
  return matches && MatchFrom(path, s + 1, p + 1, is_object);
}

std::vector<KeyMatch> KeyGlob::Match(const std::vector<std::string_view>& keys) const {
  std::vector<KeyMatch> matches;
  std::set<std::string> directories;
  const std::string& last = segments_.back();
  const bool may_match_directories = !HasGlob(last) && !IsCrawl(last);
  for (size_t i = 0; i < keys.size(); ++i) {
    std::vector<std::string_view> path = SplitSegments(keys[i]);
    const bool is_marker = path.back().empty() && path.size() > 1;
    if (!is_marker && MatchFrom(path, 0, 0, true)) {
      matches.push_back({std::string(keys[i]), false, i});
    }
    if (!may_match_directories) continue;
    // Every proper prefix of the key that ends before a '/' is a directory.
    for (size_t end = 1; end < path.size(); ++end) {
      std::vector<std::string_view> directory(path.begin(), path.begin() + end);
      if (!MatchFrom(directory, 0, 0, false)) continue;
      size_t length = 0;
      for (std::string_view part : directory) length += part.size() + 1;
      directories.insert(std::string(keys[i].substr(0, length - 1)));
    }
  }
  for (const std::string& directory : directories) {
    matches.push_back({directory, true, 0});
  }
  if (matches.empty()) {
    // DuckDB's last resort: the pattern as a literal name.
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == pattern_) matches.push_back({pattern_, false, i});
    }
  }
  std::sort(matches.begin(), matches.end(),
            [](const KeyMatch& a, const KeyMatch& b) { return a.key < b.key; });
  return matches;
}

}  // namespace dux::s3_filesystem
