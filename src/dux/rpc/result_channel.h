// The result channel: an Execute result carried over a TCP connection of its own beside the
// gRPC call, so that a worker writes its IPC bytes straight to a socket and a coordinator reads
// them straight into its buffer, without protobuf messages and HTTP/2 frames (their copies
// were half the transfer's CPU; BENCHMARKS.md, "The result channel"). gRPC still carries the
// request, the offer (IpcChunk.result_channel), cancellation and the final status.
//
// On the connection: the caller sends the offer's ticket (kTicketBytes), then the worker sends
// frames until it closes: a header (kind, then the payload's length as 4 bytes little-endian)
// and the payload. kData frames hold the IPC stream's next bytes, kReport frames an IpcChunk
// with progress or stats and no data, and one kEnd frame (empty) says every byte was sent; a
// connection that closes without it was cut short, and the call's gRPC status says why.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "dux/common/socket.h"
#include "dux/common/status.h"
#include "dux/v1/worker.pb.h"

namespace dux::rpc {

constexpr size_t kTicketBytes = 32;

enum class FrameKind : char { kData = 'D', kReport = 'R', kEnd = 'E' };

/// The options both ends set on a result connection: no Nagle delay (a report or the end
/// frame goes out at once) and TCP keepalive with a user timeout, so that a peer that vanished
/// (its machine, not only its process) fails a blocked read or write within about 20 s, as
/// gRPC's keepalive fails the call.
void ConfigureResultSocket(int fd);

/// A single-use ticket: kTicketBytes from the kernel's random source.
Result<std::string> NewTicket();

/// Connects to HOST:`port` (the host of `address`, the worker's gRPC address) within
/// `timeout_seconds` and sends `ticket`.
Result<Socket> ConnectResultChannel(const std::string& address, uint32_t port,
                                    const std::string& ticket, double timeout_seconds);

/// The worker's end: writes frames, whole or not at all. False once the connection broke
/// (the caller went away or cancelled); never raises SIGPIPE.
class FrameWriter {
 public:
  explicit FrameWriter(Socket socket) : socket_(std::move(socket)) {}
  bool Write(FrameKind kind, const std::string& payload);
  /// Sends what a message of Execute's stream carries: its bytes, then its report if any.
  bool WriteMessage(const v1::IpcChunk& message);
  /// Wakes a Write blocked on a caller that stopped reading, from any thread.
  void Abort() const { socket_.Shutdown(); }

 private:
  Socket socket_;
};

/// The caller's end: the IPC bytes of the data frames, reports handed to `on_report`.
class FrameReader {
 public:
  explicit FrameReader(Socket socket) : socket_(std::move(socket)) {}
  /// Up to `size` bytes of the stream; 0 after the kEnd frame. An error when the connection
  /// broke or closed before it, or a frame is malformed.
  Result<size_t> Read(void* data, size_t size,
                      const std::function<void(const v1::IpcChunk&)>& on_report);
  /// Wakes a Read blocked in the socket, from any thread.
  void Abort() const { socket_.Shutdown(); }

 private:
  // recv into `data`, from the buffer first; reads of a buffer's size or more bypass it.
  Result<size_t> Receive(char* data, size_t size);
  Status ReceiveAll(char* data, size_t size);

  static constexpr size_t kBufferBytes = 64 << 10;
  Socket socket_;
  std::unique_ptr<char[]> buffer_{new char[kBufferBytes]};
  size_t buffered_begin_ = 0, buffered_end_ = 0;
  size_t frame_left_ = 0;  // bytes of the current data frame not yet read
  bool ended_ = false;
};

}  // namespace dux::rpc
