// The result channel: a TCP connection of its own beside a gRPC call, that carries the call's
// bulk bytes without protobuf messages and HTTP/2 frames (their copies were half the
// transfer's CPU; BENCHMARKS.md, "The result channel"). It carries Execute's result from the
// worker to its caller, and PushBuckets' chunks from a producing worker to the bucket's owner;
// gRPC still carries the request, the offer, cancellation and the final status.
//
// On the connection: the side that reads gRPC's offer connects and sends the ticket
// (kTicketBytes). Then the sending side sends frames: a header (kind, then the payload's
// length as 4 bytes little-endian) and the payload, and one kEnd frame (empty) once every
// byte was sent; a connection that closes without it was cut short, and the call's gRPC
// status says why. Execute's result: kData frames hold the IPC stream's next bytes, kReport
// frames an IpcChunk with progress or stats and no data. PushBuckets: each BucketChunk as a
// kHead frame (the chunk without its data) followed by a kData frame (its data).
#pragma once

#include <sys/uio.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "dux/common/socket.h"
#include "dux/common/status.h"
#include "dux/v1/worker.pb.h"

namespace dux::rpc {

constexpr size_t kTicketBytes = 32;

enum class FrameKind : char { kData = 'D', kReport = 'R', kHead = 'H', kEnd = 'E' };

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

/// The sending end: writes frames, whole or not at all. False once the connection broke
/// (the receiver went away or cancelled); never raises SIGPIPE.
class FrameWriter {
 public:
  explicit FrameWriter(Socket socket) : socket_(std::move(socket)) {}
  bool Write(FrameKind kind, const std::string& payload);
  /// Sends what a message of Execute's stream carries: its bytes, then its report if any.
  bool WriteMessage(const v1::IpcChunk& message);
  /// Sends a PushBuckets chunk: its head frame and its data frame.
  bool WriteChunk(const v1::BucketChunk& chunk);
  /// Wakes a Write blocked on a receiver that stopped reading, from any thread.
  void Abort() const { socket_.Shutdown(); }

 private:
  bool Send(iovec* parts, int count);

  Socket socket_;
};

/// The receiving end.
class FrameReader {
 public:
  explicit FrameReader(Socket socket) : socket_(std::move(socket)) {}
  /// Execute's result: up to `size` bytes of the stream, reports handed to `on_report`; 0 after
  /// the kEnd frame. An error when the connection broke or closed before it, or a frame is
  /// malformed.
  Result<size_t> Read(void* data, size_t size,
                      const std::function<void(const v1::IpcChunk&)>& on_report);
  /// PushBuckets: the next chunk's head into `head` (its data then comes from ReadData), false
  /// after the kEnd frame. The previous chunk's data must have been read. Errors as Read's;
  /// ResourceExhausted for a chunk of more than `max_bytes`, as gRPC refuses a message.
  Result<bool> ReadHead(v1::BucketChunk* head, size_t max_bytes);
  /// Up to `size` bytes of the current chunk's data, received straight into `data`; 0 once
  /// all of it was read.
  Result<size_t> ReadData(void* data, size_t size);
  /// Wakes a Read blocked in the socket, from any thread.
  void Abort() const { socket_.Shutdown(); }

 private:
  // recv into `data`, from the buffer first; reads of a buffer's size or more bypass it.
  Result<size_t> Receive(char* data, size_t size);
  Status ReceiveAll(char* data, size_t size);
  // The next frame's header: its kind and its payload's length.
  Result<std::pair<FrameKind, uint32_t>> ReceiveHeader();

  static constexpr size_t kBufferBytes = 64 << 10;
  Socket socket_;
  std::unique_ptr<char[]> buffer_{new char[kBufferBytes]};
  size_t buffered_begin_ = 0, buffered_end_ = 0;
  size_t frame_left_ = 0;  // bytes of the current data frame not yet read
  bool ended_ = false;
};

}  // namespace dux::rpc
