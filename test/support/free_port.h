// A loopback TCP port for a server a test starts.
#pragma once

namespace dux::test {

/// A loopback port that was free a moment ago, or 0 when none could be had. The server
/// started on it may still lose a race for it: callers retry with another.
int FreePort();

}  // namespace dux::test
