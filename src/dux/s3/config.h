// Where dux finds its S3 settings: the AWS environment variables and shared files, with
// the AWS CLI's precedence, and per-run overrides. See docs/s3.md, "Client".
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "dux/common/status.h"
#include "dux/s3/credentials.h"

namespace dux::s3 {

/// How a bucket appears in a request URL: "https://host/bucket/key" (path) or
/// "https://bucket.host/key" (virtual host).
enum class UrlStyle { kAuto, kPath, kVirtualHost };

/// "auto", "path", "virtual" (the AWS config file's addressing_style values).
std::string_view UrlStyleName(UrlStyle style);
/// The inverse of UrlStyleName; "virtual-host" is accepted too.
Result<UrlStyle> ParseUrlStyle(std::string_view name);

/// Where requests go: scheme, host and port of an S3 endpoint.
struct Endpoint {
  std::string scheme = "https";  ///< "http" or "https"
  std::string host;              ///< a name, an IPv4 address, or "[v6]"
  int port = 0;                  ///< 0: the scheme's default

  bool tls() const { return scheme == "https"; }
  /// "host" or "host:port" when the port is not the scheme's default: the Host header.
  std::string Authority() const;
  /// "scheme://authority".
  std::string ToString() const;
  /// True for "localhost" and IP literals, where virtual-host URLs cannot work.
  bool IsIpOrLocalhost() const;
};

/// Parses "http://127.0.0.1:9000", "https://s3.example.com" or, without a scheme, a host
/// with an optional port (then https). InvalidArgument for another scheme, a path other
/// than "/", a query, user info or a bad port; the message names the URL.
Result<Endpoint> ParseEndpoint(std::string_view url);

/// Everything a Client needs to reach and sign for S3. A value type. Printing it (Describe)
/// never shows a secret.
struct Config {
  Credentials credentials;  ///< anonymous when no credentials were found
  /// Where the credentials came from: "environment", "profile \"dev\" in /home/u/.aws/
  /// credentials", "per-run settings", or "none (requests are not signed)".
  std::string credentials_source;
  std::string region = "us-east-1";
  Endpoint endpoint;
  UrlStyle url_style = UrlStyle::kAuto;

  /// The style used for `bucket`: kAuto is path style when the endpoint is an IP address or
  /// localhost or the bucket name cannot be a DNS label (IsVirtualHostCompatible), and
  /// virtual-host style otherwise.
  UrlStyle StyleFor(std::string_view bucket) const;

  /// One line for messages and `explain`: endpoint, region, style and where the
  /// credentials came from; never a secret.
  std::string Describe() const;
};

/// Per-run settings (CLI flags, a pipeline's statement): each set field wins over the
/// environment and the files.
struct ConfigOverrides {
  /// A profile chosen for this run; like the AWS CLI's --profile, it also makes the
  /// credentials environment variables ignored.
  std::optional<std::string> profile;
  std::optional<std::string> region;
  std::optional<std::string> endpoint;  ///< as ParseEndpoint takes it
  std::optional<UrlStyle> url_style;
  /// Replaces the endpoint's scheme (https when true, http when false).
  std::optional<bool> use_tls;
  std::optional<Credentials> credentials;
};

/// Environment variables by name: the process's (ProcessEnvironment) or a test's own.
using Environment = std::map<std::string, std::string>;

/// A copy of this process's environment.
Environment ProcessEnvironment();

/// Resolves the settings, in the AWS CLI's order (docs/s3.md lists it):
/// - credentials: overrides; AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
///   unless overrides.profile is set; the profile in the shared credentials file
///   (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials, sections "[NAME]"); the profile
///   in the config file (AWS_CONFIG_FILE, else ~/.aws/config, "[profile NAME]" and
///   "[default]"); else none (anonymous). The profile is overrides.profile, AWS_PROFILE,
///   AWS_DEFAULT_PROFILE or "default".
/// - region: overrides, AWS_REGION, AWS_DEFAULT_REGION, the profile's `region`, us-east-1.
/// - endpoint: overrides, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's services
///   section `s3 = endpoint_url`, the profile's `endpoint_url`, else AWS
///   (https://s3.REGION.amazonaws.com); overrides.use_tls then sets the scheme.
/// - URL style: overrides, the profile's `s3 = addressing_style`, auto.
/// Errors (one line, naming the variable, file and line; never a value): half a key pair, a
/// profile chosen but found in neither file, a file that cannot be read or parsed, a bad
/// endpoint or style. Missing files are not errors. Empty variables count as unset.
Result<Config> LoadConfig(const Environment& environment, const ConfigOverrides& overrides = {});

}  // namespace dux::s3
