#include "dux/cli/sibling_program.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dux::cli {

bool WantsClient(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "run") != 0) return false;
  const char* env = std::getenv("DUX_SERVER");
  if (env != nullptr && *env != '\0') return true;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) break;  // the rest is the pipeline's text
    if (std::strncmp(argv[i], "--server", 8) == 0 && (argv[i][8] == '\0' || argv[i][8] == '=')) {
      return true;
    }
  }
  return false;
}

bool SiblingPath(const char* self, size_t self_length, const char* name, char* out,
                 size_t out_size) {
  size_t dir = 0;
  for (size_t i = 0; i < self_length; ++i) {
    if (self[i] == '/') dir = i + 1;
  }
  const size_t length = std::strlen(name);
  if (dir + length >= out_size) return false;
  std::memmove(out, self, dir);
  std::memcpy(out + dir, name, length + 1);
  return true;
}

int ExecSibling(const char* name, char** argv) {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self);
  char path[PATH_MAX];
  // n == sizeof self: readlink may have cut the path short.
  if (n <= 0 || static_cast<size_t>(n) >= sizeof self ||
      !SiblingPath(self, static_cast<size_t>(n), name, path, sizeof path)) {
    std::fprintf(stderr, "dux: cannot start %s: the path of this program is unknown or too long\n",
                 name);
    return 127;
  }
  ::execv(path, argv);
  std::fprintf(stderr, "dux: cannot start %s: %s\n", path, std::strerror(errno));
  return 127;
}

}  // namespace dux::cli
