// dux_e2e_runner [--data-dir DIR] FILE...: runs end-to-end test files under every executor.
#include <iostream>
#include <string>
#include <vector>

#include "runner.h"

int main(int argc, char** argv) {
  std::string data_dir = "test/e2e/data";
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--data-dir" && i + 1 < argc) {
      data_dir = argv[++i];
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty()) {
    std::cerr << "usage: dux_e2e_runner [--data-dir DIR] FILE...\n";
    return 2;
  }
  auto local = dux::test::MakeLocalExecutor();
  std::vector<dux::test::Executor*> executors = {local.get()};
  int failures = 0;
  for (const auto& file : files) {
    auto result = dux::test::RunTestFile(file, data_dir, executors);
    if (!result.ok()) {
      std::cerr << file << ": " << result.status().message() << "\n";
      ++failures;
      continue;
    }
    failures += *result;
  }
  return failures == 0 ? 0 : 1;
}
