#include "dux/cli/sibling_program.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using dux::cli::SiblingPath;

TEST(SiblingPath, TakesTheDirectoryOfTheRunningProgram) {
  char out[64];
  const std::string self = "/opt/dux/bin/dux";
  ASSERT_TRUE(SiblingPath(self.data(), self.size(), "dux-engine", out, sizeof out));
  EXPECT_EQ(std::string(out), "/opt/dux/bin/dux-engine");
  ASSERT_TRUE(SiblingPath("dux", 3, "dux-client", out, sizeof out));
  EXPECT_EQ(std::string(out), "dux-client");
}

TEST(SiblingPath, RefusesAPathThatDoesNotFit) {
  char out[16];
  const std::string self = "/a/long/directory/dux";
  EXPECT_FALSE(SiblingPath(self.data(), self.size(), "dux-engine", out, sizeof out));
  // Exactly full, with its terminating zero: fits.
  ASSERT_TRUE(SiblingPath("/ab/dux", 7, "dux-engine", out, sizeof out));
  EXPECT_EQ(std::string(out), "/ab/dux-engine");
  EXPECT_FALSE(SiblingPath("/abc/dux", 8, "dux-engine", out, 15));
}

}  // namespace
