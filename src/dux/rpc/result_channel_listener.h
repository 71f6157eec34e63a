// The worker's end of the result channel (result_channel.h): a TCP port beside its gRPC port
// where callers present the tickets the worker offered them on their Execute calls. One
// thread accepts connections and reads their tickets; a connection whose ticket the worker
// did not offer, or that sends none within kHandshakeTimeout, is closed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dux/rpc/result_channel.h"

namespace dux::rpc {

class ResultChannelListener {
 public:
  static constexpr std::chrono::seconds kHandshakeTimeout{10};

  /// Listens on `host` (the worker's gRPC host: the same interfaces, so the same callers can
  /// reach it) on a port the kernel picks.
  static Result<std::unique_ptr<ResultChannelListener>> Start(const std::string& host);
  /// Stops accepting; connections not yet claimed are closed.
  ~ResultChannelListener();
  ResultChannelListener(const ResultChannelListener&) = delete;
  ResultChannelListener& operator=(const ResultChannelListener&) = delete;

  uint32_t port() const { return port_; }
  /// Tickets offered, and connections handed to their calls, since the start.
  int64_t offered() const { return offered_count_; }
  int64_t claimed() const { return claimed_count_; }

  /// A new single-use ticket, offered to one caller; it is accepted until Claim returns.
  Result<std::string> Offer();

  /// The connection that presented `ticket`, once it came. Fails when `cancelled()` turns
  /// true (checked every 50 ms) or kHandshakeTimeout passes; the ticket is void after.
  Result<Socket> Claim(const std::string& ticket, const std::function<bool()>& cancelled);

 private:
  ResultChannelListener(Socket listener, Socket wake, uint32_t port);
  void Accept();

  struct Offered {
    std::string ticket;
    Socket connection;  // valid once its caller connected
  };

  Socket listener_;
  Socket wake_;  // an eventfd that ends Accept's poll
  uint32_t port_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<Offered> offered_;
  std::atomic<int64_t> offered_count_{0}, claimed_count_{0};
  std::thread acceptor_;  // last: it uses the members above
};

}  // namespace dux::rpc
