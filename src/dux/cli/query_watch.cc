#include "dux/cli/query_watch.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace dux::cli {

namespace {

std::atomic<duckdb_connection> g_connection{nullptr};
std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) {
  // duckdb_interrupt only raises a flag that the running statement polls.
  if (duckdb_connection c = g_connection.load()) duckdb_interrupt(c);
  g_interrupted = true;
}

}  // namespace

QueryWatch::QueryWatch(exec::Connection* connection, bool show_progress) {
  g_connection = connection->get();
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &previous_);
  if (!show_progress || !isatty(STDERR_FILENO)) return;
  // DuckDB tracks progress only with its progress bar on; dux prints it itself.
  if (!connection->TrackProgress().ok()) return;
  duckdb_connection c = connection->get();
  progress_ = std::thread([this, c] {
    using namespace std::chrono;
    auto start = steady_clock::now();
    bool shown = false;
    while (!done_.load()) {
      std::this_thread::sleep_for(milliseconds(100));
      if (steady_clock::now() - start < seconds(1)) continue;
      duckdb_query_progress_type p = duckdb_query_progress(c);
      if (p.percentage < 0) continue;
      std::fprintf(stderr, "\r%5.1f%% (%llu of %llu rows)", p.percentage,
                   static_cast<unsigned long long>(p.rows_processed),
                   static_cast<unsigned long long>(p.total_rows_to_process));
      shown = true;
    }
    if (shown) std::fputs("\r\033[K", stderr);
  });
}

const std::atomic<bool>* QueryWatch::Interrupted() { return &g_interrupted; }

QueryWatch::~QueryWatch() {
  done_ = true;
  if (progress_.joinable()) progress_.join();
  sigaction(SIGINT, &previous_, nullptr);
  g_connection = nullptr;
}

}  // namespace dux::cli
