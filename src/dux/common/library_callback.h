// Functions of dux that a library calls through a pointer (DuckDB's table function and
// replacement scan callbacks, Arrow C stream and release callbacks), wrapped so that a
// ThreadSanitizer report about them shows dux's frames, not the library's.
#pragma once

#include <type_traits>

#if defined(__SANITIZE_THREAD__)
#define DUX_NOT_THREAD_SANITIZED __attribute__((no_sanitize_thread, noinline))
#else
#define DUX_NOT_THREAD_SANITIZED
#endif

namespace dux {

template <auto F>
struct LibraryCallback;

/// `LibraryCallback<F>::Call` calls F: the pointer to hand a library in place of F. Every
/// function of dux that DuckDB calls must be handed over this way.
///
/// Why: DuckDB is built without TSan, and its threads synchronise with atomics TSan cannot
/// see, so test/sanitizers/tsan.supp suppresses every TSan report with a frame in
/// libduckdb.so. TSan's stack of an instrumented function names the place that called it, so
/// F called straight from DuckDB would carry a DuckDB frame, and a race in F would be
/// suppressed with DuckDB's. Under TSan, Call is the one uninstrumented function of dux (it
/// only forwards), so F's stack starts at Call instead. Elsewhere it is a plain forwarder.
template <typename R, typename... A, R (*F)(A...)>
struct LibraryCallback<F> {
  DUX_NOT_THREAD_SANITIZED static R Call(A... args) {
    // Not a tail call: a jump to F would leave the library's frame as F's caller.
    if constexpr (std::is_void_v<R>) {
      F(args...);
      asm volatile("");
    } else {
      R result = F(args...);
      asm volatile("");
      return result;
    }
  }
};

}  // namespace dux
