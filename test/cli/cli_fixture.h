// The fixture of the dux command's process tests: a fresh working directory per test and
// the real binary (DUX_BINARY) run in it, with what a successful and a failed run print.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "subprocess.h"

namespace dux::test {

namespace fs = std::filesystem;

using Outcome = ProcessOutcome;

/// A fresh directory per test, removed afterwards; dux runs with it as working directory.
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dux-cli-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::create_directory(dir_ / "work");
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  /// Runs `dux args...` with `input` on stdin; stdout and stderr go to files so that neither
  /// pipe can fill up and block the child.
  Outcome Dux(const std::vector<std::string>& args, const std::string& input = "") {
    std::vector<std::string> argv = {DUX_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    options.stdin_text = input;
    options.working_directory = dir_ / "work";
    Outcome o = RunProcess(argv, dir_, options);
    if (o.exit_code == 127) ADD_FAILURE() << "could not run " << DUX_BINARY;
    return o;
  }

  /// Runs `command` with bash (`set -o pipefail`: a pipeline fails when dux does), in the
  /// working directory, with $DUX the binary.
  Outcome Shell(const std::string& command) {
    ProcessOptions options;
    options.working_directory = dir_ / "work";
    options.environment = {{"DUX", DUX_BINARY}};
    return RunProcess({"/bin/bash", "-c", "set -o pipefail; " + command}, dir_, options);
  }

  /// Files in the working directory, by name.
  std::vector<std::string> WorkFiles() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_ / "work")) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

/// A failed command: `exit_code`, nothing on stdout, exactly one "dux: ..." line on stderr.
inline void ExpectOneLineError(const Outcome& o, int exit_code, const std::string& message) {
  EXPECT_EQ(o.exit_code, exit_code) << o.err;
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err.rfind("dux: ", 0), 0u) << o.err;
  ASSERT_FALSE(o.err.empty());
  EXPECT_EQ(o.err.back(), '\n');
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  EXPECT_NE(o.err.find(message), std::string::npos)
      << "expected \"" << message << "\" in: " << o.err;
}

inline const char* const kTwoRows = "from_values(id: [1, 2], name: ['a', 'ü']) |> sort_by(id)";

inline const char* const kTwoRowsTable =
    "┌───────┬─────────┐\n"
    "│ id    │ name    │\n"
    "│ int64 │ varchar │\n"
    "├───────┼─────────┤\n"
    "│     1 │ a       │\n"
    "│     2 │ ü       │\n"
    "└───────┴─────────┘\n";

inline const std::pair<const char*, const char*> kFormats[] = {
    {"table", kTwoRowsTable},
    {"csv", "id,name\n1,a\n2,ü\n"},
    {"json", "[\n\t{\"id\":1,\"name\":\"a\"},\n\t{\"id\":2,\"name\":\"ü\"}\n]\n"},
    {"ndjson", "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":\"ü\"}\n"},
};

}  // namespace dux::test
