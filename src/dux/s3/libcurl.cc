#include "dux/s3/libcurl.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>

namespace dux::s3 {

namespace {

struct Loaded {
  Libcurl functions;
  Status status;
};

Loaded Load() {
  Loaded loaded;
  // libcurl.so.4 is libcurl's ABI since 2006: any build of it serves.
  void* library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    loaded.status = Status::IOError(std::string("S3 needs libcurl: ") + dlerror());
    return loaded;
  }
#define DUX_LIBCURL_RESOLVE(name)                                                \
  loaded.functions.name =                                                        \
      reinterpret_cast<decltype(&::curl_##name)>(dlsym(library, "curl_" #name)); \
  if (!loaded.functions.name) {                                                  \
    loaded.status = Status::IOError("S3 needs libcurl with curl_" #name);        \
    return loaded;                                                               \
  }
  DUX_LIBCURL_FUNCTIONS(DUX_LIBCURL_RESOLVE)
#undef DUX_LIBCURL_RESOLVE
  // curl_global_init is not thread-safe and must run once before any handle exists: here,
  // under the static initialisation's guard.
  const CURLcode code = loaded.functions.global_init(CURL_GLOBAL_DEFAULT);
  if (code != CURLE_OK) {
    loaded.status = Status::Internal(std::string("s3: libcurl cannot start: ") +
                                     loaded.functions.easy_strerror(code));
  }
  return loaded;  // the library stays loaded for the life of the process
}

const Loaded& Once() {
  static const Loaded kLoaded = Load();
  return kLoaded;
}

}  // namespace

Result<const Libcurl*> LoadLibcurl() {
  const Loaded& loaded = Once();
  if (!loaded.status.ok()) return loaded.status;
  return &loaded.functions;
}

const Libcurl& Curl() {
  const Loaded& loaded = Once();
  if (!loaded.status.ok()) std::abort();  // a CURL handle exists only once libcurl loaded
  return loaded.functions;
}

}  // namespace dux::s3
