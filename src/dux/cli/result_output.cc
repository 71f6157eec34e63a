#include "dux/cli/result_output.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "dux/exec/arrow_export.h"
#include "dux/exec/sink_writer.h"

namespace dux::cli {

Result<int64_t> ExportThroughFile(exec::Connection& connection, const std::string& select,
                                  const std::string& format, arrow_ipc::OutputStream* out) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "dux-out-XXXXXX").string();
  int fd = mkstemp(tmpl.data());
  if (fd < 0) return Status::IOError("cannot create a temporary file");
  close(fd);
  Result<int64_t> rows = exec::ExportQuery(connection, select, format, tmpl);
  if (rows.ok()) {
    std::ifstream in(tmpl, std::ios::binary);
    char block[1 << 16];
    while (rows.ok() && in) {
      in.read(block, sizeof block);
      Status written = out->Write(block, static_cast<size_t>(in.gcount()));
      if (!written.ok()) rows = written;
    }
  }
  std::remove(tmpl.c_str());
  return rows;
}

Result<int64_t> WriteResultTo(exec::Connection& connection, const std::string& select,
                              const pipeline::Schema& schema, const ResultFormat& format,
                              arrow_ipc::OutputStream* out) {
  if (format.format == "table") {
    DUX_ASSIGN_OR_RETURN(exec::Table table,
                         connection.QueryEnds(select, schema, exec::Table::kFormatRows / 2));
    std::string text = table.Format();
    DUX_RETURN_NOT_OK(out->Write(text.data(), text.size()));
    return static_cast<int64_t>(table.NumRows());
  }
  if (format.format == "arrow") {
    arrow_ipc::WriteOptions options;
    DUX_ASSIGN_OR_RETURN(options.compression, exec::ParseCompression(format.arrow_compression));
    const exec::ArrowTypes types =
        format.arrow_lossless ? exec::ArrowTypes::kLossless : exec::ArrowTypes::kStandard;
    return exec::WriteQueryIpc(connection, select, out, options, types);
  }
  return ExportThroughFile(connection, select, format.format, out);
}

std::string SinkSummary(const pipeline::Pipeline& pipeline, const exec::WriteReport& report) {
  std::string summary =
      pipeline.sink()->Verb() + std::string(": wrote ") + std::to_string(report.rows) + " rows";
  if (!report.files.empty()) {
    summary += " to " + std::to_string(report.files.size()) +
               (report.files.size() == 1 ? " file" : " files");
  }
  return summary + "\n";
}

}  // namespace dux::cli
