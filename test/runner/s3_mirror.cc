#include "s3_mirror.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "dux/s3/config.h"
#include "dux/s3/digest.h"

namespace dux::test {

namespace fs = std::filesystem;

namespace {

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot read " + path.string());
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return Status::IOError("cannot read " + path.string());
  return bytes.str();
}

Status WriteFile(const fs::path& path, const std::string& bytes) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec)
    return Status::IOError("cannot create " + path.parent_path().string() + ": " + ec.message());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return Status::IOError("cannot write " + path.string());
  return Status::OK();
}

// The MD5 an ETag states, base64-encoded as Md5Base64 gives it; empty when the ETag is no
// plain MD5 (a multipart upload's "<md5 of the parts' md5s>-N").
std::string EtagMd5Base64(const std::string& etag) {
  std::string hex = etag;
  if (hex.size() >= 2 && hex.front() == '"' && hex.back() == '"')
    hex = hex.substr(1, hex.size() - 2);
  if (hex.size() != 32) return "";
  std::string raw;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int value = 0;
    for (char c : hex.substr(i, 2)) {
      int digit = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                  : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                              : -1;
      if (digit < 0) return "";
      value = value * 16 + digit;
    }
    raw.push_back(static_cast<char>(value));
  }
  return s3::Base64Encode(raw);
}

// The relative local path an object below `prefix/` stands for, or an error when none can.
Result<fs::path> RelativePath(const std::string& key, const std::string& prefix) {
  std::string rest = key.substr(prefix.size() + 1);
  fs::path relative;
  std::istringstream segments(rest);
  std::vector<std::string> parts;
  for (std::string part; std::getline(segments, part, '/');) parts.push_back(part);
  bool bad = rest.empty() || rest.back() == '/';
  for (const std::string& part : parts) {
    bad = bad || part.empty() || part == "." || part == "..";
    relative /= part;
  }
  if (bad) {
    return Status::InvalidArgument("s3 mirror: the object s3://.../" + key +
                                   " cannot be a local file (empty, '.' or '..' segments)");
  }
  return relative;
}

}  // namespace

Result<std::unique_ptr<S3Mirror>> S3Mirror::Make(std::string bucket) {
  DUX_ASSIGN_OR_RETURN(s3::Config config, s3::LoadConfig(s3::ProcessEnvironment()));
  DUX_ASSIGN_OR_RETURN(std::unique_ptr<s3::Client> client, s3::Client::Make(std::move(config)));
  return std::unique_ptr<S3Mirror>(new S3Mirror(std::move(bucket), std::move(client)));
}

std::string S3Mirror::Url(const std::string& prefix) const {
  return "s3://" + bucket_ + "/" + prefix;
}

namespace {

// Whether `object` holds exactly `bytes`: by size, then by the ETag's MD5 or, for an ETag
// that is none, by the object's bytes.
Result<bool> Holds(s3::Client& client, const std::string& bucket, const s3::ListedObject& object,
                   const std::string& bytes) {
  if (object.size != bytes.size()) return false;
  if (bytes.empty()) return true;
  std::string md5 = EtagMd5Base64(object.etag);
  if (!md5.empty()) return md5 == s3::Md5Base64(bytes);
  DUX_ASSIGN_OR_RETURN(std::string stored,
                       client.GetRange(bucket, object.key, 0, object.size, object.etag));
  return stored == bytes;
}

}  // namespace

Status S3Mirror::Up(const fs::path& dir, const std::string& prefix) {
  DUX_ASSIGN_OR_RETURN(s3::Listing listing, client_->List(bucket_, prefix + "/"));
  std::map<std::string, s3::ListedObject> stale;
  for (auto& object : listing.objects) stale.emplace(object.key, std::move(object));
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const std::string key = prefix + "/" + fs::relative(it->path(), dir).generic_string();
    DUX_ASSIGN_OR_RETURN(std::string bytes, ReadFile(it->path()));
    auto there = stale.find(key);
    bool same = false;
    if (there != stale.end()) {
      DUX_ASSIGN_OR_RETURN(same, Holds(*client_, bucket_, there->second, bytes));
      stale.erase(there);
    }
    if (!same) DUX_RETURN_NOT_OK(client_->Put(bucket_, key, bytes).status());
  }
  if (ec) return Status::IOError("cannot list " + dir.string() + ": " + ec.message());
  std::vector<std::string> keys;
  keys.reserve(stale.size());
  for (const auto& [key, object] : stale) keys.push_back(key);
  if (keys.empty()) return Status::OK();
  return client_->DeleteObjects(bucket_, keys);
}

Status S3Mirror::Down(const std::string& prefix, const fs::path& dir) {
  DUX_ASSIGN_OR_RETURN(s3::Listing listing, client_->List(bucket_, prefix + "/"));
  std::set<fs::path> wanted;
  for (const auto& object : listing.objects) {
    DUX_ASSIGN_OR_RETURN(fs::path relative, RelativePath(object.key, prefix));
    const fs::path local = dir / relative;
    wanted.insert(local);
    std::error_code ec;
    if (fs::is_regular_file(local, ec)) {
      DUX_ASSIGN_OR_RETURN(std::string bytes, ReadFile(local));
      DUX_ASSIGN_OR_RETURN(bool same, Holds(*client_, bucket_, object, bytes));
      if (same) continue;
    } else if (fs::exists(local, ec)) {
      return Status::InvalidArgument("s3 mirror: " + local.string() +
                                     " is a directory locally and an object in S3");
    }
    std::string bytes;
    if (object.size > 0) {
      DUX_ASSIGN_OR_RETURN(bytes,
                           client_->GetRange(bucket_, object.key, 0, object.size, object.etag));
    }
    DUX_RETURN_NOT_OK(WriteFile(local, bytes));
  }
  // Files S3 does not hold, then the directories that held only such files (deepest first).
  std::vector<fs::path> directories;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory()) {
      directories.push_back(it->path());
    } else if (!wanted.contains(it->path())) {
      fs::remove(it->path(), ec);
      if (ec) return Status::IOError("cannot remove " + it->path().string() + ": " + ec.message());
    }
  }
  if (ec) return Status::IOError("cannot list " + dir.string() + ": " + ec.message());
  std::sort(directories.rbegin(), directories.rend());
  for (const fs::path& directory : directories) {
    if (fs::is_empty(directory, ec)) fs::remove(directory, ec);
    if (ec) return Status::IOError("cannot remove " + directory.string() + ": " + ec.message());
  }
  return Status::OK();
}

Status S3Mirror::Clear(const std::string& prefix) {
  DUX_ASSIGN_OR_RETURN(s3::Listing listing, client_->List(bucket_, prefix + "/"));
  std::vector<std::string> keys;
  keys.reserve(listing.objects.size());
  for (const auto& object : listing.objects) keys.push_back(object.key);
  if (keys.empty()) return Status::OK();
  return client_->DeleteObjects(bucket_, keys);
}

}  // namespace dux::test
