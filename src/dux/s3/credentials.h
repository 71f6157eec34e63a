// AWS credentials as dux holds them: the secret parts in a type that never prints its value.
#pragma once

#include <fmt/format.h>

#include <ostream>
#include <string>
#include <string_view>

namespace dux::s3 {

/// A secret string (a secret access key, a session token). Streaming or formatting it with
/// fmt prints "<redacted>" (or "<empty>"), never the value, so a secret cannot reach a log,
/// a message or a test failure by accident; the value is read only through Reveal(), which
/// the signer calls. There is no implicit conversion to a string. A value type: copyable,
/// thread-compatible.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}

  /// The value itself: only for computing a signature or a header the request must carry.
  const std::string& Reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

  /// What printing shows instead of the value.
  std::string_view Redacted() const { return value_.empty() ? "<empty>" : "<redacted>"; }

  friend bool operator==(const Secret&, const Secret&) = default;

 private:
  std::string value_;
};

inline std::ostream& operator<<(std::ostream& out, const Secret& secret) {
  return out << secret.Redacted();
}

/// The credentials that sign requests. An empty access key id means none: requests go
/// unsigned (anonymous), which public buckets accept.
struct Credentials {
  std::string access_key_id;  ///< not secret: it appears in every Authorization header
  Secret secret_access_key;
  Secret session_token;  ///< temporary credentials only; sent as x-amz-security-token

  bool anonymous() const { return access_key_id.empty(); }
  friend bool operator==(const Credentials&, const Credentials&) = default;
};

}  // namespace dux::s3

/// fmt prints a Secret as std::ostream does: redacted.
template <>
struct fmt::formatter<dux::s3::Secret> : fmt::formatter<std::string_view> {
  auto format(const dux::s3::Secret& secret, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(secret.Redacted(), ctx);
  }
};
