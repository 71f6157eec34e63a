#include "dux/http/server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <regex>
#include <thread>

#include "dux/common/http_status.h"
#include "dux/common/server_access.h"
#include "dux/common/socket.h"
#include "dux/http/request_head.h"

namespace dux::http {

std::string Request::Param(const std::string& name, const std::string& fallback) const {
  auto it = params.find(name);
  return it == params.end() ? fallback : it->second;
}

namespace {

// Limits on what a client may send: dux's pages take a few parameters and a token.
constexpr size_t kMaxHeadBytes = size_t{16} << 10;
constexpr size_t kMaxBodyBytes = size_t{1} << 20;
// How long a request may take to arrive, and a kept-alive connection may idle, before it is
// closed: an idle connection holds one of the server's threads.
constexpr int kRequestTimeoutMs = 5000;
constexpr int kKeepAliveTimeoutMs = 2000;
// Connections accepted and waiting for a thread; past it a new one gets 503 at once.
constexpr size_t kMaxWaiting = 64;

// The value of cookie `name` in a Cookie header ("a=1; dux_token=XYZ"), or empty.
std::string CookieValue(const std::string& header, const std::string& name) {
  size_t start = 0;
  while (start < header.size()) {
    size_t end = header.find(';', start);
    if (end == std::string::npos) end = header.size();
    size_t first = header.find_first_not_of(' ', start);
    if (first < end && header.compare(first, name.size(), name) == 0 && first + name.size() < end &&
        header[first + name.size()] == '=') {
      return header.substr(first + name.size() + 1, end - first - name.size() - 1);
    }
    start = end + 1;
  }
  return "";
}

bool Authorized(const RequestHead& head, const std::string& token) {
  for (const auto& [name, value] : head.headers) {
    if (name == "authorization" && TokensEqual(value, "Bearer " + token)) return true;
    if (name == "cookie") {
      std::string cookie = CookieValue(value, kTokenCookie);
      if (!cookie.empty() && TokensEqual(cookie, token)) return true;
    }
  }
  return false;
}

std::string HtmlEscape(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    switch (c) {
      case '&':
        escaped += "&amp;";
        break;
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

// The 401 page: a form that posts the token to /login, coming back to `next`.
Response Unauthorized(const std::string& next) {
  return {401,
          "text/html; charset=utf-8",
          "<!doctype html><html><head><meta charset=\"utf-8\"><title>dux: token required</title>"
          "</head><body><form method=\"post\" action=\"/login\"><p>This dux server needs its "
          "token.</p><input type=\"password\" name=\"token\" autofocus> <input type=\"hidden\" "
          "name=\"next\" value=\"" +
              HtmlEscape(next) + "\"><button>Sign in</button></form></body></html>\n",
          {{"WWW-Authenticate", "Bearer"}, {"Cache-Control", "no-store"}}};
}

// A local path to redirect to after login: "/..." but not "//host" (another site).
std::string SafeNext(const std::string& next) {
  if (next.size() >= 1 && next[0] == '/' && (next.size() == 1 || next[1] != '/') &&
      next.find_first_of("\r\n\\") == std::string::npos) {
    return next;
  }
  return "/";
}

Response Login(const Request& request, const std::string& token) {
  std::string given = request.Param("token");
  std::string next = SafeNext(request.Param("next", "/"));
  if (given.empty() || !TokensEqual(given, token)) return Unauthorized(next);
  return {303,
          "text/plain; charset=utf-8",
          "signed in\n",
          {{"Location", next},
           {"Set-Cookie",
            std::string(kTokenCookie) + "=" + token + "; Path=/; HttpOnly; SameSite=Strict"}}};
}

Response Plain(int status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body), {}};
}

// Why a connection's reading stopped.
enum class ReadEnd { kData, kClosed, kTimeout, kStopping };

// One client connection: reads with a deadline, wakes when the server stops.
class Connection {
 public:
  Connection(Socket socket, int stop_fd) : socket_(std::move(socket)), stop_fd_(stop_fd) {}

  // Appends what arrives within `timeout_ms` to `buffer_`.
  ReadEnd Read(int timeout_ms) {
    pollfd polled[2] = {{socket_.fd(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int ready = poll(polled, 2, timeout_ms);
    if (ready < 0 && errno == EINTR) return ReadEnd::kData;
    if (polled[1].revents != 0) return ReadEnd::kStopping;
    if (ready == 0) return ReadEnd::kTimeout;
    char chunk[8192];
    ssize_t n = recv(socket_.fd(), chunk, sizeof chunk, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return ReadEnd::kData;
    if (n <= 0) return ReadEnd::kClosed;
    buffer_.append(chunk, static_cast<size_t>(n));
    return ReadEnd::kData;
  }

  // Reads until `enough` holds, at most `timeout_ms` in all.
  ReadEnd ReadUntil(const std::function<bool()>& enough, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!enough()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) return ReadEnd::kTimeout;
      ReadEnd end = Read(static_cast<int>(left));
      if (end != ReadEnd::kData) return end;
    }
    return ReadEnd::kData;
  }

  bool Write(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = send(socket_.fd(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        pollfd polled[2] = {{socket_.fd(), POLLOUT, 0}, {stop_fd_, POLLIN, 0}};
        if (poll(polled, 2, kRequestTimeoutMs) <= 0 || polled[1].revents != 0) return false;
        continue;
      }
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  std::string& buffer() { return buffer_; }

 private:
  Socket socket_;
  int stop_fd_;
  std::string buffer_;
};

// A request's answer, and how its connection goes on.
struct Exchange {
  Response response;
  bool keep_alive = false;  // the client asked to keep the connection open
  bool head_only = false;   // a HEAD: the body's length, not the body
};

// The answer as it goes on the wire.
std::string Rendered(const Exchange& exchange) {
  const Response& response = exchange.response;
  const char* reason = HttpReasonPhrase(response.status);
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                    (*reason != '\0' ? reason : "Status") +
                    "\r\nContent-Type: " + response.content_type +
                    "\r\nContent-Length: " + std::to_string(response.body.size()) + "\r\n";
  for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
  out += exchange.keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  if (!exchange.head_only) out += response.body;
  return out;
}

struct CompiledRoute {
  Method method;
  std::regex pattern;
  Handler handler;
};

}  // namespace

struct Server::Impl {
  std::string token;
  std::vector<CompiledRoute> routes;
  Socket listener;
  Socket stop;  // an eventfd: readable once the server stops
  std::mutex mutex;
  std::condition_variable waiting_changed;
  std::deque<Socket> waiting;  // accepted, not yet taken by a thread
  bool stopping = false;
  std::vector<std::thread> threads;

  void Accept();
  void ServeConnections();
  void Serve(Connection& connection);
  // Reads the next request on `connection` (its head within `timeout_ms`) and answers it;
  // nullopt when the connection ends without one (closed, idle, the server stopping).
  std::optional<Exchange> Next(Connection& connection, int timeout_ms);
  Response Answer(const RequestHead& head, const std::string& body);
};

void Server::Impl::Accept() {
  for (;;) {
    pollfd polled[2] = {{listener.fd(), POLLIN, 0}, {stop.fd(), POLLIN, 0}};
    if (poll(polled, 2, -1) < 0 && errno != EINTR) return;
    if (polled[1].revents != 0) return;
    for (;;) {
      int fd = accept4(listener.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) break;
      Socket accepted(fd);
      {
        std::lock_guard lock(mutex);
        if (waiting.size() < kMaxWaiting) {
          waiting.push_back(std::move(accepted));
          waiting_changed.notify_one();
          continue;
        }
      }
      Connection busy(std::move(accepted), stop.fd());
      (void)busy.Write(
          "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
  }
}

void Server::Impl::ServeConnections() {
  for (;;) {
    Socket next;
    {
      std::unique_lock lock(mutex);
      waiting_changed.wait(lock, [&] { return stopping || !waiting.empty(); });
      if (stopping) return;
      next = std::move(waiting.front());
      waiting.pop_front();
    }
    Connection connection(std::move(next), stop.fd());
    Serve(connection);
  }
}

Response Server::Impl::Answer(const RequestHead& head, const std::string& body) {
  Request request;
  request.method = head.method == "HEAD" ? "GET" : head.method;
  request.path = head.path;
  request.params = head.params;
  request.body = body;
  if (request.method == "POST" &&
      head.Header("content-type").rfind("application/x-www-form-urlencoded", 0) == 0) {
    AddUrlEncoded(body, &request.params);
  }
  if (!token.empty()) {
    if (request.method == "POST" && request.path == "/login") return Login(request, token);
    if (!Authorized(head, token)) {
      return Unauthorized(request.method == "GET" ? SafeNext(request.path) : "/");
    }
  }
  Method method;
  if (request.method == "GET") {
    method = Method::kGet;
  } else if (request.method == "POST") {
    method = Method::kPost;
  } else {
    return Plain(405, "method not allowed\n");
  }
  for (const CompiledRoute& route : routes) {
    std::smatch match;
    if (route.method != method || !std::regex_match(request.path, match, route.pattern)) continue;
    for (size_t i = 1; i < match.size(); ++i) request.path_params.push_back(match[i]);
    try {
      return route.handler(request);
    } catch (const std::exception&) {
      return Plain(500, "internal error\n");
    }
  }
  return Plain(404, "not found\n");
}

std::optional<Exchange> Server::Impl::Next(Connection& connection, int timeout_ms) {
  std::string& buffer = connection.buffer();
  size_t head_end = std::string::npos, separator = 0;
  auto head_arrived = [&] {
    for (const char* blank : {"\r\n\r\n", "\n\n"}) {
      size_t at = buffer.find(blank);
      if (at != std::string::npos && at < head_end) {
        head_end = at;
        separator = std::char_traits<char>::length(blank);
      }
    }
    return head_end != std::string::npos || buffer.size() > kMaxHeadBytes;
  };
  if (connection.ReadUntil(head_arrived, timeout_ms) != ReadEnd::kData) return std::nullopt;
  // A refused request closes the connection: what follows it cannot be trusted to be framed.
  if (head_end == std::string::npos || head_end > kMaxHeadBytes) {
    return Exchange{Plain(431, "request header fields too large\n")};
  }
  auto head = ParseRequestHead(std::string_view(buffer).substr(0, head_end));
  if (!head.ok()) return Exchange{Plain(400, "bad request: " + head.status().message() + "\n")};
  if (!head->Header("transfer-encoding").empty()) {
    return Exchange{Plain(501, "chunked requests are not supported\n")};
  }
  const std::string length_text = head->Header("content-length");
  if (length_text.find_first_not_of("0123456789") != std::string::npos || length_text.size() > 9) {
    return Exchange{Plain(400, "bad request: malformed Content-Length\n")};
  }
  const size_t length = length_text.empty() ? 0 : std::stoul(length_text);
  if (length > kMaxBodyBytes) return Exchange{Plain(413, "request body too large\n")};
  const size_t body_start = head_end + separator;
  if (length > 0 && head->Header("expect") == "100-continue" &&
      buffer.size() < body_start + length && !connection.Write("HTTP/1.1 100 Continue\r\n\r\n")) {
    return std::nullopt;
  }
  if (connection.ReadUntil([&] { return buffer.size() >= body_start + length; },
                           kRequestTimeoutMs) != ReadEnd::kData) {
    return std::nullopt;
  }
  Exchange exchange{Answer(*head, buffer.substr(body_start, length)), head->KeepAlive(),
                    head->method == "HEAD"};
  buffer.erase(0, body_start + length);
  return exchange;
}

void Server::Impl::Serve(Connection& connection) {
  // A kept-alive connection idles for at most kKeepAliveTimeoutMs between requests.
  for (bool first = true;; first = false) {
    std::optional<Exchange> exchange =
        Next(connection, first ? kRequestTimeoutMs : kKeepAliveTimeoutMs);
    if (!exchange || !connection.Write(Rendered(*exchange)) || !exchange->keep_alive) return;
  }
}

Server::Server(std::unique_ptr<Impl> impl, std::string address)
    : impl_(std::move(impl)), address_(std::move(address)) {}

Server::~Server() {
  uint64_t one = 1;
  (void)!write(impl_->stop.fd(), &one, sizeof one);
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->waiting_changed.notify_all();
  for (auto& thread : impl_->threads) thread.join();
}

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                              std::vector<Route> routes) {
  DUX_ASSIGN_OR_RETURN(auto host_port, SplitHostPort(options.listen));
  DUX_RETURN_NOT_OK(CheckListenAllowed(options.listen, options.token));
  if (options.threads < 1) return Status::InvalidArgument("an HTTP server needs a thread");
  auto impl = std::make_unique<Impl>();
  impl->token = options.token;
  for (Route& route : routes) {
    impl->routes.push_back({route.method, std::regex(route.pattern), std::move(route.handler)});
  }
  // "[::1]" names the IPv6 loopback in an address; the socket wants it bare.
  std::string host = host_port.first;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto listening = ListenTcp(host, host_port.second);
  if (!listening.ok()) {
    return Status::IOError("cannot listen on " + options.listen +
                           " for HTTP (address in use or not available here)");
  }
  impl->listener = std::move(listening->socket);
  impl->stop = Socket(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!impl->stop.valid()) return Status::IOError("cannot start an HTTP server: no eventfd");
  Impl* running = impl.get();
  running->threads.emplace_back([running] { running->Accept(); });
  for (int i = 0; i < options.threads; ++i) {
    running->threads.emplace_back([running] { running->ServeConnections(); });
  }
  return std::unique_ptr<Server>(
      new Server(std::move(impl), host_port.first + ":" + std::to_string(listening->port)));
}

}  // namespace dux::http
