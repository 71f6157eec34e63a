// S3's XML bodies, through tinyxml2: parsing the answers (errors, listings, multipart,
// batch deletes) and writing the requests (completing an upload, deleting a batch).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dux/common/status.h"
#include "dux/s3/object_info.h"

namespace dux::s3 {

/// S3's <Error>: Code ("NoSuchKey") and Message.
struct S3Error {
  std::string code;
  std::string message;
};

/// The <Error> in `xml`, or nullopt when the body is not one (empty, HTML from a proxy).
std::optional<S3Error> ParseError(std::string_view xml);

/// One page of ListObjectsV2.
struct ListPage {
  Listing listing;
  bool truncated = false;
  std::string next_continuation_token;  ///< set when truncated
};

/// Parses a ListBucketResult. Keys and prefixes are decoded when the answer says
/// <EncodingType>url</EncodingType> (a '+' is a space there); servers that ignore the
/// encoding-type parameter answer plain keys, which are kept as they are.
/// InvalidArgument on a body that is not such a document.
Result<ListPage> ParseListObjectsV2(std::string_view xml);

/// The UploadId of an InitiateMultipartUploadResult.
Result<std::string> ParseCreateMultipartUpload(std::string_view xml);

/// The ETag of a CompleteMultipartUploadResult. S3 may answer 200 with an <Error> body
/// here; that is returned as an Internal error "Code: Message".
Result<std::string> ParseCompleteMultipartUpload(std::string_view xml);

/// A key that a batch delete could not delete.
struct DeleteFailure {
  std::string key;
  S3Error error;
};

/// The <Error> entries of a DeleteResult (empty: all deleted).
Result<std::vector<DeleteFailure>> ParseDeleteResult(std::string_view xml);

/// The CompleteMultipartUpload body for `parts` (in the given order, which must ascend).
std::string CompleteMultipartUploadXml(const std::vector<CompletedPart>& parts);

/// The Delete body for `keys` in quiet mode (the answer lists only failures). At most
/// 1000 keys per request (S3's limit; the caller batches).
std::string DeleteObjectsXml(const std::vector<std::string>& keys);

}  // namespace dux::s3
