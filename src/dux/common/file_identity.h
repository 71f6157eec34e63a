// What tells a local file's versions apart for the caches that keep work done on it.
#pragma once

#include <optional>
#include <string>

namespace dux {

/// "path\0size:mtime_s.mtime_ns" of a local file, by stat; nullopt for a URL or a path that
/// cannot be stat'ed. A rewrite changes the modification time (nanoseconds) or the size.
std::optional<std::string> LocalFileIdentity(const std::string& path);

}  // namespace dux
