// GETs from a test, as a browser or a scraper makes them (the registry's HTTP port).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace dux::test {

/// An HTTP answer; status 0 when no connection could be made.
struct HttpReply {
  int status = 0;
  std::string content_type;
  std::string body;
};

/// GET `path` of "HOST:PORT" with `headers` (name, value), waiting 30 s at most.
HttpReply HttpGet(const std::string& address, const std::string& path,
                  const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace dux::test
