#include "dux/cli/stdout_stream.h"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace dux::cli {

Status FdOutputStream::Write(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::IOError(std::string("cannot write output: ") + std::strerror(errno));
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Status::OK();
}

mode_t StdoutType() {
  struct stat st;
  return ::fstat(STDOUT_FILENO, &st) == 0 ? (st.st_mode & S_IFMT) : 0;
}

bool StdoutClosed() {
  pollfd p{STDOUT_FILENO, POLLOUT, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLERR) != 0;
}

}  // namespace dux::cli
