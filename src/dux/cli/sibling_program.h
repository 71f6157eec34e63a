// The dux command is three programs in one directory (docs/architecture.md, "Programs"):
// `dux`, which only picks one of the other two and replaces itself with it, same arguments;
// `dux-client`, the thin client of `dux serve`, which does not load DuckDB; and `dux-engine`,
// every other command. A served query then pays no DuckDB start (docs/serve.md, "The client").
// Plain C library calls only: `dux` links nothing else, so that its own start costs next to
// nothing before a one-shot run.
#pragma once

#include <cstddef>

namespace dux::cli {

inline constexpr const char* kEngineProgram = "dux-engine";
inline constexpr const char* kClientProgram = "dux-client";

/// Whether this command line goes to dux-client: `run` with --server or a non-empty
/// $DUX_SERVER. It may say yes where CLI11 then finds no server (`--server ""`), and dux-client
/// hands that line on to dux-engine; it never says no to a served run.
bool WantsClient(int argc, char** argv);

/// Writes into `out` (of `out_size` bytes) the path of program `name` in the directory of
/// `self` (its first `self_length` bytes, not terminated); false when it does not fit.
bool SiblingPath(const char* self, size_t self_length, const char* name, char* out,
                 size_t out_size);

/// Replaces this process with the program `name` beside the running one (the directory of
/// /proc/self/exe, so a symlink to `dux` works), with `argv`. Returns only if that failed,
/// after printing "dux: cannot start PATH: REASON" on stderr: the exit code to end with (127,
/// as a shell's for a missing command).
int ExecSibling(const char* name, char** argv);

}  // namespace dux::cli
