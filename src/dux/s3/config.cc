#include "dux/s3/config.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "dux/common/ascii.h"
#include "dux/s3/s3_path.h"

extern char** environ;  // NOLINT: POSIX

namespace dux::s3 {

namespace {

// One parsed INI file as botocore reads it: sections of lowercased keys; a key whose value
// is empty followed by indented "sub = value" lines holds those as "key.sub" (the nested
// form of `s3 =` and of services sections).
using IniSection = std::map<std::string, std::string>;
using IniFile = std::map<std::string, IniSection>;

std::string Trim(std::string_view s) { return std::string(TrimAsciiSpace(s)); }

// Splits "key = value" (or "key: value") at the first delimiter; nullopt without one.
std::optional<std::pair<std::string, std::string>> SplitAssignment(std::string_view line) {
  size_t at = line.find_first_of("=:");
  if (at == std::string_view::npos) return std::nullopt;
  std::string key = AsciiLower(Trim(line.substr(0, at)));
  if (key.empty()) return std::nullopt;
  return std::make_pair(key, Trim(line.substr(at + 1)));
}

Result<IniFile> ParseIni(const std::string& text, const std::string& path) {
  IniFile file;
  IniSection* section = nullptr;
  std::string current_key;    // the last key of `section`, for indented lines
  bool nested_block = false;  // the indented lines under current_key are "sub = value"
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string trimmed = Trim(line);
    if (trimmed.empty() || trimmed[0] == '#' || trimmed[0] == ';') continue;
    const bool indented = line[0] == ' ' || line[0] == '\t';
    auto error = [&](std::string_view why) {
      return Status::InvalidArgument("s3: cannot read " + path + " line " + std::to_string(number) +
                                     ": " + std::string(why));
    };
    if (!indented && trimmed.front() == '[') {
      if (trimmed.back() != ']') return error("a section header must end with ']'");
      section = &file[Trim(std::string_view(trimmed).substr(1, trimmed.size() - 2))];
      current_key.clear();
      nested_block = false;
      continue;
    }
    if (section == nullptr) return error("a setting before any [section]");
    if (indented && !current_key.empty()) {
      std::string& value = (*section)[current_key];
      auto nested = SplitAssignment(trimmed);
      if (value.empty() && nested) nested_block = true;
      if (nested_block) {
        if (!nested) return error("expected \"name = value\" under \"" + current_key + " =\"");
        (*section)[current_key + "." + nested->first] = nested->second;
      } else {
        value += (value.empty() ? "" : "\n") + trimmed;  // a multi-line value
      }
      continue;
    }
    auto assignment = SplitAssignment(trimmed);
    if (!assignment) return error("expected \"name = value\"");
    current_key = assignment->first;
    nested_block = false;
    (*section)[current_key] = assignment->second;
  }
  return file;
}

// Reads and parses `path`; an empty file when it does not exist.
Result<IniFile> LoadIni(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return IniFile{};
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("s3: cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return ParseIni(text.str(), path);
}

std::optional<std::string> Get(const Environment& env, const std::string& name) {
  auto it = env.find(name);
  if (it == env.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

std::string ExpandHome(const std::string& path, const Environment& env) {
  if (path == "~" || path.starts_with("~/")) return Get(env, "HOME").value_or("") + path.substr(1);
  return path;
}

// A profile's settings: from "[NAME]" in the credentials file, "[profile NAME]" (or
// "[default]", or "[profile default]") in the config file.
const IniSection* FindSection(const IniFile& file, const std::string& profile, bool config_file) {
  std::vector<std::string> names;
  if (config_file) {
    names.push_back("profile " + profile);
    if (profile == "default") names.push_back("default");
  } else {
    names.push_back(profile);
  }
  for (const auto& [name, section] : file) {
    // "[profile   dev]" is "profile dev": botocore splits at the first run of spaces.
    std::string normalized = name;
    if (config_file && name.starts_with("profile") && name.size() > 7 &&
        (name[7] == ' ' || name[7] == '\t')) {
      normalized = "profile " + Trim(std::string_view(name).substr(7));
    }
    for (const std::string& wanted : names) {
      if (normalized == wanted) return &section;
    }
  }
  return nullptr;
}

std::optional<std::string> Setting(const IniSection* section, const std::string& key) {
  if (section == nullptr) return std::nullopt;
  auto it = section->find(key);
  if (it == section->end() || it->second.empty()) return std::nullopt;
  return it->second;
}

// The key pair of a section (or of the environment, with variable names): both or neither.
Result<std::optional<Credentials>> CredentialsFrom(std::optional<std::string> id,
                                                   std::optional<std::string> secret,
                                                   std::optional<std::string> token,
                                                   std::string_view id_name,
                                                   std::string_view secret_name,
                                                   std::string_view where) {
  if (!id && !secret) return std::optional<Credentials>();
  if (!id || !secret) {
    return Status::InvalidArgument("s3: " + std::string(where) + " sets " +
                                   std::string(id ? id_name : secret_name) + " but not " +
                                   std::string(id ? secret_name : id_name));
  }
  Credentials c;
  c.access_key_id = *id;
  c.secret_access_key = Secret(*secret);
  if (token) c.session_token = Secret(*token);
  return std::optional<Credentials>(std::move(c));
}

Result<std::optional<Credentials>> CredentialsFromSection(const IniSection* section,
                                                          const std::string& where) {
  if (section == nullptr) return std::optional<Credentials>();
  std::optional<std::string> token = Setting(section, "aws_session_token");
  if (!token) token = Setting(section, "aws_security_token");
  return CredentialsFrom(Setting(section, "aws_access_key_id"),
                         Setting(section, "aws_secret_access_key"), token, "aws_access_key_id",
                         "aws_secret_access_key", where);
}

}  // namespace

std::string_view UrlStyleName(UrlStyle style) {
  switch (style) {
    case UrlStyle::kAuto:
      return "auto";
    case UrlStyle::kPath:
      return "path";
    case UrlStyle::kVirtualHost:
      return "virtual";
  }
  return "auto";
}

Result<UrlStyle> ParseUrlStyle(std::string_view name) {
  if (name == "auto") return UrlStyle::kAuto;
  if (name == "path") return UrlStyle::kPath;
  if (name == "virtual" || name == "virtual-host") return UrlStyle::kVirtualHost;
  return Status::InvalidArgument("s3: unknown URL style \"" + std::string(name) +
                                 "\" (expected auto, path or virtual)");
}

std::string Endpoint::Authority() const {
  const int default_port = tls() ? 443 : 80;
  if (port == 0 || port == default_port) return host;
  return host + ":" + std::to_string(port);
}

std::string Endpoint::ToString() const { return scheme + "://" + Authority(); }

bool Endpoint::IsIpOrLocalhost() const {
  if (host == "localhost" || host.starts_with('[')) return true;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

Result<Endpoint> ParseEndpoint(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("s3: invalid endpoint \"" + std::string(url) +
                                   "\": " + std::string(why));
  };
  Endpoint endpoint;
  std::string_view rest = url;
  if (size_t scheme_end = rest.find("://"); scheme_end != std::string_view::npos) {
    endpoint.scheme = AsciiLower(rest.substr(0, scheme_end));
    rest.remove_prefix(scheme_end + 3);
    if (endpoint.scheme != "http" && endpoint.scheme != "https") {
      return bad("the scheme must be http or https");
    }
  }
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  std::string_view tail = rest.substr(authority.size());
  if (!tail.empty() && tail != "/") return bad("an S3 endpoint has no path or query");
  if (authority.find('@') != std::string_view::npos) return bad("no user name or password here");
  std::string_view port;
  if (authority.starts_with('[')) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed '[' in the host");
    endpoint.host = std::string(authority.substr(0, close + 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("unexpected text after the host");
      port = after.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    endpoint.host = AsciiLower(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (endpoint.host.empty() || endpoint.host == "[]") return bad("no host");
  if (!port.empty() || authority.ends_with(':')) {
    int value = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || value > 65535) return bad("the port must be a number");
      value = value * 10 + (c - '0');
    }
    if (port.empty() || value < 1 || value > 65535) return bad("the port must be 1 to 65535");
    endpoint.port = value;
  }
  return endpoint;
}

UrlStyle Config::StyleFor(std::string_view bucket) const {
  if (url_style != UrlStyle::kAuto) return url_style;
  if (endpoint.IsIpOrLocalhost() || !IsVirtualHostCompatible(bucket)) return UrlStyle::kPath;
  return UrlStyle::kVirtualHost;
}

std::string Config::Describe() const {
  return "endpoint " + endpoint.ToString() + ", region " + region + ", " +
         std::string(UrlStyleName(url_style)) + " URL style, credentials: " + credentials_source;
}

Environment ProcessEnvironment() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    size_t eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

Result<Config> LoadConfig(const Environment& env, const ConfigOverrides& overrides) {
  Config config;

  // The profile, and whether the user named it (then it must exist).
  std::string profile = "default";
  std::string profile_origin;
  if (overrides.profile) {
    profile = *overrides.profile, profile_origin = "the per-run settings";
  } else if (auto p = Get(env, "AWS_PROFILE")) {
    profile = *p, profile_origin = "AWS_PROFILE";
  } else if (auto p = Get(env, "AWS_DEFAULT_PROFILE")) {
    profile = *p, profile_origin = "AWS_DEFAULT_PROFILE";
  }
  const std::string credentials_path =
      ExpandHome(Get(env, "AWS_SHARED_CREDENTIALS_FILE").value_or("~/.aws/credentials"), env);
  const std::string config_path =
      ExpandHome(Get(env, "AWS_CONFIG_FILE").value_or("~/.aws/config"), env);
  DUX_ASSIGN_OR_RETURN(IniFile credentials_file, LoadIni(credentials_path));
  DUX_ASSIGN_OR_RETURN(IniFile config_file, LoadIni(config_path));
  const IniSection* credentials_section = FindSection(credentials_file, profile, false);
  const IniSection* config_section = FindSection(config_file, profile, true);
  if (!profile_origin.empty() && profile != "default" && credentials_section == nullptr &&
      config_section == nullptr) {
    return Status::NotFound("s3: the AWS profile \"" + profile + "\" (from " + profile_origin +
                            ") is in neither " + credentials_path + " nor " + config_path);
  }
  const std::string profile_text = "profile \"" + profile + "\" in ";

  // Credentials: the first source that has any wins.
  std::optional<Credentials> credentials;
  if (overrides.credentials && !overrides.credentials->anonymous()) {
    credentials = overrides.credentials;
    config.credentials_source = "per-run settings";
  }
  if (!credentials && !overrides.profile) {
    std::optional<std::string> token = Get(env, "AWS_SESSION_TOKEN");
    if (!token) token = Get(env, "AWS_SECURITY_TOKEN");
    DUX_ASSIGN_OR_RETURN(
        credentials,
        CredentialsFrom(Get(env, "AWS_ACCESS_KEY_ID"), Get(env, "AWS_SECRET_ACCESS_KEY"), token,
                        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "the environment"));
    if (credentials) config.credentials_source = "environment";
  }
  if (!credentials) {
    DUX_ASSIGN_OR_RETURN(
        credentials, CredentialsFromSection(credentials_section, profile_text + credentials_path));
    if (credentials) config.credentials_source = profile_text + credentials_path;
  }
  if (!credentials) {
    DUX_ASSIGN_OR_RETURN(credentials,
                         CredentialsFromSection(config_section, profile_text + config_path));
    if (credentials) config.credentials_source = profile_text + config_path;
  }
  if (credentials) {
    config.credentials = std::move(*credentials);
  } else {
    config.credentials_source = "none (requests are not signed)";
  }

  // Region.
  if (overrides.region) {
    config.region = *overrides.region;
  } else if (auto r = Get(env, "AWS_REGION")) {
    config.region = *r;
  } else if (auto r = Get(env, "AWS_DEFAULT_REGION")) {
    config.region = *r;
  } else if (auto r = Setting(config_section, "region")) {
    config.region = *r;
  }

  // Endpoint: the services section a profile names holds per-service settings.
  std::optional<std::string> endpoint = overrides.endpoint;
  std::string endpoint_origin = "the per-run settings";
  auto take = [&](std::optional<std::string> value, std::string origin) {
    if (!endpoint && value) endpoint = std::move(value), endpoint_origin = std::move(origin);
  };
  take(Get(env, "AWS_ENDPOINT_URL_S3"), "AWS_ENDPOINT_URL_S3");
  take(Get(env, "AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL");
  if (auto services = Setting(config_section, "services")) {
    const IniSection* section = nullptr;
    for (const auto& [name, s] : config_file) {
      if (name.starts_with("services") && Trim(std::string_view(name).substr(8)) == *services) {
        section = &s;
      }
    }
    take(Setting(section, "s3.endpoint_url"), config_path + " [services " + *services + "]");
  }
  take(Setting(config_section, "endpoint_url"), profile_text + config_path);
  if (endpoint) {
    Result<Endpoint> parsed = ParseEndpoint(*endpoint);
    if (!parsed.ok()) return parsed.status().WithSuffix("(from " + endpoint_origin + ")");
    config.endpoint = *parsed;
  } else {
    config.endpoint.host = "s3." + config.region + ".amazonaws.com";
  }
  if (overrides.use_tls) config.endpoint.scheme = *overrides.use_tls ? "https" : "http";

  // URL style.
  if (overrides.url_style) {
    config.url_style = *overrides.url_style;
  } else if (auto style = Setting(config_section, "s3.addressing_style")) {
    Result<UrlStyle> parsed = ParseUrlStyle(*style);
    if (!parsed.ok()) return parsed.status().WithSuffix("(in " + config_path + ")");
    config.url_style = *parsed;
  }
  return config;
}

}  // namespace dux::s3
