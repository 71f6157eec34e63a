#include "dux/rpc/result_channel.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "dux/common/server_access.h"

namespace dux::rpc {

namespace {

constexpr size_t kHeaderBytes = 5;
// A report is a few hundred bytes; a header claiming more is not from a dux worker.
constexpr uint32_t kMaxReportBytes = 1 << 20;

std::array<char, kHeaderBytes> Header(FrameKind kind, size_t size) {
  std::array<char, kHeaderBytes> header{static_cast<char>(kind)};
  for (int i = 0; i < 4; ++i) header[1 + i] = static_cast<char>((size >> (8 * i)) & 0xff);
  return header;
}

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Waits until `fd` is writable (a non-blocking connect ended) or `timeout_ms` passed.
Status AwaitConnected(int fd, int timeout_ms) {
  pollfd p{fd, POLLOUT, 0};
  int ready;
  do {
    ready = poll(&p, 1, timeout_ms);
  } while (ready < 0 && errno == EINTR);
  if (ready == 0) return Status(StatusCode::kUnavailable, "connect: timed out");
  int error = 0;
  socklen_t len = sizeof error;
  if (ready < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) {
    return Status(StatusCode::kUnavailable, Errno("connect"));
  }
  if (error != 0) {
    return Status(StatusCode::kUnavailable, std::string("connect: ") + std::strerror(error));
  }
  return Status::OK();
}

}  // namespace

void ConfigureResultSocket(int fd) {
  int on = 1, idle = 5, interval = 2, count = 5;
  unsigned int user_timeout_ms = 20000;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

Result<std::string> NewTicket() {
  std::string ticket(kTicketBytes, '\0');
  size_t got = 0;
  while (got < ticket.size()) {
    ssize_t n = getrandom(ticket.data() + got, ticket.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IOError(Errno("getrandom"));
    got += static_cast<size_t>(n);
  }
  return ticket;
}

Result<Socket> ConnectResultChannel(const std::string& address, uint32_t port,
                                    const std::string& ticket, double timeout_seconds) {
  DUX_ASSIGN_OR_RETURN(auto host_port, SplitHostPort(address));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  if (int error = getaddrinfo(host_port.first.c_str(), service.c_str(), &hints, &found)) {
    return Status(StatusCode::kUnavailable,
                  "cannot resolve " + host_port.first + ": " + gai_strerror(error));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, &freeaddrinfo);
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>(timeout_seconds));
  Status last = Status(StatusCode::kUnavailable, "no address");
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    Socket socket(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!socket.valid()) {
      last = Status(StatusCode::kUnavailable, Errno("socket"));
      continue;
    }
    if (connect(socket.fd(), a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last = Status(StatusCode::kUnavailable, Errno("connect"));
        continue;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      last = AwaitConnected(socket.fd(), static_cast<int>(std::max<int64_t>(left.count(), 0)));
      if (!last.ok()) continue;
    }
    int flags = fcntl(socket.fd(), F_GETFL);
    if (flags < 0 || fcntl(socket.fd(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
      return Status(StatusCode::kUnavailable, Errno("fcntl"));
    }
    ConfigureResultSocket(socket.fd());
    if (send(socket.fd(), ticket.data(), ticket.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(ticket.size())) {
      return Status(StatusCode::kUnavailable, Errno("send"));
    }
    return socket;
  }
  return last.WithPrefix(host_port.first + ":" + service + ": ");
}

bool FrameWriter::Write(FrameKind kind, const std::string& payload) {
  auto header = Header(kind, payload.size());
  iovec parts[2] = {{header.data(), header.size()},
                    {const_cast<char*>(payload.data()), payload.size()}};
  int count = payload.empty() ? 1 : 2;
  iovec* next = parts;
  while (count > 0) {
    msghdr message{};
    message.msg_iov = next;
    message.msg_iovlen = static_cast<size_t>(count);
    ssize_t n = sendmsg(socket_.fd(), &message, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    auto sent = static_cast<size_t>(n);
    while (count > 0 && sent >= next->iov_len) {
      sent -= next->iov_len;
      ++next;
      --count;
    }
    if (count > 0) {
      next->iov_base = static_cast<char*>(next->iov_base) + sent;
      next->iov_len -= sent;
    }
  }
  return true;
}

bool FrameWriter::WriteMessage(const v1::IpcChunk& message) {
  if (!message.data().empty() && !Write(FrameKind::kData, message.data())) return false;
  if (!message.has_progress() && !message.has_stats()) return true;
  v1::IpcChunk report;
  if (message.has_progress()) *report.mutable_progress() = message.progress();
  if (message.has_stats()) *report.mutable_stats() = message.stats();
  return Write(FrameKind::kReport, report.SerializeAsString());
}

Result<size_t> FrameReader::Receive(char* data, size_t size) {
  if (buffered_begin_ == buffered_end_) {
    if (size >= kBufferBytes) {
      ssize_t n;
      do {
        n = recv(socket_.fd(), data, size, 0);
      } while (n < 0 && errno == EINTR);
      if (n < 0) return Status(StatusCode::kUnavailable, Errno("recv"));
      return static_cast<size_t>(n);
    }
    ssize_t n;
    do {
      n = recv(socket_.fd(), buffer_.get(), kBufferBytes, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return Status(StatusCode::kUnavailable, Errno("recv"));
    buffered_begin_ = 0;
    buffered_end_ = static_cast<size_t>(n);
    if (n == 0) return size_t{0};
  }
  size_t n = std::min(size, buffered_end_ - buffered_begin_);
  std::memcpy(data, buffer_.get() + buffered_begin_, n);
  buffered_begin_ += n;
  return n;
}

Status FrameReader::ReceiveAll(char* data, size_t size) {
  while (size > 0) {
    DUX_ASSIGN_OR_RETURN(size_t n, Receive(data, size));
    if (n == 0) return Status(StatusCode::kUnavailable, "the connection closed");
    data += n;
    size -= n;
  }
  return Status::OK();
}

Result<size_t> FrameReader::Read(void* data, size_t size,
                                 const std::function<void(const v1::IpcChunk&)>& on_report) {
  while (frame_left_ == 0) {
    if (ended_) return size_t{0};
    std::array<char, kHeaderBytes> header{};
    DUX_RETURN_NOT_OK(ReceiveAll(header.data(), header.size()));
    uint32_t length = 0;
    for (int i = 0; i < 4; ++i) {
      length |= static_cast<uint32_t>(static_cast<unsigned char>(header[1 + i])) << (8 * i);
    }
    switch (static_cast<FrameKind>(header[0])) {
      case FrameKind::kData:
        frame_left_ = length;
        break;
      case FrameKind::kEnd:
        if (length != 0) return Status::IOError("result channel: an end frame with a payload");
        ended_ = true;
        break;
      case FrameKind::kReport: {
        if (length > kMaxReportBytes) {
          return Status::IOError("result channel: a report of " + std::to_string(length) +
                                 " bytes");
        }
        std::string payload(length, '\0');
        DUX_RETURN_NOT_OK(ReceiveAll(payload.data(), payload.size()));
        v1::IpcChunk report;
        if (!report.ParseFromString(payload)) {
          return Status::IOError("result channel: a report that does not parse");
        }
        if (on_report) on_report(report);
        break;
      }
      default:
        return Status::IOError("result channel: a frame of unknown kind");
    }
  }
  DUX_ASSIGN_OR_RETURN(size_t n, Receive(static_cast<char*>(data), std::min(size, frame_left_)));
  if (n == 0) return Status(StatusCode::kUnavailable, "the connection closed");
  frame_left_ -= n;
  return n;
}

}  // namespace dux::rpc
