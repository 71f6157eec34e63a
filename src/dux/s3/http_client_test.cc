// HttpClient against servers in the test: cpp-httplib for well-formed answers, and raw
// sockets for what a real network does (reset connections, silence, truncated bodies).
#include "dux/s3/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <set>
#include <thread>

namespace dux::s3 {
namespace {

using std::chrono::milliseconds;

// A cpp-httplib server on a free loopback port, in its own thread.
class LocalHttpServer {
 public:
  explicit LocalHttpServer(const std::function<void(httplib::Server&)>& routes) {
    routes(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LocalHttpServer() {
    server_.stop();
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// A TCP server whose `behavior` gets each accepted connection (its index from 0, the
// socket) and decides what to send; the socket is closed after it returns.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<void(int, int)> behavior) : behavior_(std::move(behavior)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(listen(listen_fd_, 16), 0);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      for (int index = 0;; ++index) {
        int fd = accept(listen_fd_, nullptr, nullptr);
        if (fd < 0) return;  // shut down
        connections_ = index + 1;
        behavior_(index, fd);
        close(fd);
      }
    });
  }
  ~ScriptedServer() {
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    thread_.join();
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/object"; }
  int connections() const { return connections_; }

  // Reads a request's head (up to the blank line).
  static void ReadHead(int fd) {
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos && read(fd, &c, 1) == 1) head += c;
  }
  static void Write(int fd, const std::string& text) {
    EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }

 private:
  std::function<void(int, int)> behavior_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::thread thread_;
};

HttpOptions FastRetries(int max_attempts) {
  HttpOptions options;
  options.retry.max_attempts = max_attempts;
  options.retry.base_delay = milliseconds(5);
  options.retry.max_delay = milliseconds(20);
  return options;
}

std::unique_ptr<HttpClient> MakeClient(HttpOptions options = FastRetries(4)) {
  Result<std::unique_ptr<HttpClient>> client = HttpClient::Make(options);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return std::move(client).value();
}

TEST(S3HttpClientTest, MethodsBodiesAndHeaders) {
  LocalHttpServer server([](httplib::Server& s) {
    auto echo = [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("X-Method", req.method);
      res.set_header("X-Content-Type", req.get_header_value("Content-Type"));
      res.set_header("X-Expect", req.get_header_value("Expect"));
      res.set_header("X-Custom", req.get_header_value("X-Amz-Custom"));
      res.set_content(req.method == "HEAD" ? "" : "body:" + req.body, "text/plain");
    };
    s.Get("/e", echo).Put("/e", echo).Post("/e", echo).Delete("/e", echo);
  });
  auto client = MakeClient();
  const std::string big(3 << 20, 'x');  // large enough for curl to want Expect: 100-continue
  for (std::string method : {"GET", "PUT", "POST", "DELETE", "HEAD"}) {
    HttpRequest request;
    request.method = method;
    request.url = server.Url("/e");
    request.headers = {{"X-Amz-Custom", "v1"}};
    if (method == "PUT" || method == "POST") request.body = big;
    Result<HttpResponse> response = client->Send(request);
    ASSERT_TRUE(response.ok()) << method << ": " << response.status().ToString();
    EXPECT_EQ(response->status, 200) << method;
    EXPECT_EQ(*response->Header("x-method"), method);
    EXPECT_EQ(*response->Header("x-custom"), "v1");
    EXPECT_EQ(*response->Header("x-content-type"), "") << method << ": curl added a content type";
    EXPECT_EQ(*response->Header("x-expect"), "") << method;
    EXPECT_EQ(response->attempts, 1);
    if (method == "HEAD") {
      EXPECT_EQ(response->body, "");
    } else {
      EXPECT_EQ(response->body, "body:" + std::string(request.body)) << method;
    }
  }
}

TEST(S3HttpClientTest, ReusesConnectionsAndStreamsToASink) {
  std::mutex mutex;
  std::set<int> client_ports;
  LocalHttpServer server([&](httplib::Server& s) {
    s.Get("/data", [&](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mutex);
      client_ports.insert(req.remote_port);
      res.set_content(std::string(1 << 20, 'd'), "application/octet-stream");
    });
    s.Get("/missing", [](const httplib::Request&, httplib::Response& res) {
      res.status = 404;
      res.set_content("<Error><Code>NoSuchKey</Code></Error>", "application/xml");
    });
  });
  auto client = MakeClient();
  for (int i = 0; i < 5; ++i) {
    size_t received = 0;
    HttpRequest request{"GET", server.Url("/data"), {}, {}, nullptr, nullptr};
    request.body_sink = [&](std::string_view piece) {
      received += piece.size();
      return Status::OK();
    };
    Result<HttpResponse> response = client->Send(request);
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(received, 1u << 20);
    EXPECT_TRUE(response->body.empty());
  }
  EXPECT_EQ(client_ports.size(), 1u) << "five sequential requests used several connections";

  // An error's body is kept for the caller, not given to the sink.
  size_t to_sink = 0;
  HttpRequest request{"GET", server.Url("/missing"), {}, {}, nullptr, nullptr};
  request.body_sink = [&](std::string_view piece) {
    to_sink += piece.size();
    return Status::OK();
  };
  Result<HttpResponse> response = client->Send(request);
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->body, "<Error><Code>NoSuchKey</Code></Error>");
  EXPECT_EQ(to_sink, 0u);
  EXPECT_EQ(response->attempts, 1);  // a 404 is not retried

  // A sink's error ends the transfer and is returned as is.
  request.url = server.Url("/data");
  request.body_sink = [](std::string_view) {
    return Status(StatusCode::kOutOfRange, "buffer full");
  };
  response = client->Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kOutOfRange);
}

TEST(S3HttpClientTest, RetriesThrottlingAndServerErrorsThenSucceeds) {
  for (int status : {503, 500, 429, 502}) {
    std::atomic<int> calls{0};
    LocalHttpServer server([&](httplib::Server& s) {
      s.Get("/flaky", [&](const httplib::Request&, httplib::Response& res) {
        if (++calls <= 2) {
          res.status = status;
          res.set_content("busy", "text/plain");
        } else {
          res.set_content("ok", "text/plain");
        }
      });
    });
    auto client = MakeClient(FastRetries(4));
    Result<HttpResponse> response = client->Send({"GET", server.Url("/flaky"), {}, {}, {}, {}});
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 200) << status;
    EXPECT_EQ(response->body, "ok");
    EXPECT_EQ(response->attempts, 3);
    EXPECT_EQ(calls, 3);
  }
}

TEST(S3HttpClientTest, GivesUpAfterMaxAttemptsAndNeverRetriesOther4xx) {
  std::atomic<int> unavailable_calls{0};
  std::atomic<int> forbidden_calls{0};
  std::atomic<int> not_implemented_calls{0};
  LocalHttpServer server([&](httplib::Server& s) {
    s.Get("/down", [&](const httplib::Request&, httplib::Response& res) {
      ++unavailable_calls;
      res.status = 503;
    });
    s.Get("/forbidden", [&](const httplib::Request&, httplib::Response& res) {
      ++forbidden_calls;
      res.status = 403;
    });
    s.Get("/nope", [&](const httplib::Request&, httplib::Response& res) {
      ++not_implemented_calls;
      res.status = 501;
    });
  });
  auto client = MakeClient(FastRetries(3));
  Result<HttpResponse> response = client->Send({"GET", server.Url("/down"), {}, {}, {}, {}});
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 503);  // the last answer, for the caller to report
  EXPECT_EQ(response->attempts, 3);
  EXPECT_EQ(unavailable_calls, 3);

  response = client->Send({"GET", server.Url("/forbidden"), {}, {}, {}, {}});
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 403);
  EXPECT_EQ(forbidden_calls, 1);
  response = client->Send({"GET", server.Url("/nope"), {}, {}, {}, {}});
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(not_implemented_calls, 1);
}

TEST(S3HttpClientTest, TotalRetryTimeIsBounded) {
  std::atomic<int> calls{0};
  LocalHttpServer server([&](httplib::Server& s) {
    s.Get("/down", [&](const httplib::Request&, httplib::Response& res) {
      ++calls;
      res.status = 503;
    });
  });
  HttpOptions options;
  options.retry.max_attempts = 1000;
  options.retry.base_delay = milliseconds(40);
  options.retry.max_delay = milliseconds(40);
  options.retry.max_total = milliseconds(300);
  auto client = MakeClient(options);
  const auto start = std::chrono::steady_clock::now();
  Result<HttpResponse> response = client->Send({"GET", server.Url("/down"), {}, {}, {}, {}});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 503);
  EXPECT_LT(elapsed, milliseconds(2000));
  EXPECT_GT(calls, 2);
  EXPECT_LT(calls, 1000);
}

TEST(S3HttpClientTest, RetriesResetConnections) {
  // The first two connections are closed without an answer (curl: "Empty reply").
  ScriptedServer server([](int index, int fd) {
    ScriptedServer::ReadHead(fd);
    if (index < 2) return;
    ScriptedServer::Write(fd,
                          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  });
  auto client = MakeClient(FastRetries(4));
  Result<HttpResponse> response = client->Send({"GET", server.Url(), {}, {}, {}, {}});
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->body, "ok");
  EXPECT_EQ(response->attempts, 3);
  EXPECT_EQ(server.connections(), 3);

  // With fewer attempts than failures, the error says why and how often it tried.
  ScriptedServer dead([](int, int fd) { ScriptedServer::ReadHead(fd); });
  response = MakeClient(FastRetries(2))->Send({"GET", dead.Url(), {}, {}, {}, {}});
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(response.status().message().find("(2 attempts in "), std::string::npos)
      << response.status().message();
  EXPECT_EQ(dead.connections(), 2);
}

TEST(S3HttpClientTest, RetriesTimeouts) {
  std::atomic<bool> stop{false};
  ScriptedServer silent([&](int index, int fd) {
    ScriptedServer::ReadHead(fd);
    if (index == 0) {
      while (!stop) std::this_thread::sleep_for(milliseconds(10));  // never answers
      return;
    }
    ScriptedServer::Write(fd,
                          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  });
  HttpOptions options = FastRetries(3);
  options.request_timeout = milliseconds(300);
  auto client = MakeClient(options);
  // The server handles one connection at a time: answer the second once the first timed out.
  std::thread releaser([&] {
    std::this_thread::sleep_for(milliseconds(400));
    stop = true;
  });
  Result<HttpResponse> response = client->Send({"GET", silent.Url(), {}, {}, {}, {}});
  releaser.join();
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->body, "ok");
  EXPECT_EQ(response->attempts, 2);
}

TEST(S3HttpClientTest, RestartsTheSinkWhenATransferBreaksMidway) {
  // The first answer promises 10 bytes and sends 4; the second is whole.
  ScriptedServer server([](int index, int fd) {
    ScriptedServer::ReadHead(fd);
    if (index == 0) {
      ScriptedServer::Write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123");
      return;
    }
    ScriptedServer::Write(fd,
                          "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
                          "0123456789");
  });
  std::string received;
  int restarts = 0;
  HttpRequest request{"GET", server.Url(), {}, {}, nullptr, nullptr};
  request.body_sink = [&](std::string_view piece) {
    received.append(piece);
    return Status::OK();
  };
  request.restart_sink = [&] {
    received.clear();
    ++restarts;
  };
  Result<HttpResponse> response = MakeClient(FastRetries(3))->Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(received, "0123456789");
  EXPECT_EQ(restarts, 1);

  // Without a way to restart, bytes already delivered are not delivered twice: no retry.
  ScriptedServer once([](int, int fd) {
    ScriptedServer::ReadHead(fd);
    ScriptedServer::Write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123");
  });
  received.clear();
  request.url = once.Url();
  request.restart_sink = nullptr;
  response = MakeClient(FastRetries(3))->Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(once.connections(), 1);
  EXPECT_EQ(received, "0123");
}

TEST(S3HttpClientTest, ConcurrentSendsFromManyThreads) {
  std::atomic<int> calls{0};
  LocalHttpServer server([&](httplib::Server& s) {
    s.Get(R"(/n/(\d+))", [&](const httplib::Request& req, httplib::Response& res) {
      ++calls;
      res.set_content(req.matches[1].str(), "text/plain");
    });
  });
  auto client = MakeClient();
  std::vector<std::thread> threads;
  threads.reserve(8);
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const std::string n = std::to_string(t * 100 + i);
        Result<HttpResponse> r = client->Send({"GET", server.Url("/n/" + n), {}, {}, {}, {}});
        if (!r.ok() || r->body != n) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(calls, 200);
}

}  // namespace
}  // namespace dux::s3
