// QueryWatch: Ctrl-C and a progress line for the statements a dux command runs.
#pragma once

#include <signal.h>

#include <atomic>
#include <thread>

#include "dux/exec/duckdb_connection.h"

namespace dux::cli {

/// While alive, Ctrl-C interrupts the statement running on `connection` (it then fails with
/// CANCELLED, and writers remove their temporary output), and with `show_progress`, when
/// stderr is a terminal, a progress line shows for statements running longer than a second.
/// One per process.
class QueryWatch {
 public:
  explicit QueryWatch(exec::Connection* connection, bool show_progress = true);
  ~QueryWatch();
  /// Becomes true at Ctrl-C while a QueryWatch is alive (distributed runs poll it).
  static const std::atomic<bool>* Interrupted();
  QueryWatch(const QueryWatch&) = delete;
  QueryWatch& operator=(const QueryWatch&) = delete;

 private:
  struct sigaction previous_ {};
  std::atomic<bool> done_{false};
  std::thread progress_;
};

}  // namespace dux::cli
