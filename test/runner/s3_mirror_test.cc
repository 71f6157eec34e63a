// S3Mirror against s3rver, and the `# s3: skip` line: what the runner's S3 mode stands on
// (the oracle reads the local copy, so the copy must be exact both ways).
#include "s3_mirror.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "dux/s3/config.h"
#include "s3_test_environment.h"
#include "test_file.h"

namespace dux::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBucket = "mirror";

S3Server* server = nullptr;

const testing::Environment* const kEnvironment =
    testing::AddGlobalTestEnvironment(new dux::test::S3TestEnvironment({kBucket}, &server));

std::unique_ptr<s3::Client> MakeClient() {
  Result<s3::Config> config = s3::LoadConfig(s3::ProcessEnvironment());
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  Result<std::unique_ptr<s3::Client>> client = s3::Client::Make(*config);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return std::move(client).value();
}

void Write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every regular file below `dir`: relative path -> bytes; and "dir/" for each directory.
std::map<std::string, std::string> Tree(const fs::path& dir) {
  std::map<std::string, std::string> tree;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    std::string relative = fs::relative(entry.path(), dir).generic_string();
    if (entry.is_directory()) {
      tree[relative + "/"] = "";
    } else {
      tree[relative] = Read(entry.path());
    }
  }
  return tree;
}

// Every object below `prefix/`: key relative to it -> bytes.
std::map<std::string, std::string> Objects(s3::Client& client, const std::string& prefix) {
  std::map<std::string, std::string> objects;
  Result<s3::Listing> listing = client.List(kBucket, prefix + "/");
  EXPECT_TRUE(listing.ok()) << listing.status().ToString();
  if (!listing.ok()) return objects;
  for (const auto& object : listing->objects) {
    std::string bytes;
    if (object.size > 0) {
      Result<std::string> got = client.GetRange(kBucket, object.key, 0, object.size, "");
      EXPECT_TRUE(got.ok()) << got.status().ToString();
      bytes = got.ok() ? *got : "";
    }
    objects[object.key.substr(prefix.size() + 1)] = bytes;
  }
  return objects;
}

class S3MirrorTest : public testing::Test {
 protected:
  void SetUp() override {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    prefix_ = std::string("runs/") + info->name();
    root_ = fs::temp_directory_path() / ("dux_s3_mirror_" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "up");
    fs::create_directories(root_ / "down");
    auto mirror = S3Mirror::Make(kBucket);
    ASSERT_TRUE(mirror.ok()) << mirror.status().ToString();
    mirror_ = std::move(mirror).value();
    client_ = MakeClient();
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string prefix_;
  fs::path root_;
  std::unique_ptr<S3Mirror> mirror_;
  std::unique_ptr<s3::Client> client_;
};

TEST_F(S3MirrorTest, UpThenDownCopiesEveryFileExactly) {
  const fs::path up = root_ / "up";
  Write(up / "a.csv", "x,y\n1,2\n");
  Write(up / "empty.csv", "");
  Write(up / "one.txt", "1");
  Write(up / "dir/year=2024/ünï b.parquet", std::string("PAR1\0\xff\x01", 7));
  Write(up / ".hidden", "h");
  ASSERT_TRUE(mirror_->Up(up, prefix_).ok());
  EXPECT_EQ(Objects(*client_, prefix_),
            (std::map<std::string, std::string>{
                {".hidden", "h"},
                {"a.csv", "x,y\n1,2\n"},
                {"dir/year=2024/ünï b.parquet", std::string("PAR1\0\xff\x01", 7)},
                {"empty.csv", ""},
                {"one.txt", "1"}}));
  ASSERT_TRUE(mirror_->Down(prefix_, root_ / "down").ok());
  EXPECT_EQ(Tree(root_ / "down"), Tree(up));
  EXPECT_EQ(mirror_->Url(prefix_), "s3://mirror/" + prefix_);
}

TEST_F(S3MirrorTest, UpReplacesChangedFilesAndDeletesRemovedOnes) {
  const fs::path up = root_ / "up";
  Write(up / "same_size.csv", "aaaa");
  Write(up / "gone/x.csv", "x");
  Write(up / "kept.csv", "k");
  ASSERT_TRUE(mirror_->Up(up, prefix_).ok());
  Write(up / "same_size.csv", "bbbb");  // same size, other bytes
  fs::remove_all(up / "gone");
  Write(up / "new.csv", "n");
  ASSERT_TRUE(mirror_->Up(up, prefix_).ok());
  EXPECT_EQ(Objects(*client_, prefix_),
            (std::map<std::string, std::string>{
                {"kept.csv", "k"}, {"new.csv", "n"}, {"same_size.csv", "bbbb"}}));
  // Another prefix that starts the same is not below this one.
  ASSERT_TRUE(client_->Put(kBucket, prefix_ + "x/other.csv", "o").ok());
  ASSERT_TRUE(mirror_->Up(up, prefix_).ok());
  EXPECT_EQ(Objects(*client_, prefix_ + "x").size(), 1u);
}

TEST_F(S3MirrorTest, DownFollowsWhatS3HoldsAndPrunesEmptyDirectories) {
  const fs::path down = root_ / "down";
  Write(down / "stale.csv", "s");
  Write(down / "out/part-0.csv", "old");
  Write(down / "out/deep/part-1.csv", "old");
  Write(down / "changed.csv", "aaaa");
  ASSERT_TRUE(client_->Put(kBucket, prefix_ + "/changed.csv", "bbbb").ok());
  ASSERT_TRUE(client_->Put(kBucket, prefix_ + "/new/part-2.csv", "p2").ok());
  // An object from a multipart upload: its ETag is no MD5, its bytes are compared.
  Result<std::string> upload = client_->CreateMultipartUpload(kBucket, prefix_ + "/multi.bin");
  ASSERT_TRUE(upload.ok()) << upload.status().ToString();
  const std::string part(size_t{5} << 20, 'm');  // S3's smallest part
  Result<std::string> etag = client_->UploadPart(kBucket, prefix_ + "/multi.bin", *upload, 1, part);
  ASSERT_TRUE(etag.ok()) << etag.status().ToString();
  ASSERT_TRUE(
      client_->CompleteMultipartUpload(kBucket, prefix_ + "/multi.bin", *upload, {{1, *etag}})
          .ok());
  std::string local_multi = part;
  local_multi.back() = 'x';  // same size, other bytes
  Write(down / "multi.bin", local_multi);

  ASSERT_TRUE(mirror_->Down(prefix_, down).ok());
  std::map<std::string, std::string> tree = Tree(down);
  ASSERT_EQ(tree.count("multi.bin"), 1u);
  EXPECT_EQ(tree["multi.bin"], part);
  tree.erase("multi.bin");
  EXPECT_EQ(tree, (std::map<std::string, std::string>{
                      {"changed.csv", "bbbb"}, {"new/", ""}, {"new/part-2.csv", "p2"}}));
}

TEST_F(S3MirrorTest, DownRefusesKeysNoLocalFileCanStandFor) {
  // s3rver resolves "." and ".." inside keys and refuses "//", but keeps these as written.
  for (const std::string key : {"/dir/", "/x/.."}) {
    ASSERT_TRUE(client_->Put(kBucket, prefix_ + key, "x").ok()) << key;
    Status down = mirror_->Down(prefix_, root_ / "down");
    EXPECT_EQ(down.code(), StatusCode::kInvalidArgument) << key;
    EXPECT_NE(down.message().find(prefix_ + key), std::string::npos) << down.message();
    ASSERT_TRUE(client_->Delete(kBucket, prefix_ + key).ok());
  }
  EXPECT_TRUE(fs::is_empty(root_ / "down"));
}

TEST(S3SkipReasonTest, ReadsTheOneSkipLine) {
  auto none = S3SkipReason("# a comment\nstatement ok\nSELECT 1\n");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto one = S3SkipReason("# title\n# s3: skip  reads a local path  \r\n\npipeline\n");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->value_or(""), "reads a local path");
  EXPECT_EQ(S3SkipReason("# s3: skip\n").status().message(),
            "line 1: expected `# s3: skip REASON`");
  EXPECT_EQ(S3SkipReason("\n# s3: run anyway\n").status().message(),
            "line 2: expected `# s3: skip REASON`");
  EXPECT_EQ(S3SkipReason("# s3: skip a\n# s3: skip b\n").status().message(),
            "line 2: a second `# s3: skip` line");
}

}  // namespace
}  // namespace dux::test
