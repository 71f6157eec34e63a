#include "dux/cli/http_address.h"

#include "dux/common/server_access.h"

namespace dux::cli {

Result<std::string> HttpAddress(const std::string& value, const std::string& token) {
  if (value.empty()) return std::string();
  std::string address = value;
  if (value.find_first_not_of("0123456789") == std::string::npos) address = "127.0.0.1:" + value;
  Status allowed = CheckListenAllowed(address, token);
  if (!allowed.ok()) return allowed.WithPrefix("--http");
  return address;
}

}  // namespace dux::cli
