// The status page in a real browser: Debian's chromium, headless, loads the registry's page
// while a distributed query runs and after it ended, and the test reads the DOM the page's
// JavaScript rendered (--dump-dom): the workers, the query, its stages and the timeline's
// rects. A screenshot of the finished query is kept in the build tree
// (DUX_ARTIFACT_DIR/status-page.png). Skipped, saying why, only when chromium cannot run.
#include <unistd.h>

#include <regex>

#include "registry_fixture.h"

namespace dux::test {
namespace {

using nlohmann::json;

size_t Occurrences(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

class StatusPageBrowserTest : public RegistryTest {
 protected:
  /// The browser: $DUX_CHROMIUM, else chromium on the usual path.
  static std::string Browser() {
    const char* chosen = std::getenv("DUX_CHROMIUM");
    return chosen != nullptr ? chosen : "/usr/bin/chromium";
  }

  /// Runs headless chromium on the registry's page with `args`; its outcome. Root needs
  /// --no-sandbox; the virtual time budget lets the page's polling run before the dump.
  ProcessOutcome Chromium(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {Browser(),
                                     "--headless=new",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--disable-dev-shm-usage",
                                     "--no-first-run",
                                     "--user-data-dir=" + (dir_ / "chromium-profile").string(),
                                     "--virtual-time-budget=3000"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("http://" + http_ + "/");
    return RunProcess(argv, dir_);
  }

  /// The page's DOM as the browser rendered it.
  std::string RenderedPage() {
    ProcessOutcome o = Chromium({"--dump-dom"});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return o.out;
  }
};

TEST_F(StatusPageBrowserTest, ShowsTheWorkersTheQueryItsStagesAndTheTimeline) {
  if (access(Browser().c_str(), X_OK) != 0) {
    GTEST_SKIP() << Browser() << " is not installed (apt-get install chromium; or set "
                 << "DUX_CHROMIUM): the status page cannot be tested in a browser here";
  }
  ASSERT_TRUE(StartRegistry());
  const std::string a = StartWorker(), b = StartWorker();
  WaitForWorkers(2);
  ProcessOutcome probe = Chromium({"--dump-dom"});
  if (probe.exit_code != 0 || probe.out.find("dux registry") == std::string::npos) {
    GTEST_SKIP() << "chromium cannot run here (exit " << probe.exit_code << "): " << probe.err;
  }

  // Two partitions of about two seconds each on two workers of one thread, then a hash
  // exchange (median does not decompose) and the buckets' aggregates: two stages.
  const std::string pipeline =
      SlowPipeline(4) + " |> mutate(g: k % 50) |> group_by(g) |> summarise(m: median(s))";
  ChildOptions options;
  options.stdout_file = dir_ / "run.out";
  options.stderr_file = dir_ / "run.err";
  std::string error;
  auto run = ChildProcess::Start(
      {DUX_BINARY, "run", "--registry", registry_, "--format", "csv", pipeline}, options, &error);
  ASSERT_TRUE(run) << error;
  std::string id;
  for (auto deadline = std::chrono::steady_clock::now() + 30s;
       id.empty() && std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(20ms)) {
    HttpReply list = HttpGet(http_, "/api/queries");
    if (list.status != 200) continue;
    json running = json::parse(list.body)["running"];
    if (!running.empty()) id = running[0]["id"];
  }
  ASSERT_FALSE(id.empty()) << "the query never showed as running";

  const std::string during = RenderedPage();
  const json running = Query(id);
  EXPECT_NE(during.find(a), std::string::npos) << during;
  EXPECT_NE(during.find(b), std::string::npos) << during;
  EXPECT_NE(during.find("<td class=\"text\">" + id + "</td>"), std::string::npos) << during;
  if (running["status"] == "running") {
    EXPECT_NE(during.find("class=\"status status-running\">running<"), std::string::npos) << during;
  } else {
    ADD_FAILURE() << "the query ended before the browser saw it run; make it slower";
  }

  std::optional<int> code = run->Wait(60s);
  ASSERT_EQ(code, 0) << ReadFile(options.stderr_file);
  const json q = Query(id);
  ASSERT_EQ(q["status"], "ok");
  const std::string after = RenderedPage();
  EXPECT_NE(after.find("<span id=\"query-id\">" + id + "</span>"), std::string::npos) << after;
  EXPECT_NE(after.find("class=\"status status-ok\">ok</span>"), std::string::npos) << after;
  EXPECT_NE(after.find("mutate(s: list_sum(range(0, k % 7 + 12000))::BIGINT)"), std::string::npos);
  EXPECT_NE(after.find("-- distributed: 2 partitions on 2 workers"), std::string::npos);
  // The stages' table, and one rect per partition in the timeline's SVG, each with its
  // worker, bytes and rows on hover.
  for (const json& stage : q["stages"]) {
    EXPECT_NE(after.find("<tr class=\"stage\"><td>" + stage["name"].get<std::string>() + "</td>"),
              std::string::npos)
        << after;
  }
  ASSERT_GE(q["stages"].size(), 2u) << q["stages"];
  EXPECT_EQ(q["stages"][0]["name"], "scan");
  EXPECT_EQ(q["stages"][1]["name"], "exchange");
  EXPECT_NE(after.find("<svg class=\"gantt\""), std::string::npos) << after;
  EXPECT_EQ(Occurrences(after, "<rect class=\"partition\""), q["partitions"].size()) << after;
  EXPECT_GE(q["partitions"].size(), 4u);
  std::smatch hover;
  const std::regex title(
      "<rect class=\"partition\"[^>]*><title>partition \\d+ \\(scan\\) on "
      "([0-9.:]+): [^<]*(B|KiB|MiB), [0-9,]+ rows</title></rect>");
  ASSERT_TRUE(std::regex_search(after, hover, title)) << after;
  EXPECT_TRUE(hover[1] == a || hover[1] == b) << hover[0];

  const fs::path screenshot = fs::path(DUX_ARTIFACT_DIR) / "status-page.png";
  fs::remove(screenshot);
  ProcessOutcome shot = Chromium(
      {"--hide-scrollbars", "--window-size=1280,1500", "--screenshot=" + screenshot.string()});
  EXPECT_EQ(shot.exit_code, 0) << shot.err;
  const std::string png = ReadFile(screenshot);
  EXPECT_EQ(png.substr(0, 8), "\x89PNG\r\n\x1a\n") << "no screenshot at " << screenshot;
  EXPECT_GT(png.size(), 20000u);
}

}  // namespace
}  // namespace dux::test
