// Private to cli/: the subcommands, each in its own file.
#pragma once

#include <string>

#include "dux/common/status.h"

namespace dux::cli {

struct RunOptions {
  std::string pipeline;  ///< the text given as an argument
  std::string file;      ///< -f: read the pipeline from this file ("-" for stdin)
  std::string format = "table";
  std::string arrow_compression;  ///< with --format arrow: "", "lz4" or "zstd"
  std::string output;             ///< empty: stdout
  int threads = 0;
  std::string memory_limit;
};

/// Reads the pipeline text from the argument, the file, or stdin, in that order.
Result<std::string> ReadPipelineText(const RunOptions& options);

Status Run(const RunOptions& options);
Status Explain(const RunOptions& options);

struct DemoOptions {
  std::string dir;  ///< empty: a fresh temporary directory
  int64_t rows = 200000;
};
Status Demo(const DemoOptions& options);

struct GenerateOptions {
  std::string dataset;  ///< "groupby"
  std::string out;
  int64_t rows = 1000000;
  int files = 8;
};
Status Generate(const GenerateOptions& options);

}  // namespace dux::cli
