// An HTTP server for dux's own pages and endpoints (/metrics, the status page): routes
// registered before it starts, bearer-token or cookie authentication, its own threads, stopped
// by its destructor. Plain HTTP/1.1 on dux's own sockets (docs/observability.md says what it
// takes and answers).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dux/common/status.h"

namespace dux::http {

/// The cookie a browser sends the token in, set by the built-in `POST /login`.
constexpr const char* kTokenCookie = "dux_token";

/// What a handler sees of a request.
struct Request {
  std::string method;  ///< "GET" or "POST"
  std::string path;    ///< without the query string, e.g. "/api/queries/q1"
  /// The route pattern's capture groups, in order: "/api/queries/([^/]+)" gives one.
  std::vector<std::string> path_params;
  /// Query parameters ("?limit=10"), and for a form POST its fields; the first value of a
  /// repeated name.
  std::map<std::string, std::string> params;
  std::string body;  ///< a POST's body as sent

  /// The parameter `name`, or `fallback` when absent.
  std::string Param(const std::string& name, const std::string& fallback = "") const;
};

/// What a handler answers.
struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  /// Further headers (Location, Set-Cookie, Cache-Control, ...), in order.
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Runs on one of the server's threads, possibly on several at once: it must be
/// thread-safe. It must not throw (an exception becomes a 500 without its text).
using Handler = std::function<Response(const Request&)>;

enum class Method { kGet, kPost };

struct Route {
  Method method = Method::kGet;
  /// A regular expression (std::regex, ECMAScript) the whole path must match; its capture
  /// groups become Request::path_params. E.g. "/metrics", "/api/queries/([^/]+)".
  std::string pattern;
  Handler handler;
};

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  ///< HOST:PORT; port 0: the kernel picks a free one
  /// When set, every request must carry `Authorization: Bearer TOKEN` or the cookie
  /// `dux_token=TOKEN`, else it gets 401 with `WWW-Authenticate: Bearer`. Never logged,
  /// never put in a page or an error.
  std::string token;
  int threads = 4;  ///< requests served at once
};

/// A running HTTP server. Start binds and starts serving before it returns; the destructor
/// stops accepting, waits for the requests in progress and joins the threads. Thread-safe:
/// nothing of it changes after Start.
///
/// Besides the routes, with a token it answers `POST /login` itself (a form field or body
/// `token=TOKEN`, optional field `next`, a local path to go to): right token: 303 to `next`
/// (default "/") with the cookie `dux_token` set (HttpOnly, SameSite=Strict, Path=/); wrong or
/// missing: 401. A 401 of the server carries a small HTML form that posts to it, so a browser
/// user can type the token once.
class Server {
 public:
  /// Binds `options.listen` and serves `routes` (tried in order; unmatched: 404). An error
  /// when the address is bad or cannot be bound, or when it is off loopback without a token
  /// (the same rule and message as the gRPC ports).
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options,
                                               std::vector<Route> routes);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// "HOST:PORT" with the port actually bound.
  const std::string& address() const { return address_; }

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl, std::string address);
  std::unique_ptr<Impl> impl_;
  std::string address_;
};

}  // namespace dux::http
