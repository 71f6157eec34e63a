// The result channel's two ends on a real loopback port: tickets, frames, and how a stream
// that was cut short or a caller that never came shows.
#include "dux/rpc/result_channel.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "dux/rpc/result_channel_listener.h"

namespace dux::rpc {
namespace {

std::unique_ptr<ResultChannelListener> Listen() {
  auto listener = ResultChannelListener::Start("127.0.0.1");
  EXPECT_TRUE(listener.ok()) << listener.status().message();
  return std::move(listener).value();
}

std::string Address(const ResultChannelListener& listener) {
  return "127.0.0.1:" + std::to_string(listener.port());
}

// Both ends of one result connection, made as an Execute call makes it.
struct Connection {
  std::unique_ptr<ResultChannelListener> listener;
  Socket caller, worker;
};

Connection Connect() {
  Connection c;
  c.listener = Listen();
  auto ticket = c.listener->Offer();
  EXPECT_TRUE(ticket.ok());
  auto caller = ConnectResultChannel(Address(*c.listener), c.listener->port(), *ticket, 5);
  EXPECT_TRUE(caller.ok()) << caller.status().message();
  auto worker = c.listener->Claim(*ticket, [] { return false; });
  EXPECT_TRUE(worker.ok()) << worker.status().message();
  c.caller = std::move(*caller);
  c.worker = std::move(*worker);
  return c;
}

// Reads everything until the end frame (or an error); reports are collected.
Result<std::string> ReadAll(FrameReader& reader, std::vector<v1::IpcChunk>* reports) {
  std::string out;
  char buffer[1000];
  for (;;) {
    DUX_ASSIGN_OR_RETURN(size_t n, reader.Read(buffer, sizeof buffer, [&](const v1::IpcChunk& r) {
      reports->push_back(r);
    }));
    if (n == 0) return out;
    out.append(buffer, n);
  }
}

TEST(ResultChannelTest, CarriesBytesAndReportsInOrderToTheEndFrame) {
  Connection c = Connect();
  // A payload bigger than the reader's buffer and the socket's, written while it is read.
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4096);
  std::thread writer([&, socket = std::move(c.worker)]() mutable {
    FrameWriter frames(std::move(socket));
    v1::IpcChunk message;
    message.set_data("head");
    message.mutable_progress()->set_rows_processed(7);
    EXPECT_TRUE(frames.WriteMessage(message));
    message.Clear();
    message.set_data(big);
    EXPECT_TRUE(frames.WriteMessage(message));
    message.Clear();
    message.mutable_stats()->set_rows(42);
    EXPECT_TRUE(frames.WriteMessage(message));
    EXPECT_TRUE(frames.Write(FrameKind::kEnd, ""));
  });
  FrameReader reader(std::move(c.caller));
  std::vector<v1::IpcChunk> reports;
  auto got = ReadAll(reader, &reports);
  writer.join();
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(*got, "head" + big);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].progress().rows_processed(), 7u);
  EXPECT_FALSE(reports[0].has_stats());
  EXPECT_TRUE(reports[0].data().empty());
  EXPECT_EQ(reports[1].stats().rows(), 42);
  EXPECT_FALSE(reports[1].has_progress());
}

TEST(ResultChannelTest, AStreamWithoutItsEndFrameIsAnError) {
  Connection c = Connect();
  {
    FrameWriter frames(std::move(c.worker));
    ASSERT_TRUE(frames.Write(FrameKind::kData, "partial"));
  }  // closed without kEnd, as a worker whose query failed
  FrameReader reader(std::move(c.caller));
  std::vector<v1::IpcChunk> reports;
  auto got = ReadAll(reader, &reports);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(got.status().message().find("closed"), std::string::npos) << got.status().message();
}

TEST(ResultChannelTest, AMalformedFrameIsAnError) {
  Connection c = Connect();
  FrameWriter frames(std::move(c.worker));
  ASSERT_TRUE(frames.Write(static_cast<FrameKind>('X'), "?"));
  FrameReader reader(std::move(c.caller));
  std::vector<v1::IpcChunk> reports;
  auto got = ReadAll(reader, &reports);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("unknown kind"), std::string::npos);
}

TEST(ResultChannelTest, OnlyTheOfferedTicketIsAcceptedAndOnlyOnce) {
  auto listener = Listen();
  auto ticket = listener->Offer();
  ASSERT_TRUE(ticket.ok());
  ASSERT_EQ(ticket->size(), kTicketBytes);
  auto other = NewTicket();
  ASSERT_TRUE(other.ok());
  ASSERT_NE(*other, *ticket);
  // A caller with a ticket never offered: the listener closes its connection.
  auto guessing = ConnectResultChannel(Address(*listener), listener->port(), *other, 5);
  ASSERT_TRUE(guessing.ok());
  char byte;
  EXPECT_EQ(recv(guessing->fd(), &byte, 1, 0), 0);
  // The right ticket, then the same ticket again: the second connection is closed.
  auto caller = ConnectResultChannel(Address(*listener), listener->port(), *ticket, 5);
  ASSERT_TRUE(caller.ok());
  auto claimed = listener->Claim(*ticket, [] { return false; });
  ASSERT_TRUE(claimed.ok()) << claimed.status().message();
  auto again = ConnectResultChannel(Address(*listener), listener->port(), *ticket, 5);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(recv(again->fd(), &byte, 1, 0), 0);
}

TEST(ResultChannelTest, AClaimEndsWhenTheCallerGoesAway) {
  auto listener = Listen();
  auto ticket = listener->Offer();
  ASSERT_TRUE(ticket.ok());
  std::atomic<bool> gone{false};
  std::thread leave([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    gone = true;
  });
  auto claimed = listener->Claim(*ticket, [&] { return gone.load(); });
  leave.join();
  EXPECT_EQ(claimed.status().code(), StatusCode::kCancelled);
  // The ticket is void now: connecting with it gets the connection closed.
  auto late = ConnectResultChannel(Address(*listener), listener->port(), *ticket, 5);
  ASSERT_TRUE(late.ok());
  char byte;
  EXPECT_EQ(recv(late->fd(), &byte, 1, 0), 0);
}

TEST(ResultChannelTest, AnUnreachablePortIsAnErrorNamingIt) {
  uint32_t port;
  {
    auto listener = Listen();
    port = listener->port();
  }  // nothing listens there now
  auto caller = ConnectResultChannel("127.0.0.1:1", port, std::string(kTicketBytes, 'x'), 5);
  ASSERT_FALSE(caller.ok());
  EXPECT_EQ(caller.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(caller.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << caller.status().message();
}

}  // namespace
}  // namespace dux::rpc
