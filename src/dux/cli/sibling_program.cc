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

int ExecSibling(const char* name, char** argv) {
  char path[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  size_t dir = 0;
  if (n > 0) {
    path[n] = '\0';
    const char* slash = std::strrchr(path, '/');
    dir = slash != nullptr ? static_cast<size_t>(slash - path) + 1 : 0;
  }
  const size_t length = std::strlen(name);
  if (dir + length >= sizeof path) {
    std::fprintf(stderr, "dux: cannot start %s: its directory's path is too long\n", name);
    return 127;
  }
  std::memcpy(path + dir, name, length + 1);
  ::execv(path, argv);
  std::fprintf(stderr, "dux: cannot start %s: %s\n", path, std::strerror(errno));
  return 127;
}

}  // namespace dux::cli
