#include "dux/http/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <thread>

#include "dux/common/server_access.h"

namespace dux::http {

std::string Request::Param(const std::string& name, const std::string& fallback) const {
  auto it = params.find(name);
  return it == params.end() ? fallback : it->second;
}

namespace {

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

bool Authorized(const httplib::Request& req, const std::string& token) {
  const std::string authorization = req.get_header_value("Authorization");
  if (!authorization.empty() && TokensEqual(authorization, "Bearer " + token)) return true;
  for (size_t i = 0; i < req.get_header_value_count("Cookie"); ++i) {
    std::string cookie = CookieValue(req.get_header_value("Cookie", i), kTokenCookie);
    if (!cookie.empty() && TokensEqual(cookie, token)) return true;
  }
  return false;
}

// The 401 page: a form that posts the token to /login, coming back to `next`.
void Unauthorized(const std::string& next, httplib::Response& res) {
  res.status = 401;
  res.set_header("WWW-Authenticate", "Bearer");
  res.set_header("Cache-Control", "no-store");
  std::string escaped;
  for (char c : next) {
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
  res.set_content(
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>dux: token required</title>"
      "</head><body><form method=\"post\" action=\"/login\"><p>This dux server needs its token."
      "</p><input type=\"password\" name=\"token\" autofocus> <input type=\"hidden\" "
      "name=\"next\" value=\"" +
          escaped + "\"><button>Sign in</button></form></body></html>\n",
      "text/html; charset=utf-8");
}

// A local path to redirect to after login: "/..." but not "//host" (another site).
std::string SafeNext(const std::string& next) {
  if (next.size() >= 1 && next[0] == '/' && (next.size() == 1 || next[1] != '/') &&
      next.find_first_of("\r\n\\") == std::string::npos) {
    return next;
  }
  return "/";
}

void Login(const httplib::Request& req, httplib::Response& res, const std::string& token) {
  std::string given = req.has_param("token") ? req.get_param_value("token") : "";
  std::string next = SafeNext(req.has_param("next") ? req.get_param_value("next") : "/");
  if (given.empty() || !TokensEqual(given, token)) {
    Unauthorized(next, res);
    return;
  }
  res.status = 303;
  res.set_header("Location", next);
  res.set_header("Set-Cookie",
                 std::string(kTokenCookie) + "=" + token + "; Path=/; HttpOnly; SameSite=Strict");
  res.set_content("signed in\n", "text/plain; charset=utf-8");
}

httplib::Server::Handler Wrap(Handler handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    Request request;
    request.method = req.method;
    request.path = req.path;
    for (size_t i = 1; i < req.matches.size(); ++i) request.path_params.push_back(req.matches[i]);
    for (const auto& [name, value] : req.params) request.params.emplace(name, value);
    request.body = req.body;
    Response response = handler(request);
    res.status = response.status;
    for (const auto& [name, value] : response.headers) res.set_header(name, value);
    res.set_content(response.body, response.content_type);
  };
}

}  // namespace

struct Server::Impl {
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> loop_ended{false};
};

Server::Server(std::unique_ptr<Impl> impl, std::string address)
    : impl_(std::move(impl)), address_(std::move(address)) {}

Server::~Server() {
  impl_->server.stop();
  impl_->thread.join();
}

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                              std::vector<Route> routes) {
  DUX_ASSIGN_OR_RETURN(auto host_port, SplitHostPort(options.listen));
  DUX_RETURN_NOT_OK(CheckListenAllowed(options.listen, options.token));
  if (options.threads < 1) return Status::InvalidArgument("an HTTP server needs a thread");
  auto impl = std::make_unique<Impl>();
  httplib::Server& server = impl->server;
  int threads = options.threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a second server on a
  // taken port would share it silently instead of failing.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // An idle keep-alive connection holds a thread; the destructor waits for it.
  server.set_keep_alive_timeout(2);
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, const std::exception_ptr&) {
        res.status = 500;
        res.set_content("internal error\n", "text/plain; charset=utf-8");
      });
  const std::string token = options.token;
  if (!token.empty()) {
    server.set_pre_routing_handler([token](const httplib::Request& req, httplib::Response& res) {
      if (req.method == "POST" && req.path == "/login") {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      if (Authorized(req, token)) return httplib::Server::HandlerResponse::Unhandled;
      Unauthorized(req.method == "GET" ? SafeNext(req.path) : "/", res);
      return httplib::Server::HandlerResponse::Handled;
    });
    server.Post("/login", [token](const httplib::Request& req, httplib::Response& res) {
      Login(req, res, token);
    });
  }
  for (Route& route : routes) {
    if (route.method == Method::kGet) {
      server.Get(route.pattern, Wrap(std::move(route.handler)));
    } else {
      server.Post(route.pattern, Wrap(std::move(route.handler)));
    }
  }
  // "[::1]" names the IPv6 loopback in an address; the socket wants it bare.
  std::string host = host_port.first;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = host_port.second;
  bool bound = false;
  if (port == 0) {
    port = server.bind_to_any_port(host);
    bound = port > 0;
  } else {
    bound = server.bind_to_port(host, port);
  }
  if (!bound) {
    return Status::IOError("cannot listen on " + options.listen +
                           " for HTTP (address in use or not available here)");
  }
  Impl* running = impl.get();
  running->thread = std::thread([running] {
    running->server.listen_after_bind();
    running->loop_ended = true;
  });
  // stop() does nothing before the accept loop runs: wait for it, so that the destructor
  // always finds a loop to end.
  while (!server.is_running() && !running->loop_ended) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::unique_ptr<Server>(
      new Server(std::move(impl), host_port.first + ":" + std::to_string(port)));
}

}  // namespace dux::http
