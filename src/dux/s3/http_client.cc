#include "dux/s3/http_client.h"

#include <strings.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "dux/common/ascii.h"
#include "dux/s3/libcurl.h"

namespace dux::s3 {

namespace {

struct CurlEasyDeleter {
  void operator()(CURL* handle) const { Curl().easy_cleanup(handle); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;

struct CurlSlistDeleter {
  void operator()(curl_slist* list) const { Curl().slist_free_all(list); }
};
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

bool IsRetryableTransportError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

// The state of one attempt, shared with curl's callbacks.
struct Transfer {
  CURL* handle = nullptr;
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  size_t upload_offset = 0;
  size_t delivered = 0;  // bytes given to the body sink
  Status sink_status;
};

size_t OnRead(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string_view body = t->request->body;
  const size_t n = std::min(size * count, body.size() - t->upload_offset);
  std::memcpy(buffer, body.data() + t->upload_offset, n);
  t->upload_offset += n;
  return n;
}

// curl rewinds an upload when it must send it again on a new connection.
int OnSeek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > t->request->body.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->upload_offset = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t OnHeader(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(buffer, size * count);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    t->response->headers.clear();  // a new response (after a 100 Continue)
    return size * count;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * count;
  std::string name = AsciiLower(line.substr(0, colon));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  auto [it, inserted] = t->response->headers.try_emplace(std::move(name), value);
  if (!inserted) {
    it->second += ", ";
    it->second += value;
  }
  return size * count;
}

size_t OnWrite(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string_view data(buffer, size * count);
  long status = 0;
  Curl().easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &status);
  if (t->request->body_sink && status >= 200 && status < 300) {
    t->sink_status = t->request->body_sink(data);
    if (!t->sink_status.ok()) return 0;  // ends the transfer with CURLE_WRITE_ERROR
    t->delivered += data.size();
  } else {
    t->response->body.append(data);
  }
  return data.size();
}

// Milliseconds as curl's long options want them.
long Millis(std::chrono::milliseconds d) { return static_cast<long>(d.count()); }

}  // namespace

const std::string* HttpResponse::Header(const std::string& lowercase_name) const {
  auto it = headers.find(lowercase_name);
  return it == headers.end() ? nullptr : &it->second;
}

struct HttpClient::Pool {
  std::mutex mutex;
  std::vector<CurlEasy> idle;
};

HttpClient::HttpClient(HttpOptions options) : options_(options), pool_(std::make_unique<Pool>()) {}

HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Make(HttpOptions options) {
  if (options.retry.max_attempts < 1) options.retry.max_attempts = 1;
  return std::unique_ptr<HttpClient>(new HttpClient(options));
}

bool HttpClient::IsRetryableStatus(long status) {
  return status == 429 || (status >= 500 && status <= 599 && status != 501 && status != 505);
}

Result<HttpResponse> HttpClient::Send(const HttpRequest& request) {
  // Loaded here, by the first request, not by Make: every database makes a client for s3://
  // paths, and most never send anything.
  DUX_ASSIGN_OR_RETURN(const Libcurl* curl, LoadLibcurl());
  // Borrow a handle (and its open connections); give it back on every path.
  CurlEasy handle;
  {
    std::lock_guard<std::mutex> lock(pool_->mutex);
    if (!pool_->idle.empty()) {
      handle = std::move(pool_->idle.back());
      pool_->idle.pop_back();
    }
  }
  if (!handle) handle.reset(curl->easy_init());
  if (!handle) return Status::Internal("s3: libcurl cannot create a handle");
  struct GiveBack {
    HttpClient* client;
    CurlEasy* handle;
    ~GiveBack() {
      // Options point into this call's stack (headers, error buffer, callbacks' data): clear
      // them before anyone else can hold the handle. The open connections stay.
      Curl().easy_reset(handle->get());
      std::lock_guard<std::mutex> lock(client->pool_->mutex);
      if (client->pool_->idle.size() < client->options_.max_idle_connections) {
        client->pool_->idle.push_back(std::move(*handle));
      }
    }
  } give_back{this, &handle};

  // Headers: the caller's, and none of curl's own Content-Type or Expect: 100-continue.
  CurlSlist headers;
  auto append = [&headers, curl](const std::string& line) {
    curl_slist* list = headers.release();
    curl_slist* appended = curl->slist_append(list, line.c_str());
    headers.reset(appended != nullptr ? appended : list);
    return appended != nullptr;
  };
  bool has_content_type = false;
  for (const auto& [name, value] : request.headers) {
    // "Name;" is curl's syntax for a header with an empty value.
    if (!append(value.empty() ? name + ";" : name + ": " + value)) {
      return Status::Internal("s3: out of memory building headers");
    }
    has_content_type |= strcasecmp(name.c_str(), "content-type") == 0;
  }
  if (!append("Expect:") || (!has_content_type && !append("Content-Type:"))) {
    return Status::Internal("s3: out of memory building headers");
  }

  const RetryPolicy& retry = options_.retry;
  const auto start = std::chrono::steady_clock::now();
  thread_local std::mt19937_64 random(std::random_device{}());
  char error_buffer[CURL_ERROR_SIZE];
  std::string last_error;
  for (int attempt = 1;; ++attempt) {
    HttpResponse response;
    response.attempts = attempt;
    Transfer transfer;
    transfer.handle = handle.get();
    transfer.request = &request;
    transfer.response = &response;

    CURL* h = handle.get();
    curl->easy_reset(h);  // keeps the connection cache
    error_buffer[0] = '\0';
    curl->easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
    curl->easy_setopt(h, CURLOPT_URL, request.url.c_str());
    curl->easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);    // no SIGALRM: threads
    curl->easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);  // a key may hold "/../": send it as signed
    curl->easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl->easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl->easy_setopt(h, CURLOPT_USERAGENT, "dux-s3");
    curl->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, Millis(options_.connect_timeout));
    if (options_.request_timeout.count() > 0) {
      curl->easy_setopt(h, CURLOPT_TIMEOUT_MS, Millis(options_.request_timeout));
    }
    curl->easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl->easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                      std::max<long>(1, static_cast<long>(options_.stall_timeout.count() / 1000)));
    curl->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
    curl->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
    curl->easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl->easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
    curl->easy_setopt(h, CURLOPT_WRITEFUNCTION, OnWrite);
    curl->easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
    if (request.method == "HEAD") {
      curl->easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (request.method == "GET" && request.body.empty()) {
      curl->easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "PUT" || request.method == "POST" || !request.body.empty()) {
      // An upload of exactly body.size() bytes (Content-Length), whatever the method.
      curl->easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl->easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
      curl->easy_setopt(h, CURLOPT_READDATA, &transfer);
      curl->easy_setopt(h, CURLOPT_SEEKFUNCTION, OnSeek);
      curl->easy_setopt(h, CURLOPT_SEEKDATA, &transfer);
      curl->easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      if (request.method != "PUT")
        curl->easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    } else {
      curl->easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }

    const CURLcode code = curl->easy_perform(h);
    bool retryable = false;
    if (code == CURLE_OK) {
      curl->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
      if (!IsRetryableStatus(response.status)) return response;
      retryable = true;
      last_error = "HTTP " + std::to_string(response.status);
    } else {
      if (code == CURLE_WRITE_ERROR && !transfer.sink_status.ok()) return transfer.sink_status;
      retryable = IsRetryableTransportError(code);
      last_error = error_buffer[0] != '\0' ? error_buffer : curl->easy_strerror(code);
    }
    if (transfer.delivered > 0 && !request.restart_sink) retryable = false;

    // Another attempt? Within the count, and not starting after max_total.
    std::chrono::milliseconds delay(0);
    if (retryable && attempt < retry.max_attempts) {
      const int64_t cap = std::min<int64_t>(retry.max_delay.count(),
                                            retry.base_delay.count() << std::min(attempt - 1, 30));
      delay = std::chrono::milliseconds(
          std::uniform_int_distribution<int64_t>(0, std::max<int64_t>(cap, 0))(random));
      if (std::chrono::steady_clock::now() + delay - start > retry.max_total) retryable = false;
    } else {
      retryable = false;
    }
    if (!retryable) {
      if (code == CURLE_OK) return response;  // the last 5xx or 429, for the caller to report
      const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
      return Status::Unavailable(last_error + " (" + std::to_string(attempt) +
                                 (attempt == 1 ? " attempt" : " attempts") + " in " +
                                 std::to_string(elapsed.count()) + " ms)");
    }
    if (transfer.delivered > 0) request.restart_sink();
    std::this_thread::sleep_for(delay);
  }
}

}  // namespace dux::s3
