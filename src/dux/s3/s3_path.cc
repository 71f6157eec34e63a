#include "dux/s3/s3_path.h"

#include <cstdint>

namespace dux::s3 {

namespace {

constexpr std::string_view kScheme = "s3://";
constexpr size_t kMaxKeyBytes = 1024;  // S3's limit on the UTF-8 encoded key

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Four dot-separated decimal numbers: S3 refuses such bucket names.
bool LooksLikeIpv4(std::string_view s) {
  int parts = 0;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = i;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    if (j == i || j - i > 3) return false;
    ++parts;
    if (j == s.size()) break;
    if (s[j] != '.') return false;
    i = j + 1;
  }
  return parts == 4;
}

// Well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    int extra = 0;
    uint32_t min = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, min = 0x10000, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= extra; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string S3Path::ToString() const {
  std::string out(kScheme);
  out += bucket;
  out += '/';
  out += key;
  return out;
}

bool IsS3Url(std::string_view text) { return text.starts_with(kScheme); }

Result<S3Path> ParseS3Path(std::string_view url) {
  auto invalid = [&](std::string_view why) {
    return Status::InvalidArgument("s3: invalid path \"" + std::string(url) +
                                   "\": " + std::string(why));
  };
  if (!IsS3Url(url)) return invalid("an S3 path starts with s3://");
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  S3Path path;
  path.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) path.key = std::string(rest.substr(slash + 1));
  if (path.bucket.empty()) return invalid("no bucket name after s3://");
  if (Status s = ValidateBucketName(path.bucket); !s.ok()) return invalid(s.message());
  if (path.key.size() > kMaxKeyBytes) return invalid("the key is longer than 1024 bytes");
  if (!IsValidUtf8(path.key)) return invalid("the key is not valid UTF-8");
  return path;
}

Status ValidateBucketName(std::string_view bucket) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("bucket name \"" + std::string(bucket) + "\" " +
                                   std::string(why));
  };
  if (bucket.size() < 3 || bucket.size() > 63) return bad("must have 3 to 63 characters");
  for (char c : bucket) {
    if (!IsLowerAlnum(c) && c != '.' && c != '-') {
      return bad("may hold only lowercase letters, digits, '.' and '-'");
    }
  }
  if (!IsLowerAlnum(bucket.front()) || !IsLowerAlnum(bucket.back())) {
    return bad("must begin and end with a letter or digit");
  }
  if (bucket.find("..") != std::string_view::npos) return bad("must not contain \"..\"");
  if (LooksLikeIpv4(bucket)) return bad("must not be an IP address");
  for (std::string_view prefix : {"xn--", "sthree-", "amzn-s3-demo-"}) {
    if (bucket.starts_with(prefix)) return bad("must not begin with " + std::string(prefix));
  }
  for (std::string_view suffix : {"-s3alias", "--ol-s3", ".mrap", "--x-s3"}) {
    if (bucket.ends_with(suffix)) return bad("must not end with " + std::string(suffix));
  }
  return Status::OK();
}

bool IsVirtualHostCompatible(std::string_view bucket) {
  return ValidateBucketName(bucket).ok() && bucket.find('.') == std::string_view::npos;
}

std::string UriEncode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0F];
    }
  }
  return out;
}

Result<std::string> UriDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      int hi = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
      int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return Status::InvalidArgument("s3: bad percent-encoding in \"" + std::string(text) + "\"");
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace dux::s3
