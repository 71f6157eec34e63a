#include "dux/cli/exit_code.h"

#include <iostream>

#include "dux/pg/conninfo.h"

namespace dux::cli {

int ExitCode(const Status& status) {
  if (status.ok()) return 0;
  std::cout.flush();
  // A message may quote the script, and the script a PostgreSQL password.
  std::cerr << "dux: " << pg::RedactText(status.message()) << "\n";
  return 1;
}

}  // namespace dux::cli
