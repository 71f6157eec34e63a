#include "test_file.h"

#include <sstream>

namespace dux::test {

namespace {

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  std::string w;
  while (in >> w) words.push_back(w);
  return words;
}

Status FileError(int line, const std::string& message) {
  return Status::InvalidArgument("line " + std::to_string(line) + ": " + message);
}

}  // namespace

Result<std::vector<Record>> ParseTestFile(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    lines.push_back(l);
  }
  std::vector<Record> records;
  size_t i = 0;
  auto blank = [&](size_t k) { return lines[k].find_first_not_of(" \t") == std::string::npos; };
  while (i < lines.size()) {
    if (blank(i) || lines[i][0] == '#') {
      ++i;
      continue;
    }
    Record r;
    r.line = static_cast<int>(i + 1);
    auto header = Words(lines[i]);
    if (header[0] == "statement") {
      r.kind = Record::Kind::kStatement;
      if (header.size() < 2 || header.size() > 3 || header[1] != "ok") {
        return FileError(r.line, "expected `statement ok [postgres|both]`");
      }
      if (header.size() == 3) {
        if (header[2] == "postgres") {
          r.engine = Engine::kPostgres;
        } else if (header[2] == "both") {
          r.engine = Engine::kBoth;
        } else {
          return FileError(r.line, "expected `statement ok [postgres|both]`");
        }
      }
    } else if (header[0] == "pipeline" || header[0] == "query") {
      r.kind = header[0] == "pipeline" ? Record::Kind::kPipeline : Record::Kind::kQuery;
      for (size_t w = 1; w < header.size(); ++w) {
        if (header[w] == "rowsort") {
          r.sort = SortMode::kRowSort;
        } else if (header[w] == "nosort") {
          r.sort = SortMode::kNoSort;
        } else if (header[w] == "error" && r.kind == Record::Kind::kPipeline) {
          r.expect_error = true;
        } else if ((header[w] == "applies" || header[w] == "skips") &&
                   r.kind == Record::Kind::kPipeline && w + 1 < header.size()) {
          r.rule_applied = header[w] == "applies";
          r.rule = header[++w];
        } else if (header[w] == "postgres" && r.kind == Record::Kind::kQuery) {
          r.engine = Engine::kPostgres;
        } else {
          return FileError(r.line, "unknown option `" + header[w] + "`");
        }
      }
    } else {
      return FileError(r.line, "expected statement, pipeline or query, got `" + header[0] + "`");
    }
    ++i;
    while (i < lines.size() && !blank(i) && lines[i] != "----") r.text += lines[i++] + "\n";
    if (r.text.empty()) return FileError(r.line, "empty record");
    if (r.kind == Record::Kind::kStatement) {
      records.push_back(r);
      continue;
    }
    if (i >= lines.size() || lines[i] != "----") {
      return FileError(r.line, "expected `----` and the expected result");
    }
    ++i;
    if (r.expect_error) {
      if (i >= lines.size() || blank(i)) return FileError(r.line, "expected an error substring");
      r.error = lines[i++];
    } else if (i < lines.size() && lines[i] == "oracle") {
      ++i;
      r.oracle = true;
      while (i < lines.size() && !blank(i)) r.oracle_sql += lines[i++] + "\n";
      if (r.oracle_sql.empty()) return FileError(r.line, "empty oracle query");
    } else {
      while (i < lines.size() && !blank(i)) r.expected.push_back(lines[i++]);
    }
    records.push_back(r);
  }
  return records;
}

Result<std::optional<std::string>> S3SkipReason(const std::string& text) {
  const std::string marker = "# s3:";
  std::optional<std::string> reason;
  std::istringstream in(text);
  int line = 0;
  for (std::string l; std::getline(in, l);) {
    ++line;
    if (l.rfind(marker, 0) != 0) continue;
    std::istringstream rest(l.substr(marker.size()));
    std::string word, why;
    rest >> word;
    std::getline(rest >> std::ws, why);
    while (!why.empty() && (why.back() == '\r' || why.back() == ' ')) why.pop_back();
    if (word != "skip" || why.empty()) return FileError(line, "expected `# s3: skip REASON`");
    if (reason) return FileError(line, "a second `# s3: skip` line");
    reason = why;
  }
  return reason;
}

bool UsesPostgres(const std::vector<Record>& records) {
  for (const Record& r : records) {
    if (r.engine != Engine::kDuckDb || r.text.find("__PG__") != std::string::npos) return true;
  }
  return false;
}

}  // namespace dux::test
