// Errors as values: Status (codes mirror gRPC's canonical codes) and Result<T>.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace dux {

/// Canonical status codes; numerically identical to gRPC's so they map one to one over RPC.
enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

/// Name of a code as gRPC spells it ("INVALID_ARGUMENT").
const char* StatusCodeName(StatusCode code);

/// The outcome of an operation: OK, or a code and a one-line message. Cheap to copy when OK.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  /// A file, directory or database that cannot be read or written: trying again, or on
  /// another worker, meets the same error, so it is not retried (gRPC's guidance: not
  /// until the system's state is fixed).
  static Status IOError(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
  /// A worker, peer, server or connection that is gone or cannot be reached: the only
  /// failure another attempt elsewhere may get past.
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  /// A copy whose message is "prefix: message"; OK stays OK.
  Status WithPrefix(const std::string& prefix) const;
  /// A copy whose message is "message suffix"; OK stays OK.
  Status WithSuffix(const std::string& suffix) const;

  /// "INVALID_ARGUMENT: message", or "OK".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

/// A value or the Status explaining why there is none. Never holds an OK status.
template <typename T>
class [[nodiscard]] Result {
 public:
  /// From anything T can be built from (a T, a string literal for Result<std::string>,
  /// an alternative for Result<std::variant<...>>).
  template <typename U = T, typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                                        !std::is_same_v<std::decay_t<U>, Status> &&
                                                        !std::is_same_v<std::decay_t<U>, Result>>>
  Result(U&& value) : value_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT
  Result(Status status) : value_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(value_).ok() && "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(value_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(value_);
  }
  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace dux

#define DUX_CONCAT_INNER(a, b) a##b
#define DUX_CONCAT(a, b) DUX_CONCAT_INNER(a, b)

/// Returns the Status of `expr` from the enclosing function when it is not OK.
#define DUX_RETURN_NOT_OK(expr)                \
  do {                                         \
    ::dux::Status _dux_status = (expr);        \
    if (!_dux_status.ok()) return _dux_status; \
  } while (false)

#define DUX_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                              \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

/// `DUX_ASSIGN_OR_RETURN(auto x, MakeX());` binds the value or returns the error.
#define DUX_ASSIGN_OR_RETURN(lhs, rexpr) \
  DUX_ASSIGN_OR_RETURN_IMPL(DUX_CONCAT(_dux_result_, __LINE__), lhs, rexpr)
