#include "dux/s3/s3_xml.h"

#include <gtest/gtest.h>

namespace dux::s3 {
namespace {

TEST(S3XmlTest, ParsesErrors) {
  std::optional<S3Error> error = ParseError(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The "
      "specified key does not exist.</Message><Key>a &amp; b</Key></Error>");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, "NoSuchKey");
  EXPECT_EQ(error->message, "The specified key does not exist.");
  EXPECT_FALSE(ParseError("").has_value());
  EXPECT_FALSE(ParseError("<html><body>502 Bad Gateway</body></html>").has_value());
}

TEST(S3XmlTest, ParsesAListingPage) {
  Result<ListPage> page = ParseListObjectsV2(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>lake</Name>"
      "<Prefix>a</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>1/abc+def==</NextContinuationToken>"
      "<Contents><Key>a b&amp;c.parquet</Key><LastModified>2026-12-05T10:50:43.000Z</LastModified>"
      "<ETag>&quot;5eb63bbbe01eeed093cb22bb8f5acdc3&quot;</ETag><Size>11</Size>"
      "<StorageClass>STANDARD</StorageClass></Contents>"
      "<Contents><Key>a/x</Key><LastModified>2026-12-05T10:50:44.000Z</LastModified>"
      "<ETag>&quot;e2&quot;</ETag><Size>12345678901</Size></Contents>"
      "<CommonPrefixes><Prefix>a/dir/</Prefix></CommonPrefixes></ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "1/abc+def==");
  ASSERT_EQ(page->listing.objects.size(), 2u);
  EXPECT_EQ(page->listing.objects[0].key, "a b&c.parquet");
  EXPECT_EQ(page->listing.objects[0].etag, "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"");
  EXPECT_EQ(page->listing.objects[0].size, 11u);
  EXPECT_EQ(page->listing.objects[1].size, 12345678901u);
  EXPECT_EQ(page->listing.objects[1].last_modified - page->listing.objects[0].last_modified,
            std::chrono::seconds(1));
  EXPECT_EQ(page->listing.common_prefixes, std::vector<std::string>{"a/dir/"});
}

TEST(S3XmlTest, DecodesUrlEncodedListings) {
  // With encoding-type=url, S3 percent-encodes keys and prefixes and writes spaces as '+'.
  Result<ListPage> page = ParseListObjectsV2(
      "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
      "<Contents><Key>a+b%2Bc%3D%C3%BC%0D</Key><LastModified>2026-12-05T10:50:43Z</LastModified>"
      "<ETag>\"e\"</ETag><Size>1</Size></Contents>"
      "<CommonPrefixes><Prefix>x%20y/</Prefix></CommonPrefixes></ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->listing.objects[0].key, "a b+c=\xc3\xbc\r");
  EXPECT_EQ(page->listing.common_prefixes[0], "x y/");
  // Without it (a server that ignores the parameter), keys are taken as they are.
  page = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a+b%2B</Key>"
      "<LastModified>2026-12-05T10:50:43Z</LastModified><Size>1</Size></Contents>"
      "</ListBucketResult>");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->listing.objects[0].key, "a+b%2B");
}

TEST(S3XmlTest, RejectsBrokenListings) {
  EXPECT_FALSE(ParseListObjectsV2("<Error><Code>x</Code></Error>").ok());
  EXPECT_FALSE(ParseListObjectsV2("not xml").ok());
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated>"
                                  "</ListBucketResult>")
                   .ok());  // truncated without a token: would loop
  Result<ListPage> bad_size = ParseListObjectsV2(
      "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size>"
      "<LastModified>2026-12-05T10:50:43Z</LastModified></Contents></ListBucketResult>");
  ASSERT_FALSE(bad_size.ok());
  EXPECT_EQ(bad_size.status().message(), "s3: bad Size \"-1\" for key \"k\" in a listing");
}

TEST(S3XmlTest, MultipartAndDeleteAnswers) {
  EXPECT_EQ(*ParseCreateMultipartUpload(
                "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                "<UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>"),
            "VXBsb2FkIElE");
  EXPECT_FALSE(ParseCreateMultipartUpload("<InitiateMultipartUploadResult/>").ok());
  EXPECT_EQ(*ParseCompleteMultipartUpload("<CompleteMultipartUploadResult><ETag>\"abc-3\"</ETag>"
                                          "</CompleteMultipartUploadResult>"),
            "\"abc-3\"");
  // S3 may answer 200 and put the error in the body.
  Result<std::string> failed = ParseCompleteMultipartUpload(
      "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message>"
      "</Error>");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message(), "InternalError: We encountered an internal error.");

  Result<std::vector<DeleteFailure>> failures = ParseDeleteResult(
      "<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code>"
      "<Message>Access Denied</Message></Error></DeleteResult>");
  ASSERT_TRUE(failures.ok());
  ASSERT_EQ(failures->size(), 1u);
  EXPECT_EQ((*failures)[0].key, "b");
  EXPECT_EQ((*failures)[0].error.code, "AccessDenied");
}

TEST(S3XmlTest, WritesRequestBodies) {
  EXPECT_EQ(CompleteMultipartUploadXml({{1, "\"e1\""}, {2, "\"e2\""}}),
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<Part><ETag>\"e1\"</ETag><PartNumber>1</PartNumber></Part>"
            "<Part><ETag>\"e2\"</ETag><PartNumber>2</PartNumber></Part>"
            "</CompleteMultipartUpload>");
  EXPECT_EQ(DeleteObjectsXml({"a", "b&<c> d"}),
            "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<Object><Key>a</Key></Object><Object><Key>b&amp;&lt;c&gt; d</Key></Object>"
            "<Quiet>true</Quiet></Delete>");
}

}  // namespace
}  // namespace dux::s3
