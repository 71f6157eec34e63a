#include "dux/rpc/result_channel_listener.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dux/common/server_access.h"
#include "dux/common/socket.h"

namespace dux::rpc {

namespace {

Status SocketError(const std::string& what) {
  return Status::IOError("result channel: " + what + ": " + std::strerror(errno));
}

}  // namespace

Result<std::unique_ptr<ResultChannelListener>> ResultChannelListener::Start(
    const std::string& host) {
  auto listening = ListenTcp(host, 0);
  if (!listening.ok()) return Status::IOError("result channel: " + listening.status().message());
  Socket listener = std::move(listening->socket);
  uint32_t port = listening->port;
  Socket wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return SocketError("eventfd");
  return std::unique_ptr<ResultChannelListener>(
      new ResultChannelListener(std::move(listener), std::move(wake), port));
}

ResultChannelListener::ResultChannelListener(Socket listener, Socket wake, uint32_t port)
    : listener_(std::move(listener)),
      wake_(std::move(wake)),
      port_(port),
      acceptor_([this] { Accept(); }) {}

ResultChannelListener::~ResultChannelListener() {
  uint64_t one = 1;
  (void)!write(wake_.fd(), &one, sizeof one);
  acceptor_.join();
}

Result<std::string> ResultChannelListener::Offer() {
  DUX_ASSIGN_OR_RETURN(std::string ticket, NewTicket());
  std::lock_guard lock(mutex_);
  offered_.push_back({ticket, Socket()});
  ++offered_count_;
  return ticket;
}

Result<Socket> ResultChannelListener::Claim(const std::string& ticket,
                                            const std::function<bool()>& cancelled) {
  auto deadline = std::chrono::steady_clock::now() + kHandshakeTimeout;
  std::unique_lock lock(mutex_);
  for (;;) {
    auto offer = std::find_if(offered_.begin(), offered_.end(),
                              [&](const Offered& o) { return o.ticket == ticket; });
    if (offer == offered_.end()) return Status::Internal("result channel: a ticket not offered");
    Status failed;
    if (offer->connection.valid()) {
      Socket connection = std::move(offer->connection);
      offered_.erase(offer);
      ++claimed_count_;
      return connection;
    }
    if (cancelled()) {
      failed = Status(StatusCode::kCancelled, "the caller went away before it connected");
    } else if (std::chrono::steady_clock::now() >= deadline) {
      failed = Status(StatusCode::kUnavailable,
                      "the caller did not connect to the result channel within " +
                          std::to_string(kHandshakeTimeout.count()) + " s");
    }
    if (!failed.ok()) {
      offered_.erase(offer);
      return failed;
    }
    arrived_.wait_for(lock, std::chrono::milliseconds(50));
  }
}

// One thread serves every handshake: poll on the listener, the wake-up and the connections
// still sending their tickets (non-blocking, so a slow caller holds up no other).
void ResultChannelListener::Accept() {
  struct Handshake {
    Socket socket;
    std::string received;
    std::chrono::steady_clock::time_point deadline;
  };
  std::vector<Handshake> handshakes;
  std::vector<pollfd> polled;
  for (;;) {
    polled.assign({{listener_.fd(), POLLIN, 0}, {wake_.fd(), POLLIN, 0}});
    for (const Handshake& h : handshakes) polled.push_back({h.socket.fd(), POLLIN, 0});
    if (poll(polled.data(), polled.size(), 100) < 0 && errno != EINTR) return;
    if (polled[1].revents != 0) return;
    if (polled[0].revents != 0) {
      for (;;) {
        int fd = accept4(listener_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        handshakes.push_back(
            {Socket(fd), std::string(), std::chrono::steady_clock::now() + kHandshakeTimeout});
      }
    }
    for (size_t i = 0; i + 2 < polled.size(); ++i) {
      if (polled[i + 2].revents == 0) continue;
      Handshake& h = handshakes[i];
      char buffer[kTicketBytes];
      ssize_t n = recv(h.socket.fd(), buffer, kTicketBytes - h.received.size(), 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) {
        h.deadline = {};  // closed or failed: dropped below
        continue;
      }
      h.received.append(buffer, static_cast<size_t>(n));
      if (h.received.size() < kTicketBytes) continue;
      // Every offer is compared in full, so how long a refusal takes says nothing of a
      // ticket's bytes.
      std::lock_guard lock(mutex_);
      Offered* match = nullptr;
      for (Offered& o : offered_) {
        if (TokensEqual(h.received, o.ticket) && !o.connection.valid()) match = &o;
      }
      int flags = fcntl(h.socket.fd(), F_GETFL);
      if (match != nullptr && flags >= 0 &&
          fcntl(h.socket.fd(), F_SETFL, flags & ~O_NONBLOCK) == 0) {
        ConfigureResultSocket(h.socket.fd());
        match->connection = std::move(h.socket);
        arrived_.notify_all();
      }
      h.deadline = {};
    }
    auto now = std::chrono::steady_clock::now();
    handshakes.erase(std::remove_if(handshakes.begin(), handshakes.end(),
                                    [&](const Handshake& h) { return h.deadline <= now; }),
                     handshakes.end());
  }
}

}  // namespace dux::rpc
