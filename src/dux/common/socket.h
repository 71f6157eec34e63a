// A socket's file descriptor as an owned value, and a TCP listener on HOST:PORT: what dux's
// own servers (the result channel, the HTTP endpoints) open before they accept.
#pragma once

#include <cstdint>
#include <string>

#include "dux/common/status.h"

namespace dux {

/// A socket's file descriptor, closed on destruction. Shutdown may be called from another
/// thread while one blocks in the socket: it wakes it.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Shutdown() const;

 private:
  int fd_ = -1;
};

struct ListeningSocket {
  Socket socket;      ///< non-blocking, close-on-exec, SO_REUSEADDR (never SO_REUSEPORT: a
                      ///< second listener on a taken port fails instead of sharing it)
  uint32_t port = 0;  ///< the port bound: the kernel's pick when 0 was asked
};

/// Listens on `host` (a numeric address or a name; empty: every address) and `port` (0: any
/// free one). IOError naming the host and the reason when it cannot resolve or bind.
Result<ListeningSocket> ListenTcp(const std::string& host, int port);

}  // namespace dux
