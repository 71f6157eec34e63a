// The request head as the server parses it: request line, header fields, percent-encoding.
#include "dux/http/request_head.h"

#include <gtest/gtest.h>

namespace dux::http {
namespace {

TEST(RequestHead, ParsesTheLineTheFieldsAndTheQuery) {
  auto head = ParseRequestHead(
      "GET /api/queries/a%20b?limit=10&name=x+y%21&limit=20&flag HTTP/1.1\r\n"
      "Host: 127.0.0.1\r\nCookie:  a=1; dux_token=t \r\nX-Empty:\r\n");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->method, "GET");
  EXPECT_EQ(head->path, "/api/queries/a b");
  // A repeated name keeps its first value; a name without '=' is present and empty.
  EXPECT_EQ(head->params,
            (std::map<std::string, std::string>{{"limit", "10"}, {"name", "x y!"}, {"flag", ""}}));
  EXPECT_EQ(head->Header("cookie"), "a=1; dux_token=t");
  EXPECT_EQ(head->Header("host"), "127.0.0.1");
  EXPECT_EQ(head->Header("x-empty"), "");
  EXPECT_EQ(head->Header("absent"), "");
  EXPECT_FALSE(head->http10);
  EXPECT_TRUE(head->KeepAlive());
}

TEST(RequestHead, KeepAliveFollowsTheVersionAndTheConnectionField) {
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/1.1\r\nConnection: close")->KeepAlive());
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/1.0")->KeepAlive());
  EXPECT_TRUE(ParseRequestHead("GET / HTTP/1.0\r\nConnection: Keep-Alive")->KeepAlive());
  // Bare LF line ends are read too.
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/1.1\nconnection: Close")->KeepAlive());
}

TEST(RequestHead, RefusesWhatIsMalformed) {
  for (const char* bad : {"", "GET", "GET /", "GET / HTTP/2", "GET x HTTP/1.1", "GET /a b HTTP/1.1",
                          "G(T / HTTP/1.1", "GET / HTTP/1.1\r\nNo colon",
                          "GET / HTTP/1.1\r\nName : v", "GET / HTTP/1.1\r\n folded: v"}) {
    auto head = ParseRequestHead(bad);
    EXPECT_FALSE(head.ok()) << bad;
    if (!head.ok()) {
      EXPECT_EQ(head.status().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
}

TEST(RequestHead, DecodesFormsAndLeavesABrokenEscapeAsSent) {
  std::map<std::string, std::string> params{{"next", "/kept"}};
  AddUrlEncoded("token=a%2Bb%3D&next=%2Fq&&odd=100%&bad=%zz&%41=%c3%a9", &params);
  EXPECT_EQ(params, (std::map<std::string, std::string>{{"token", "a+b="},
                                                        {"next", "/kept"},
                                                        {"odd", "100%"},
                                                        {"bad", "%zz"},
                                                        {"A", "\xc3\xa9"}}));
}

}  // namespace
}  // namespace dux::http
