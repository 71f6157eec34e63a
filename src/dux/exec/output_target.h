// Output targets: what a path given for output is (a file, a device or pipe, stdout) and how
// each kind is written, so that a failed write never leaves a half-written file and a device
// is never replaced by one. docs/language.md ("Where output goes") is the user's view.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "dux/common/status.h"

namespace dux::exec {

/// How a target is written.
enum class TargetKind {
  /// A regular file, or a path that does not exist yet: written under a temporary name beside
  /// the resolved path, then renamed onto it, so the target holds the old content or the
  /// whole new one.
  kFile,
  /// A character device (/dev/null, a terminal), a FIFO, a socket (anything but a regular
  /// file or a directory): written in place, as the rows come. Nothing can be undone there,
  /// so a failure may leave part of the output.
  kStream,
};

struct OutputTarget {
  /// As the user gave it; errors name this.
  std::string path;
  TargetKind kind = TargetKind::kFile;
  /// What is written: for kFile, `path` with every symlink followed (a symlink keeps pointing
  /// at the new content, which replaces the link's target); for kStream, `path` itself.
  std::string resolved;
  /// kFile over an existing file: its permission bits, which the new content keeps; else -1.
  int mode = -1;
};

/// Classifies `path` (following symlinks). Errors, each one line naming `path`: an empty
/// path, a directory, a missing parent directory (NotFound), a symlink loop, a target or
/// parent directory this process may not write (PermissionDenied, also on a read-only
/// filesystem).
Result<OutputTarget> ClassifyOutput(const std::string& path);

/// Produces `target` with `write`, which writes the bytes to the path it is given and returns
/// a count to pass on (rows). kFile: that path is a hidden temporary beside the resolved
/// target, renamed onto it on success; on any failure it is removed and the old content
/// stays. kStream: the path is the target itself. Error messages that name the temporary
/// name the target instead.
Result<int64_t> WriteOutput(const OutputTarget& target,
                            const std::function<Result<int64_t>(const std::string&)>& write);

/// `status` with every mention of `written` (a temporary path) replaced by `target`: DuckDB
/// names the file it was writing, the user knows only the target.
Status NameTarget(const Status& status, const std::string& written, const std::string& target);

/// Whether `path` is a URL (`scheme://...`, such as `s3://bucket/key`): an object that
/// DuckDB's file system for that scheme reads and writes, which the local file system must
/// never be asked about (it would take `s3://b/k` for the relative path `s3:/b/k`). Targets
/// here are local: ClassifyOutput sees no URL.
bool IsUrl(const std::string& path);

/// ClassifyOutput, then WriteOutput.
Result<int64_t> WriteToPath(const std::string& path,
                            const std::function<Result<int64_t>(const std::string&)>& write);

}  // namespace dux::exec
