// The test S3 server behaves as S3 does where the tests depend on it: an object being
// replaced is seen old and whole, or new and whole (s3rver_with_whole_puts.js).
#include "s3_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <string>
#include <thread>

#include "s3_test_environment.h"

namespace dux::test {
namespace {

constexpr const char* kBucket = "whole";

S3Server* server = nullptr;

const testing::Environment* const kEnvironment =
    testing::AddGlobalTestEnvironment(new S3TestEnvironment({kBucket}, &server));

/// A connection to the server that sends raw bytes, so that a request can stop midway.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ =
        fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~RawConnection() {
    if (fd_ >= 0) close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  bool Send(const std::string& bytes) {
    return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  /// Everything until the server closes (requests here say "Connection: close").
  std::string ReadAll() {
    std::string out;
    char buffer[4096];
    ssize_t n;
    while ((n = recv(fd_, buffer, sizeof(buffer), 0)) > 0) out.append(buffer, n);
    return out;
  }

 private:
  int fd_;
  bool connected_ = false;
};

/// The head of a request for `/whole/k` that s3rver accepts: it checks the access key, the
/// date (15 minutes either way) and the payload header, not the signature.
std::string RequestHead(const std::string& method, size_t content_length) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char date[17];
  std::strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &utc);
  std::string head = method + " /" + std::string(kBucket) +
                     "/k HTTP/1.1\r\n"
                     "Host: 127.0.0.1\r\n"
                     "Connection: close\r\n"
                     "x-amz-date: " +
                     date +
                     "\r\n"
                     "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n"
                     "Authorization: AWS4-HMAC-SHA256 Credential=S3RVER/" +
                     std::string(date, 8) +
                     "/us-east-1/s3/aws4_request, "
                     "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" +
                     std::string(64, '0') + "\r\n";
  if (method == "PUT") head += "Content-Length: " + std::to_string(content_length) + "\r\n";
  return head + "\r\n";
}

std::string Body(const std::string& reply) {
  size_t end = reply.find("\r\n\r\n");
  return end == std::string::npos ? "" : reply.substr(end + 4);
}

bool IsOk(const std::string& reply) { return reply.starts_with("HTTP/1.1 200 OK\r\n"); }

/// "OK", or the whole reply when it is not 200.
std::string Put(const std::string& body) {
  RawConnection put(server->port());
  if (!put.connected() || !put.Send(RequestHead("PUT", body.size()) + body)) return "no send";
  std::string reply = put.ReadAll();
  return IsOk(reply) ? "OK" : reply;
}

/// The object's bytes, or the whole reply when it is not 200.
std::string Get() {
  RawConnection get(server->port());
  if (!get.connected() || !get.Send(RequestHead("GET", 0))) return "no send";
  std::string reply = get.ReadAll();
  return IsOk(reply) ? Body(reply) : reply;
}

TEST(S3ServerTest, AnObjectBeingReplacedReadsOldAndWholeUntilThePutAnswers) {
  ASSERT_NE(server, nullptr);
  const std::string old_body(3000, 'o');
  ASSERT_EQ(Put(old_body), "OK");
  ASSERT_EQ(Get(), old_body);

  // A PUT that has sent half its body: s3rver 3.7.1 alone has truncated the object by now
  // and serves what it has written of the new one.
  const std::string new_body(4000, 'n');
  RawConnection put(server->port());
  ASSERT_TRUE(put.connected());
  ASSERT_TRUE(put.Send(RequestHead("PUT", new_body.size()) + new_body.substr(0, 2000)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Get(), old_body);

  ASSERT_TRUE(put.Send(new_body.substr(2000)));
  EXPECT_TRUE(IsOk(put.ReadAll()));
  // Once the PUT has answered, every read sees the whole new object.
  EXPECT_EQ(Get(), new_body);
}

}  // namespace
}  // namespace dux::test
