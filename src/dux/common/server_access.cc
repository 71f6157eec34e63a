#include "dux/common/server_access.h"

namespace dux {

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

Result<std::pair<std::string, int>> SplitHostPort(const std::string& address) {
  size_t colon = address.rfind(':');
  auto bad = [&] { return Status::InvalidArgument("\"" + address + "\" is not HOST:PORT"); };
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) return bad();
  std::string port_text = address.substr(colon + 1);
  if (port_text.find_first_not_of("0123456789") != std::string::npos || port_text.size() > 5) {
    return bad();
  }
  int port = std::stoi(port_text);
  if (port > 65535) return bad();
  return std::make_pair(address.substr(0, colon), port);
}

Status CheckListenAllowed(const std::string& listen, const std::string& token) {
  DUX_ASSIGN_OR_RETURN(auto host_port, SplitHostPort(listen));
  if (!IsLoopbackHost(host_port.first) && token.empty()) {
    return Status::InvalidArgument("refusing to listen on " + listen +
                                   " without a token: give --token or DUX_TOKEN (or listen "
                                   "on 127.0.0.1)");
  }
  return Status::OK();
}

bool TokensEqual(std::string_view given, std::string_view expected) {
  if (given.size() != expected.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ expected[i]);
  }
  return diff == 0;
}

}  // namespace dux
