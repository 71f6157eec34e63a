// Where `dux run` output goes (exec/output_target.h): devices and FIFOs are written in place
// and stay what they are, a symlink keeps pointing at the replaced content, stdout streams
// (a reader that stops early ends the run quietly), and a target that cannot be written is a
// one-line error that leaves the old content whole. Runs the real binary, as a user would.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "cli_fixture.h"
#include "subprocess.h"

namespace {

using namespace dux::test;  // NOLINT: the fixture

// Never ends by itself: a run over it can only finish when its output is streamed and the
// reader stops (a buffered writer would wait for the last of 3e11 rows).
const char* const kEndless = "from_query(\"SELECT range AS i FROM range(0, 300000000000)\")";

// The sinks of the language, each writing the same two rows to PATH.
const char* const kSinks[] = {"to_csv(\"PATH\")", "to_ndjson(\"PATH\")", "to_parquet(\"PATH\")",
                              "to_arrow(\"PATH\")", "to_arrow(\"PATH\", format: \"stream\")"};

std::string SinkPipeline(const std::string& sink, const std::string& path) {
  std::string text = sink;
  text.replace(text.find("PATH"), 4, path);
  return std::string(kTwoRows) + " |> " + text;
}

mode_t FileType(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & S_IFMT;
}

mode_t Permissions(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

bool Root() { return ::geteuid() == 0; }

// A small tmpfs at `at` (root only): a disk that can be filled, or made read-only.
class Tmpfs {
 public:
  Tmpfs(const fs::path& at, const std::string& size) : at_(at) {
    fs::create_directories(at);
    mounted_ = ::mount("tmpfs", at.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  }
  ~Tmpfs() {
    if (mounted_) ::umount(at_.c_str());
  }
  bool mounted() const { return mounted_; }
  bool MakeReadOnly() {
    return ::mount("tmpfs", at_.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) == 0;
  }

 private:
  fs::path at_;
  bool mounted_ = false;
};

// ---- devices and pipes ---------------------------------------------------------------------

TEST_F(CliTest, DevNullStaysADevice) {
  for (const auto& [format, bytes] : kFormats) {
    SCOPED_TRACE(format);
    Outcome o = Dux({"run", "--format", format, "--output", "/dev/null", kTwoRows});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(o.out, "");
    ASSERT_EQ(FileType("/dev/null"), S_IFCHR) << "dux replaced /dev/null";
  }
  Outcome arrow = Dux({"run", "--format", "arrow", "--output", "/dev/null", kTwoRows});
  EXPECT_EQ(arrow.exit_code, 0) << arrow.err;
  ASSERT_EQ(FileType("/dev/null"), S_IFCHR) << "dux replaced /dev/null";
  for (const char* sink : kSinks) {
    SCOPED_TRACE(sink);
    Outcome o = Dux({"run", SinkPipeline(sink, "/dev/null")});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_NE(o.out.find(": wrote 2 rows to 1 file\n"), std::string::npos) << o.out;
    ASSERT_EQ(FileType("/dev/null"), S_IFCHR) << "dux replaced /dev/null";
  }
}

TEST_F(CliTest, CharacterDeviceOfOurOwnStaysADevice) {
  if (!Root()) GTEST_SKIP() << "mknod needs root";
  const fs::path device = dir_ / "work" / "sink.dev";
  ASSERT_EQ(::mknod(device.c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);  // a null device
  for (const auto& [format, bytes] : kFormats) {
    SCOPED_TRACE(format);
    Outcome o = Dux({"run", "--format", format, "--output", "sink.dev", kTwoRows});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(FileType(device), S_IFCHR);
  }
  for (const char* sink : kSinks) {
    SCOPED_TRACE(sink);
    EXPECT_EQ(Dux({"run", SinkPipeline(sink, "sink.dev")}).exit_code, 0);
    EXPECT_EQ(FileType(device), S_IFCHR);
  }
  EXPECT_EQ(WorkFiles(), std::vector<std::string>{"sink.dev"}) << "no temporary file is left";
}

TEST_F(CliTest, FifoReachesItsReader) {
  const fs::path fifo = dir_ / "work" / "rows.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  auto read_fifo = [&] { return std::async(std::launch::async, [&] { return ReadFile(fifo); }); };
  for (const auto& [format, bytes] : kFormats) {
    SCOPED_TRACE(format);
    auto reader = read_fifo();
    Outcome o = Dux({"run", "--format", format, "--output", "rows.fifo", kTwoRows});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(reader.get(), bytes);
    EXPECT_EQ(FileType(fifo), S_IFIFO);
  }
  auto reader = read_fifo();
  Outcome o = Dux({"run", SinkPipeline("to_csv(\"PATH\")", "rows.fifo")});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(reader.get(), "id,name\n1,a\n2,ü\n");
  EXPECT_EQ(FileType(fifo), S_IFIFO);
  EXPECT_EQ(WorkFiles(), std::vector<std::string>{"rows.fifo"});
}

// ---- symlinks and permissions --------------------------------------------------------------

TEST_F(CliTest, SymlinkKeepsPointingAtTheNewContent) {
  const fs::path work = dir_ / "work";
  fs::create_directory(work / "real");
  auto reset = [&] {
    WriteFile(work / "real" / "target.csv", "old\n");
    fs::permissions(work / "real" / "target.csv", fs::perms(0640));
  };
  fs::create_symlink("real/target.csv", work / "link.csv");
  fs::create_symlink("link.csv", work / "chain.csv");  // a link to a link
  for (const char* link : {"link.csv", "chain.csv"}) {
    SCOPED_TRACE(link);
    reset();
    Outcome o = Dux({"run", "--format", "csv", "--output", link, kTwoRows});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(ReadFile(work / "real" / "target.csv"), "id,name\n1,a\n2,ü\n");
    EXPECT_EQ(Permissions(work / "real" / "target.csv"), 0640u);
    reset();
    o = Dux({"run", SinkPipeline("to_csv(\"PATH\")", link)});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(ReadFile(work / "real" / "target.csv"), "id,name\n1,a\n2,ü\n");
    EXPECT_EQ(Permissions(work / "real" / "target.csv"), 0640u);
  }
  EXPECT_EQ(FileType(work / "link.csv"), S_IFLNK);
  EXPECT_EQ(fs::read_symlink(work / "link.csv"), "real/target.csv");
  EXPECT_EQ(FileType(work / "chain.csv"), S_IFLNK);
  // A dangling link gets its target created, as a shell's `>` does.
  fs::create_symlink("real/new.csv", work / "dangling.csv");
  Outcome o = Dux({"run", "--format", "csv", "--output", "dangling.csv", kTwoRows});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(ReadFile(work / "real" / "new.csv"), "id,name\n1,a\n2,ü\n");
  EXPECT_EQ(FileType(work / "dangling.csv"), S_IFLNK);
  EXPECT_EQ(WorkFiles(),
            (std::vector<std::string>{"chain.csv", "dangling.csv", "link.csv", "real"}));
  std::vector<std::string> real;
  for (const auto& e : fs::directory_iterator(work / "real")) {
    real.push_back(e.path().filename().string());
  }
  std::sort(real.begin(), real.end());
  EXPECT_EQ(real, (std::vector<std::string>{"new.csv", "target.csv"})) << "no temporary left";
}

TEST_F(CliTest, ReplacedFileKeepsItsMode) {
  const fs::path out = dir_ / "work" / "out.csv";
  WriteFile(out, "old\n");
  fs::permissions(out, fs::perms(0600));
  EXPECT_EQ(Dux({"run", "--format", "csv", "--output", "out.csv", kTwoRows}).exit_code, 0);
  EXPECT_EQ(Permissions(out), 0600u);
  fs::permissions(out, fs::perms(0664));
  EXPECT_EQ(Dux({"run", SinkPipeline("to_arrow(\"PATH\")", "out.csv")}).exit_code, 0);
  EXPECT_EQ(Permissions(out), 0664u);
}

TEST_F(CliTest, ReadOnlyTargetIsAOneLineErrorAndKeepsItsContent) {
  const fs::path work = dir_ / "work";
  std::optional<Tmpfs> disk;
  fs::path directory = work;
  if (Root()) {
    // Root may write any file whatever its mode: a read-only filesystem stops it.
    directory = work / "ro";
    disk.emplace(directory, "1m");
    if (!disk->mounted()) GTEST_SKIP() << "cannot mount a tmpfs";
  }
  WriteFile(directory / "keep.csv", "keep\n");
  if (Root()) {
    ASSERT_TRUE(disk->MakeReadOnly());
  } else {
    fs::permissions(directory / "keep.csv", fs::perms(0444));
  }
  const std::string target = fs::relative(directory / "keep.csv", work).string();
  for (const auto& [format, bytes] : kFormats) {
    SCOPED_TRACE(format);
    Outcome o = Dux({"run", "--format", format, "--output", target, kTwoRows});
    ExpectOneLineError(o, 1, "cannot write \"" + target + "\": ");
    EXPECT_EQ(ReadFile(directory / "keep.csv"), "keep\n");
  }
  Outcome o = Dux({"run", SinkPipeline("to_csv(\"PATH\")", target)});
  ExpectOneLineError(o, 1, "to_csv: cannot write \"" + target + "\": ");
  EXPECT_EQ(ReadFile(directory / "keep.csv"), "keep\n");
}

TEST_F(CliTest, FullDiskIsAOneLineErrorAndKeepsTheOldContent) {
  if (!Root()) GTEST_SKIP() << "mounting a small tmpfs needs root";
  const fs::path directory = dir_ / "work" / "small";
  Tmpfs disk(directory, "256k");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs";
  WriteFile(directory / "out.csv", "old\n");
  const std::string big =
      "from_query(\"SELECT range AS i, md5(range::VARCHAR) AS h FROM range(100000)\")";
  for (const char* format : {"csv", "ndjson", "arrow"}) {
    SCOPED_TRACE(format);
    Outcome o = Dux({"run", "--format", format, "--output", "small/out.csv", big});
    ExpectOneLineError(o, 1, "No space left on device");
    EXPECT_NE(o.err.find("small/out.csv"), std::string::npos) << o.err;
    EXPECT_EQ(o.err.find("dux-tmp"), std::string::npos) << o.err;
    EXPECT_EQ(ReadFile(directory / "out.csv"), "old\n");
  }
  Outcome o =
      Dux({"run", big + " |> to_parquet(\"small/out.csv\", compression: \"uncompressed\")"});
  ExpectOneLineError(o, 1, "to_parquet: ");
  EXPECT_EQ(ReadFile(directory / "out.csv"), "old\n");
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(directory)) {
    left.push_back(e.path().filename().string());
  }
  EXPECT_EQ(left, std::vector<std::string>{"out.csv"}) << "no temporary file is left";
}

TEST_F(CliTest, DirectoryTargetOfOneFileIsAOneLineError) {
  fs::create_directory(dir_ / "work" / "out.csv");
  ExpectOneLineError(Dux({"run", "--format", "csv", "--output", "out.csv", kTwoRows}), 1,
                     "cannot write \"out.csv\": it is a directory");
}

// ---- stdout --------------------------------------------------------------------------------

TEST_F(CliTest, StdoutStreamsAndAClosedPipeEndsTheRunQuietly) {
  // `set -o pipefail`: the shell's status is dux's own when dux fails.
  for (const char* format : {"csv", "ndjson", "json"}) {
    SCOPED_TRACE(format);
    Outcome o =
        Shell(std::string("\"$DUX\" run --format ") + format + " '" + kEndless + "' | head -2");
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(o.err, "");
    const std::string expected = std::string(format) == "csv"      ? "i\n0\n"
                                 : std::string(format) == "ndjson" ? "{\"i\":0}\n{\"i\":1}\n"
                                                                   : "[\n\t{\"i\":0},\n";
    EXPECT_EQ(o.out, expected);
  }
  Outcome arrow =
      Shell(std::string("\"$DUX\" run --format arrow '") + kEndless + "' | head -c 100000 | wc -c");
  EXPECT_EQ(arrow.exit_code, 0) << arrow.err;
  EXPECT_EQ(arrow.err, "");
  EXPECT_EQ(arrow.out, "100000\n");
}

TEST_F(CliTest, StdoutRedirectedToAFileKeepsWhatWasThere) {
  WriteFile(dir_ / "work" / "p.dux", kTwoRows);
  WriteFile(dir_ / "work" / "log.txt", "first\n");
  Outcome o = Shell("\"$DUX\" run --format csv -f p.dux >> log.txt");
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(ReadFile(dir_ / "work" / "log.txt"), "first\nid,name\n1,a\n2,ü\n");
  o = Shell("\"$DUX\" run --format csv --output - -f p.dux > out.csv");
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(ReadFile(dir_ / "work" / "out.csv"), "id,name\n1,a\n2,ü\n");
}

}  // namespace
