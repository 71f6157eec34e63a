// How a dux command ends: its status as the process's exit code, an error printed first.
#pragma once

#include "dux/common/status.h"

namespace dux::cli {

/// 0 for OK; else prints "dux: MESSAGE" on stderr (a PostgreSQL password in it redacted) after
/// flushing stdout, and returns 1.
int ExitCode(const Status& status);

}  // namespace dux::cli
