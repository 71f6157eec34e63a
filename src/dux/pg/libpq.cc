#include "dux/pg/libpq.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>

namespace dux::pg {

namespace {

struct Loaded {
  Libpq functions;
  Status status;
};

Loaded Load() {
  Loaded loaded;
  // The major version is libpq's ABI: any libpq 5 serves.
  void* library = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    loaded.status = Status::IOError(std::string("PostgreSQL needs libpq: ") + dlerror());
    return loaded;
  }
#define DUX_LIBPQ_RESOLVE(name)                                                           \
  loaded.functions.name = reinterpret_cast<decltype(&::name)>(dlsym(library, #name));     \
  if (!loaded.functions.name) {                                                           \
    loaded.status = Status::IOError("PostgreSQL needs libpq with " + std::string(#name)); \
    return loaded;                                                                        \
  }
  DUX_LIBPQ_FUNCTIONS(DUX_LIBPQ_RESOLVE)
#undef DUX_LIBPQ_RESOLVE
  return loaded;  // the library stays loaded for the life of the process
}

const Loaded& Once() {
  static const Loaded kLoaded = Load();
  return kLoaded;
}

}  // namespace

Result<const Libpq*> LoadLibpq() {
  const Loaded& loaded = Once();
  if (!loaded.status.ok()) return loaded.status;
  return &loaded.functions;
}

const Libpq& Pq() {
  const Loaded& loaded = Once();
  if (!loaded.status.ok()) std::abort();  // a PGconn exists only once libpq loaded
  return loaded.functions;
}

}  // namespace dux::pg
