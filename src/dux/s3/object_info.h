// What S3 says about objects: a HEAD's answer, a listing's entries, a finished part.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace dux::s3 {

/// An object as HEAD sees it.
struct ObjectInfo {
  uint64_t size = 0;
  /// As S3 gives it, quotes included ("\"5eb63b...\""): what If-Match wants back.
  std::string etag;
  std::chrono::system_clock::time_point last_modified;
};

/// One object of a listing.
struct ListedObject {
  std::string key;  ///< decoded
  uint64_t size = 0;
  std::string etag;  ///< as in ObjectInfo
  std::chrono::system_clock::time_point last_modified;
};

/// A listing (all pages, or one page when it comes from the XML parser).
struct Listing {
  std::vector<ListedObject> objects;  ///< in S3's order: keys in UTF-8 byte order
  /// With a delimiter: the "directories" ("a/b/"), decoded, in order.
  std::vector<std::string> common_prefixes;
};

/// A part of a multipart upload, as CompleteMultipartUpload wants it.
struct CompletedPart {
  int part_number = 0;  ///< 1 to 10000
  std::string etag;     ///< UploadPart's answer
};

}  // namespace dux::s3
