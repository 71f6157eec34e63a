#include "dux/common/file_identity.h"

#include <sys/stat.h>

namespace dux {

std::optional<std::string> LocalFileIdentity(const std::string& path) {
  struct stat st {};
  if (path.find("://") != std::string::npos || ::stat(path.c_str(), &st) != 0) {
    return std::nullopt;
  }
  return path + '\0' + std::to_string(st.st_size) + ':' + std::to_string(st.st_mtim.tv_sec) + '.' +
         std::to_string(st.st_mtim.tv_nsec);
}

}  // namespace dux
