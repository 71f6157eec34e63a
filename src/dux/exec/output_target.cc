#include "dux/exec/output_target.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace dux::exec {

namespace fs = std::filesystem;

namespace {

// Linux's own limit on the symlinks one lookup follows.
constexpr int kMaxSymlinks = 40;

Status CannotWrite(StatusCode code, const std::string& path, const std::string& why) {
  return Status(code, "cannot write \"" + path + "\": " + why);
}

// `path` with every symlink of its last component followed (a dangling link gives the path
// it points to, which the write then creates, as a shell's `>` does).
Result<std::string> FollowSymlinks(const std::string& path) {
  fs::path current(path);
  for (int hops = 0; hops <= kMaxSymlinks; ++hops) {
    struct stat st;
    if (::lstat(current.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return current.string();
    std::error_code ec;
    fs::path next = fs::read_symlink(current, ec);
    if (ec) return CannotWrite(StatusCode::kPermissionDenied, path, ec.message());
    current = next.is_absolute() ? next : current.parent_path() / next;
  }
  return CannotWrite(StatusCode::kInvalidArgument, path, "too many levels of symbolic links");
}

std::string ParentOf(const std::string& path) {
  std::string parent = fs::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

// A name beside `target`, unique to this process and call, hidden from globs like "*.csv".
std::string TemporaryName(const std::string& target) {
  static std::atomic<int> counter{0};
  fs::path p(target);
  std::string name = "." + p.filename().string() + ".dux-tmp-" + std::to_string(getpid()) + "-" +
                     std::to_string(counter++);
  return (p.parent_path() / name).string();
}

}  // namespace

Status NameTarget(const Status& status, const std::string& written, const std::string& target) {
  if (status.ok() || written == target) return status;
  std::string text = status.message();
  for (size_t at = text.find(written); at != std::string::npos;
       at = text.find(written, at + target.size())) {
    text.replace(at, written.size(), target);
  }
  return Status(status.code(), text);
}

Result<OutputTarget> ClassifyOutput(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("an output path must not be empty");
  OutputTarget target;
  target.path = path;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      return CannotWrite(StatusCode::kAlreadyExists, path, "it is a directory");
    }
    // Anything but a regular file (a character or block device, a FIFO, a socket) is
    // written in place: replacing it would destroy it.
    if (!S_ISREG(st.st_mode)) {
      target.kind = TargetKind::kStream;
      target.resolved = path;
      if (::access(path.c_str(), W_OK) != 0) {
        return CannotWrite(StatusCode::kPermissionDenied, path, std::strerror(errno));
      }
      return target;
    }
    target.mode = static_cast<int>(st.st_mode & 07777);
  } else if (errno == ELOOP) {
    return CannotWrite(StatusCode::kInvalidArgument, path, "too many levels of symbolic links");
  } else if (errno != ENOENT) {
    return CannotWrite(StatusCode::kPermissionDenied, path, std::strerror(errno));
  }
  DUX_ASSIGN_OR_RETURN(target.resolved, FollowSymlinks(path));
  std::string parent = ParentOf(target.resolved);
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    return CannotWrite(StatusCode::kNotFound, path, "no such directory");
  }
  // The content is replaced by a rename, which needs the directory writable; an existing file
  // must be writable too, so that a read-only file (or filesystem) is refused, as `>` would.
  if (target.mode >= 0 && ::access(target.resolved.c_str(), W_OK) != 0) {
    return CannotWrite(StatusCode::kPermissionDenied, path, std::strerror(errno));
  }
  if (::access(parent.c_str(), W_OK | X_OK) != 0) {
    return CannotWrite(StatusCode::kPermissionDenied, path,
                       "cannot create files in \"" + parent + "\": " + std::strerror(errno));
  }
  return target;
}

Result<int64_t> WriteOutput(const OutputTarget& target,
                            const std::function<Result<int64_t>(const std::string&)>& write) {
  if (target.kind == TargetKind::kStream) return write(target.resolved);
  std::string temporary = TemporaryName(target.resolved);
  Result<int64_t> written = write(temporary);
  Status status = written.status();
  if (status.ok() && target.mode >= 0 &&
      ::chmod(temporary.c_str(), static_cast<mode_t>(target.mode)) != 0) {
    status = CannotWrite(StatusCode::kPermissionDenied, target.path, std::strerror(errno));
  }
  if (status.ok()) {
    std::error_code ec;
    fs::rename(temporary, target.resolved, ec);
    if (!ec) return written;
    status = CannotWrite(StatusCode::kPermissionDenied, target.path, ec.message());
  }
  std::error_code ignored;
  fs::remove_all(temporary, ignored);
  return NameTarget(status, temporary, target.path);
}

bool IsUrl(const std::string& path) {
  size_t colon = path.find("://");
  if (colon == std::string::npos || colon == 0 ||
      !std::isalpha(static_cast<unsigned char>(path[0]))) {
    return false;
  }
  // RFC 3986's scheme: a letter, then letters, digits, '+', '-' and '.'.
  return std::all_of(path.begin(), path.begin() + static_cast<std::ptrdiff_t>(colon), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
  });
}

Result<int64_t> WriteToPath(const std::string& path,
                            const std::function<Result<int64_t>(const std::string&)>& write) {
  DUX_ASSIGN_OR_RETURN(OutputTarget target, ClassifyOutput(path));
  return WriteOutput(target, write);
}

}  // namespace dux::exec
