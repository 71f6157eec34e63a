// How dux's servers (worker, registry, pool) wait for SIGTERM or SIGINT.
#pragma once

#include <signal.h>

#include <chrono>

namespace dux::cli {

/// Blocks SIGTERM and SIGINT in this thread and every thread it starts later (gRPC's
/// included, which inherit the mask), so that they are taken by WaitForStop in the main
/// thread and never interrupt a handler midway. Call first thing in a server command.
sigset_t StopSignals();
void WaitForStop(const sigset_t& set);
/// True when a stop signal came within `wait`.
bool StopSignalWithin(const sigset_t& set, std::chrono::milliseconds wait);

/// A flag's seconds as milliseconds.
std::chrono::milliseconds Millis(double seconds);

}  // namespace dux::cli
