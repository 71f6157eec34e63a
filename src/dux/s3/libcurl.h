// libcurl, loaded on first use. dux calls it only through these pointers, so that a process
// that never talks to S3 never loads it: libcurl brings some twenty-five libraries (GnuTLS,
// Kerberos, LDAP, SSH, ...) whose loading was about 15 ms of every dux start, the thin client
// of `dux run --server` included (BENCHMARKS.md). Types and constants still come from curl.h.
#pragma once

#include <curl/curl.h>

#include "dux/common/status.h"

namespace dux::s3 {

// Each X(name) is libcurl's curl_<name>. The members drop the prefix: curl.h makes
// curl_easy_setopt and curl_easy_getinfo macros (its type checks) that a call through a
// member of the same name would expand.
// clang-format off
#define DUX_LIBCURL_FUNCTIONS(X)                                                           \
  X(global_init) X(easy_init) X(easy_cleanup) X(easy_reset) X(easy_setopt) X(easy_getinfo) \
  X(easy_perform) X(easy_strerror) X(slist_append) X(slist_free_all)
// clang-format on

/// The functions of libcurl dux uses.
struct Libcurl {
#define DUX_LIBCURL_POINTER(name) decltype(&::curl_##name) name = nullptr;
  DUX_LIBCURL_FUNCTIONS(DUX_LIBCURL_POINTER)
#undef DUX_LIBCURL_POINTER
};

/// Loads libcurl and runs its global initialisation, once per process (thread-safe);
/// an error with the loader's reason when either fails.
Result<const Libcurl*> LoadLibcurl();

/// libcurl once LoadLibcurl succeeded: every CURL handle comes from there, so code that holds
/// one may call this.
const Libcurl& Curl();

}  // namespace dux::s3
