#include "http_get.h"

#include <httplib.h>

namespace dux::test {

HttpReply HttpGet(const std::string& address, const std::string& path,
                  const std::vector<std::pair<std::string, std::string>>& headers) {
  const size_t colon = address.rfind(':');
  httplib::Client client(address.substr(0, colon), std::stoi(address.substr(colon + 1)));
  client.set_read_timeout(30, 0);
  httplib::Headers sent(headers.begin(), headers.end());
  HttpReply reply;
  if (auto result = client.Get(path.c_str(), sent)) {
    reply.status = result->status;
    reply.content_type = result->get_header_value("Content-Type");
    reply.body = result->body;
  }
  return reply;
}

}  // namespace dux::test
