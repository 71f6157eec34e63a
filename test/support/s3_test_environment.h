// One S3 server for a whole gtest binary, with this process's AWS settings pointing at it
// (so DuckDB's s3:// paths, sessions and in-process workers reach it). Header-only, so that
// the server's library does not depend on gtest.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "s3_server.h"

namespace dux::test {

/// Register with testing::AddGlobalTestEnvironment. While the tests run, `*published` is the
/// server (null before and after); the AWS variables are S3Server::ExportAwsEnvironment's.
class S3TestEnvironment : public testing::Environment {
 public:
  S3TestEnvironment(std::vector<std::string> buckets, S3Server** published,
                    std::string secret = "S3RVER")
      : buckets_(std::move(buckets)), published_(published), secret_(std::move(secret)) {}

  void SetUp() override {
    std::string why;
    server_ = S3Server::Start(buckets_, &why);
    ASSERT_NE(server_, nullptr) << why;
    server_->ExportAwsEnvironment(secret_);
    *published_ = server_.get();
  }
  void TearDown() override {
    *published_ = nullptr;
    server_.reset();
  }

 private:
  std::vector<std::string> buckets_;
  S3Server** published_;
  std::string secret_;
  std::unique_ptr<S3Server> server_;
};

}  // namespace dux::test
