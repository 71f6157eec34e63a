// Glob patterns over the keys of one bucket, with the semantics DuckDB gives local files
// (docs/s3.md, "File system": globs). Private to s3_filesystem.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dux/common/status.h"

namespace dux::s3_filesystem {

/// True when `text` has a glob character ('*', '?' or '['), as DuckDB's FileSystem::HasGlob.
bool HasGlob(std::string_view text);

/// What a pattern matched in a listing: an object (a file) or a "directory" (a key prefix
/// that ends before a '/'), which DuckDB's local glob returns when the pattern's last
/// segment is a literal naming a directory.
struct KeyMatch {
  std::string key;  ///< the object's key, or the directory's without the trailing '/'
  bool is_directory = false;
  size_t index = 0;  ///< for an object: its position in the keys given to Match
};

/// A glob over keys, matched segment by segment ('/' separates segments) as DuckDB's
/// LocalFileSystem::Glob walks directories: `*`, `?` and `[...]` (with `[!...]`, and `\`
/// escaping) match within one segment through DuckDB's own name matcher (duckdb::Glob, the
/// function the local glob calls), a segment that is exactly `**` matches zero or more
/// directories (or, as the last segment, every object below), a literal last segment
/// matches an object or a directory, and a pattern that matches nothing matches the object
/// whose key is the pattern itself. Unlike local paths, empty segments are kept ("a//b" is
/// its own key in S3) and '\' does not separate segments. Immutable; thread-safe.
class KeyGlob {
 public:
  /// `pattern` is the key part of "s3://bucket/pattern". InvalidArgument when it holds
  /// more than one "**" segment (DuckDB refuses those too).
  static Result<KeyGlob> Make(std::string pattern);

  /// The longest part of the pattern before its first glob or escape character: every
  /// matching key starts with it, so one listing of this prefix finds them all.
  const std::string& list_prefix() const { return list_prefix_; }
  /// True when all glob characters are in the last segment and it is not "**": then only
  /// objects directly below the prefix's "directory" can match, and a listing with the
  /// delimiter '/' suffices (it does not descend into deeper keys).
  bool single_level() const { return single_level_; }

  /// The matches among `keys` (a listing of list_prefix(), decoded; keys ending in '/' are
  /// directory markers and never match as objects), objects and directories in key order,
  /// each once.
  std::vector<KeyMatch> Match(const std::vector<std::string_view>& keys) const;

 private:
  explicit KeyGlob(std::string pattern);
  /// Whether `path` (segments of an object, or of a directory when !is_object) matches
  /// segments [p, end) of the pattern from segment s.
  bool MatchFrom(const std::vector<std::string_view>& path, size_t s, size_t p,
                 bool is_object) const;

  std::string pattern_;
  std::vector<std::string> segments_;
  std::string list_prefix_;
  bool single_level_ = false;
};

}  // namespace dux::s3_filesystem
