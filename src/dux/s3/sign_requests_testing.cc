// A test tool: reads S3 request specs (JSON, one a line) on stdin and prints, one a line,
// the URL and Authorization header dux would send for each, built by the same functions
// the Client uses (s3_request.h). botocore_signatures_test.py compares them with botocore's.
//
// A spec: {"op": "head|get|list|put|create|upload_part|complete|abort|delete|
// delete_objects", "bucket", "key", "range": [first, last], "if_match", "prefix",
// "delimiter", "continuation_token", "max_keys", "body", "upload_id", "part_number",
// "parts": [[number, etag]...], "keys": [...], "endpoint", "style": "path|virtual", "region",
// "access_key_id", "secret_access_key", "session_token", "time": seconds since 1970}.
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "dux/s3/s3_request.h"
#include "dux/s3/s3_xml.h"

namespace dux::s3 {
namespace {

std::string Str(const nlohmann::json& spec, const char* name) {
  return spec.contains(name) && !spec[name].is_null() ? spec[name].get<std::string>() : "";
}

std::optional<std::string> Optional(const nlohmann::json& spec, const char* name) {
  if (!spec.contains(name) || spec[name].is_null()) return std::nullopt;
  return spec[name].get<std::string>();
}

Result<nlohmann::json> Sign(const nlohmann::json& spec) {
  Config config;
  DUX_ASSIGN_OR_RETURN(config.endpoint, ParseEndpoint(Str(spec, "endpoint")));
  DUX_ASSIGN_OR_RETURN(config.url_style, ParseUrlStyle(Str(spec, "style")));
  config.region = Str(spec, "region");
  config.credentials.access_key_id = Str(spec, "access_key_id");
  config.credentials.secret_access_key = Secret(Str(spec, "secret_access_key"));
  config.credentials.session_token = Secret(Str(spec, "session_token"));

  const std::string op = Str(spec, "op");
  const std::string bucket = Str(spec, "bucket");
  const std::string key = Str(spec, "key");
  const std::string body = Str(spec, "body");
  std::string xml;  // outlives the request that points at it
  S3Request request;
  if (op == "head") {
    request = HeadObjectRequest(bucket, key);
  } else if (op == "get") {
    std::optional<ByteRange> range;
    if (spec.contains("range") && !spec["range"].is_null()) {
      range = ByteRange{spec["range"][0].get<uint64_t>(), spec["range"][1].get<uint64_t>()};
    }
    request = GetObjectRequest(bucket, key, range, Str(spec, "if_match"));
  } else if (op == "list") {
    std::optional<int> max_keys;
    if (spec.contains("max_keys") && !spec["max_keys"].is_null()) max_keys = spec["max_keys"];
    request = ListObjectsV2Request(bucket, Str(spec, "prefix"), Optional(spec, "delimiter"),
                                   Optional(spec, "continuation_token"), max_keys);
  } else if (op == "put") {
    request = PutObjectRequest(bucket, key, body);
  } else if (op == "create") {
    request = CreateMultipartUploadRequest(bucket, key);
  } else if (op == "upload_part") {
    request = UploadPartRequest(bucket, key, Str(spec, "upload_id"), spec["part_number"].get<int>(),
                                body);
  } else if (op == "complete") {
    std::vector<CompletedPart> parts;
    for (const auto& part : spec["parts"]) {
      parts.push_back({part[0].get<int>(), part[1].get<std::string>()});
    }
    xml = CompleteMultipartUploadXml(parts);
    request = CompleteMultipartUploadRequest(bucket, key, Str(spec, "upload_id"), xml);
  } else if (op == "abort") {
    request = AbortMultipartUploadRequest(bucket, key, Str(spec, "upload_id"));
  } else if (op == "delete") {
    request = DeleteObjectRequest(bucket, key);
  } else if (op == "delete_objects") {
    xml = DeleteObjectsXml(spec["keys"].get<std::vector<std::string>>());
    request = DeleteObjectsRequest(bucket, xml);
  } else {
    return Status::InvalidArgument("unknown op \"" + op + "\"");
  }
  const auto time =
      std::chrono::system_clock::time_point(std::chrono::seconds(spec["time"].get<int64_t>()));
  DUX_ASSIGN_OR_RETURN(HttpRequest http, BuildHttpRequest(request, config, time));
  nlohmann::json out;
  out["url"] = http.url;
  out["body"] = std::string(http.body);
  for (const auto& [name, value] : http.headers) {
    if (name == "Authorization") out["authorization"] = value;
  }
  return out;
}

}  // namespace
}  // namespace dux::s3

int main() {
  // nlohmann throws on a malformed spec: the tool reports it and fails.
  try {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.empty()) continue;
      dux::Result<nlohmann::json> out = dux::s3::Sign(nlohmann::json::parse(line));
      if (!out.ok()) {
        std::cerr << out.status().ToString() << "\n";
        return 1;
      }
      std::cout << out->dump() << "\n";
    }
  } catch (const std::exception& error) {
    std::cerr << "bad request spec: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
