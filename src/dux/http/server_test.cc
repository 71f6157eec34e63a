// http::Server on real loopback sockets, asked by cpp-httplib's client (an independent
// implementation) and by raw bytes: routes, path and query parameters, the token (header,
// cookie, login form), the listen rules, keep-alive, and what malformed requests get.
#include "dux/http/server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <vector>

#include "dux/http/metrics_route.h"

namespace dux::http {
namespace {

std::vector<Route> EchoRoutes() {
  return {{Method::kGet, "/hello",
           [](const Request&) {
             return Response{200, "text/plain", "hello\n", {}};
           }},
          {Method::kGet, "/items/([a-z0-9]+)",
           [](const Request& r) {
             return Response{200,
                             "text/plain",
                             "item " + r.path_params.at(0) + " limit " + r.Param("limit", "none"),
                             {{"X-Dux", "yes"}}};
           }},
          {Method::kPost, "/echo",
           [](const Request& r) {
             return Response{201, "text/plain", r.Param("name") + "|" + r.body, {}};
           }},
          {Method::kGet, "/throws",
           [](const Request&) -> Response { throw std::runtime_error("secret detail"); }}};
}

// A connection to `address` (127.0.0.1:PORT) that reads with a 5 s timeout; -1 on failure.
int Connect(const std::string& address) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1))));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// All `fd` answers until it closes (or 5 s pass), then closes it.
std::string ReadAll(int fd) {
  std::string answer;
  char buffer[4096];
  for (ssize_t n; (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) answer.append(buffer, n);
  close(fd);
  return answer;
}

// Sends `bytes` on a new connection to `address` and returns all it answers.
std::string RawExchange(const std::string& address, const std::string& bytes) {
  int fd = Connect(address);
  if (fd < 0) return "";
  if (send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size())) {
    close(fd);
    return "";
  }
  return ReadAll(fd);
}

// host:port -> a client of it.
httplib::Client ClientOf(const std::string& address) {
  size_t colon = address.rfind(':');
  return httplib::Client(address.substr(0, colon), std::stoi(address.substr(colon + 1)));
}

TEST(HttpServer, ServesRoutesWithParametersOnAKernelPickedPort) {
  auto server = Server::Start({"127.0.0.1:0", "", 2}, EchoRoutes());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_EQ((*server)->address().rfind("127.0.0.1:", 0), 0u);
  EXPECT_NE((*server)->address(), "127.0.0.1:0");
  auto client = ClientOf((*server)->address());
  auto hello = client.Get("/hello");
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->status, 200);
  EXPECT_EQ(hello->body, "hello\n");
  EXPECT_EQ(hello->get_header_value("Content-Type"), "text/plain");
  auto item = client.Get("/items/a7?limit=3");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->body, "item a7 limit 3");
  EXPECT_EQ(item->get_header_value("X-Dux"), "yes");
  auto form = client.Post("/echo", httplib::Params{{"name", "x y"}});
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 201);
  // The form field decoded, and the body as sent.
  EXPECT_EQ(form->body.rfind("x y|name=x", 0), 0u) << form->body;
  auto missing = client.Get("/items/A/b");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST(HttpServer, WithATokenEveryRequestNeedsItAsBearerOrCookie) {
  auto server = Server::Start({"127.0.0.1:0", "s3cret", 2}, EchoRoutes());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto client = ClientOf((*server)->address());

  auto none = client.Get("/hello");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(none->body.find("s3cret"), std::string::npos);
  EXPECT_NE(none->body.find("action=\"/login\""), std::string::npos);
  // Unknown paths too: nothing is told before the token.
  auto unknown = client.Get("/nothing-here");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 401);

  auto wrong = client.Get("/hello", {{"Authorization", "Bearer s3creT"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto longer = client.Get("/hello", {{"Authorization", "Bearer s3cret2"}});
  ASSERT_TRUE(longer);
  EXPECT_EQ(longer->status, 401);

  auto bearer = client.Get("/hello", {{"Authorization", "Bearer s3cret"}});
  ASSERT_TRUE(bearer);
  EXPECT_EQ(bearer->status, 200);
  EXPECT_EQ(bearer->body, "hello\n");

  auto cookie = client.Get("/items/q1", {{"Cookie", "theme=dark; dux_token=s3cret"}});
  ASSERT_TRUE(cookie);
  EXPECT_EQ(cookie->status, 200);
  auto bad_cookie = client.Get("/hello", {{"Cookie", "dux_token=nope; other=s3cret"}});
  ASSERT_TRUE(bad_cookie);
  EXPECT_EQ(bad_cookie->status, 401);
  auto post = client.Post("/echo", httplib::Params{{"name", "n"}});
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 401);
}

TEST(HttpServer, LoginSetsTheTokenCookieAndRedirectsToALocalPage) {
  auto server = Server::Start({"127.0.0.1:0", "s3cret", 2}, EchoRoutes());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto client = ClientOf((*server)->address());

  auto wrong = client.Post("/login", httplib::Params{{"token", "guess"}, {"next", "/hello"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_FALSE(wrong->has_header("Set-Cookie"));

  auto right = client.Post("/login", httplib::Params{{"token", "s3cret"}, {"next", "/hello"}});
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 303);
  EXPECT_EQ(right->get_header_value("Location"), "/hello");
  std::string set_cookie = right->get_header_value("Set-Cookie");
  EXPECT_EQ(set_cookie.rfind("dux_token=s3cret;", 0), 0u) << set_cookie;
  EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos);

  // Another site is never a destination.
  auto away = client.Post("/login", httplib::Params{{"token", "s3cret"}, {"next", "//evil/x"}});
  ASSERT_TRUE(away);
  EXPECT_EQ(away->get_header_value("Location"), "/");
}

TEST(HttpServer, RefusesANonLoopbackAddressWithoutAToken) {
  auto refused = Server::Start({"0.0.0.0:0", "", 2}, EchoRoutes());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("refusing to listen on 0.0.0.0:0 without a token"),
            std::string::npos)
      << refused.status().message();
  auto with_token = Server::Start({"0.0.0.0:0", "t", 2}, EchoRoutes());
  EXPECT_TRUE(with_token.ok()) << with_token.status().ToString();
}

TEST(HttpServer, ReportsBadAndTakenAddresses) {
  auto bad = Server::Start({"localhost", "", 2}, EchoRoutes());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "\"localhost\" is not HOST:PORT");
  auto first = Server::Start({"127.0.0.1:0", "", 2}, EchoRoutes());
  ASSERT_TRUE(first.ok());
  auto second = Server::Start({(*first)->address(), "", 2}, EchoRoutes());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen on " + (*first)->address()),
            std::string::npos)
      << second.status().message();
}

TEST(HttpServer, KeepsAConnectionAliveAndAnswersHeadWithoutABody) {
  auto server = Server::Start({"127.0.0.1:0", "", 2}, EchoRoutes());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  // Two requests in one write: both answered, in order, on the one connection; the second
  // asks to close it.
  std::string answer = RawExchange((*server)->address(),
                                   "GET /items/a%37?limit=2 HTTP/1.1\r\nHost: x\r\n\r\n"
                                   "HEAD /hello HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(answer,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 15\r\nX-Dux: yes"
            "\r\nConnection: keep-alive\r\n\r\nitem a7 limit 2"
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
            "Connection: close\r\n\r\n");
  // cpp-httplib's client on one kept-alive connection.
  auto client = ClientOf((*server)->address());
  client.set_keep_alive(true);
  for (int i = 0; i < 3; ++i) {
    auto hello = client.Get("/hello");
    ASSERT_TRUE(hello);
    EXPECT_EQ(hello->body, "hello\n");
  }
}

TEST(HttpServer, AnswersMalformedAndOversizedRequestsWithTheirStatus) {
  auto server = Server::Start({"127.0.0.1:0", "", 2}, EchoRoutes());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string& address = (*server)->address();
  auto status_of = [&](const std::string& request) {
    std::string answer = RawExchange(address, request);
    return answer.substr(0, answer.find("\r\n"));
  };
  EXPECT_EQ(status_of("NONSENSE\r\n\r\n"), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_of("GET /hello HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_of("GET /hello HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n"),
            "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(status_of("POST /echo HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n"),
            "HTTP/1.1 413 Content Too Large");
  EXPECT_EQ(status_of("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "HTTP/1.1 501 Not Implemented");
  EXPECT_EQ(status_of("DELETE /hello HTTP/1.1\r\nConnection: close\r\n\r\n"),
            "HTTP/1.1 405 Method Not Allowed");
  // A handler's exception is a 500 that tells nothing of it.
  std::string thrown = RawExchange(address, "GET /throws HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(thrown.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u) << thrown;
  EXPECT_EQ(thrown.find("secret detail"), std::string::npos);
  // The server still serves after all of that.
  auto hello = ClientOf(address).Get("/hello");
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->status, 200);
}

TEST(HttpServer, ConnectionsBeyondTheWaitingOnesGetServiceUnavailable) {
  auto server = Server::Start({"127.0.0.1:0", "", 1}, EchoRoutes());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  // One connection that sends nothing holds the only thread; 64 more wait for it.
  std::vector<int> held;
  for (int i = 0; i < 65; ++i) {
    held.push_back(Connect((*server)->address()));
    ASSERT_GE(held.back(), 0);
  }
  std::string refused = ReadAll(Connect((*server)->address()));
  EXPECT_EQ(refused.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << refused;
  for (int fd : held) close(fd);
}

TEST(HttpServer, StopsAtOnceWithAnIdleKeptAliveConnectionOpen) {
  auto server = Server::Start({"127.0.0.1:0", "", 1}, EchoRoutes());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto client = ClientOf((*server)->address());
  client.set_keep_alive(true);
  ASSERT_TRUE(client.Get("/hello"));
  auto start = std::chrono::steady_clock::now();
  server->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
}

TEST(HttpServer, MetricsRouteServesTheRegistryAsPrometheusText) {
  MetricsRegistry registry;
  auto& hits = registry.AddCounter("dux_test_hits_total", "Hits.").Get();
  auto server = Server::Start({"127.0.0.1:0", "", 2}, {MetricsRoute(registry)});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto client = ClientOf((*server)->address());
  hits.Increment(2);
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics->body.find("\ndux_test_hits_total 2\n"), std::string::npos) << metrics->body;
}

}  // namespace
}  // namespace dux::http
