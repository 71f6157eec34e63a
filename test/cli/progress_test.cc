// The progress line of a distributed `dux run`: on a terminal (stderr on a pseudo-terminal,
// test/cli/stderr_on_pty.py), as plain lines with --progress, and nothing when stderr is not
// a terminal or with --quiet.
#include <map>
#include <regex>
#include <sstream>

#include "cli_fixture.h"

namespace dux::test {
namespace {

class ProgressTest : public CliTest {
 protected:
  /// A groupby dataset of 3 files and a pipeline over it with a hash exchange (median does
  /// not decompose): a scan stage, then one reading the buckets.
  std::string ShufflingPipeline() {
    Outcome generated = Dux({"generate", "groupby", "--rows", "3000", "--files", "3", "--out",
                             (dir_ / "data").string()});
    EXPECT_EQ(generated.exit_code, 0) << generated.err;
    return "from_parquet(\"" + (dir_ / "data" / "*.parquet").string() +
           "\") |> group_by(id1) |> summarise(m: median(v1))";
  }

  /// `dux args...` with stderr on a terminal: what the terminal showed (as `err`), the
  /// exit code and stdout.
  Outcome DuxOnTerminal(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/usr/bin/python3", DUX_PTY_SCRIPT,
                                     (dir_ / "pty.out").string(), DUX_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    Outcome o = RunProcess(argv, dir_);
    o.err = o.out;
    o.out = ReadFile(dir_ / "pty.out");
    return o;
  }
};

// For each stage number a text shows ("(stage K): DONE/TOTAL partitions"), its kind and
// whether some count reached the total.
struct StageSeen {
  std::string kind;
  bool reached_total = false;
};
std::map<int, StageSeen> Stages(const std::string& text) {
  std::map<int, StageSeen> stages;
  static const std::regex kCount(
      "dux: ([a-z]+) \\(stage ([0-9]+)\\): ([0-9]+)/([0-9]+) partitions");
  for (std::sregex_iterator it(text.begin(), text.end(), kCount), end; it != end; ++it) {
    StageSeen& stage = stages[std::stoi((*it)[2].str())];
    stage.kind = (*it)[1].str();
    stage.reached_total = stage.reached_total || (*it)[3].str() == (*it)[4].str();
  }
  return stages;
}

/// A scan stage first, then at least one more, each seen at its total.
void ExpectEveryStageAtItsTotal(const std::string& text) {
  std::map<int, StageSeen> stages = Stages(text);
  ASSERT_GE(stages.size(), 2u) << text;
  EXPECT_EQ(stages.begin()->first, 1) << text;
  EXPECT_EQ(stages.begin()->second.kind, "scan") << text;
  for (const auto& [number, stage] : stages) {
    EXPECT_TRUE(stage.reached_total) << "stage " << number << " never at its total: " << text;
  }
}

TEST_F(ProgressTest, ATerminalShowsOneLineThatReachesEveryStagesTotal) {
  std::string pipeline = ShufflingPipeline();
  Outcome o = DuxOnTerminal({"run", "--local-workers", "2", "--format", "csv", pipeline});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_GT(std::count(o.out.begin(), o.out.end(), '\n'), 2) << o.out;
  // One line, rewritten in place: carriage returns and erase-to-end, no newline.
  EXPECT_EQ(o.err.find('\n'), std::string::npos) << o.err;
  EXPECT_NE(o.err.find('\r'), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("\033[K"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find(" elapsed"), std::string::npos) << o.err;
  ExpectEveryStageAtItsTotal(o.err);
  // Cleared at the end: the line's last drawing is followed by an erase.
  EXPECT_GT(o.err.rfind("\r\033[K"), o.err.rfind(" elapsed")) << o.err;
}

TEST_F(ProgressTest, RowsOnTheSameTerminalEndTheLineFirst) {
  std::string pipeline = ShufflingPipeline();
  std::vector<std::string> argv = {
      "/usr/bin/python3", DUX_PTY_SCRIPT, "-",     DUX_BINARY, "run", "--local-workers", "2",
      "--format",         "csv",          pipeline};
  Outcome o = RunProcess(argv, dir_);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  size_t header = o.out.find("id1,m");
  ASSERT_NE(header, std::string::npos) << o.out;
  // The line was drawn, then erased before the first row; never drawn again.
  EXPECT_LT(o.out.find("dux: scan (stage 1)"), header) << o.out;
  EXPECT_EQ(o.out.rfind("\r\033[K", header) + 4, header) << o.out;
  EXPECT_EQ(o.out.find("dux: ", header), std::string::npos) << o.out;
}

TEST_F(ProgressTest, NothingWhenStderrIsNotATerminal) {
  std::string pipeline = ShufflingPipeline();
  Outcome o = Dux({"run", "--local-workers", "2", "--format", "csv", pipeline});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.err, "");
  EXPECT_GT(std::count(o.out.begin(), o.out.end(), '\n'), 2) << o.out;
}

TEST_F(ProgressTest, ProgressFlagPrintsPlainLines) {
  std::string pipeline = ShufflingPipeline();
  Outcome o = Dux({"run", "--local-workers", "2", "--progress", "--format", "csv", pipeline});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.err.find('\r'), std::string::npos) << o.err;
  EXPECT_EQ(o.err.find('\033'), std::string::npos) << o.err;
  ASSERT_FALSE(o.err.empty());
  EXPECT_EQ(o.err.back(), '\n');
  std::istringstream in(o.err);
  for (std::string line; std::getline(in, line);) {
    EXPECT_EQ(line.rfind("dux: ", 0), 0u) << line;
    EXPECT_NE(line.find(" (stage "), std::string::npos) << line;
  }
  ExpectEveryStageAtItsTotal(o.err);
}

TEST_F(ProgressTest, QuietShowsNothingEvenOnATerminal) {
  std::string pipeline = ShufflingPipeline();
  Outcome o =
      DuxOnTerminal({"run", "--local-workers", "2", "--quiet", "--format", "csv", pipeline});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.err, "");
  EXPECT_GT(std::count(o.out.begin(), o.out.end(), '\n'), 2) << o.out;
}

}  // namespace
}  // namespace dux::test
