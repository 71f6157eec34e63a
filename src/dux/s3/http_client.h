// HTTP requests through libcurl for the S3 client: a pool of reused connections, timeouts,
// and retries with exponential backoff and full jitter. See docs/s3.md, "Client".
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dux/common/status.h"

namespace dux::s3 {

/// One request, ready to send (signed, URL encoded).
struct HttpRequest {
  std::string method;  ///< GET, HEAD, PUT, POST, DELETE
  std::string url;     ///< scheme://host[:port]/path?query, already percent-encoded
  /// Sent as given (a "Host" here replaces curl's). curl adds nothing else but Accept,
  /// User-Agent and Content-Length: no Content-Type, no Expect.
  std::vector<std::pair<std::string, std::string>> headers;
  /// The body, not owned: the caller keeps it alive until Send returns.
  std::string_view body;
  /// When set, the body of a 2xx response is handed here piece by piece instead of being
  /// kept in HttpResponse::body (other answers are always kept: they carry S3's error). An
  /// error it returns ends the transfer and is what Send returns; it is not retried.
  std::function<Status(std::string_view)> body_sink;
  /// Called before a retry once body_sink has received bytes, to start over; without it, a
  /// transfer that fails after delivering bytes is not retried.
  std::function<void()> restart_sink;
};

/// The final answer to a request, whatever its status.
struct HttpResponse {
  long status = 0;
  /// Lowercased names; a repeated header's values joined with ", ".
  std::map<std::string, std::string> headers;
  std::string body;  ///< empty when a body_sink took it
  int attempts = 1;  ///< how many times the request was sent

  /// The header's value, or nullptr.
  const std::string* Header(const std::string& lowercase_name) const;
};

/// When to try a request again: on a 429, a 5xx other than 501 and 505, or a transport
/// failure (refused or reset connection, timeout, a truncated answer), up to max_attempts
/// tries in all, never starting one after max_total since the first. Before try n+1 it
/// waits a uniformly random time in [0, min(max_delay, base_delay * 2^(n-1))] ("full
/// jitter": clients that failed together do not come back together).
struct RetryPolicy {
  int max_attempts = 6;
  std::chrono::milliseconds base_delay{100};
  std::chrono::milliseconds max_delay{5000};
  /// Also keeps a retried request within the 15 minutes its signature is valid.
  std::chrono::milliseconds max_total{60000};
};

struct HttpOptions {
  std::chrono::milliseconds connect_timeout{10000};
  /// An attempt fails when it moves less than one byte per second for this long: a stalled
  /// connection, not a slow large transfer. Whole seconds; at least 1 s.
  std::chrono::milliseconds stall_timeout{30000};
  /// A limit on each attempt's whole duration; zero for none (large transfers take long).
  std::chrono::milliseconds request_timeout{0};
  bool verify_tls = true;  ///< check the server's certificate and name
  RetryPolicy retry;
  /// Idle connections (curl handles) kept for reuse; more are opened when needed at once.
  size_t max_idle_connections = 16;
};

/// Sends HTTP requests, reusing connections: each request borrows a curl handle (with its
/// open connections) from a pool and returns it. Thread-safe: any number of threads may
/// Send at once. libcurl is loaded and initialised by the first Send of the process (libcurl.h)
/// and never torn down.
class HttpClient {
 public:
  static Result<std::unique_ptr<HttpClient>> Make(HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Sends `request`, retrying as options().retry says. Any HTTP answer is a response (a
  /// 404 too, and the last 503 once retries are spent); the error cases are: no answer
  /// (Unavailable: the transport's reason and how many attempts), or the body sink's error.
  Result<HttpResponse> Send(const HttpRequest& request);

  const HttpOptions& options() const { return options_; }

  /// Whether a response status is worth another attempt (429 and most 5xx).
  static bool IsRetryableStatus(long status);

 private:
  struct Pool;
  explicit HttpClient(HttpOptions options);

  HttpOptions options_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace dux::s3
