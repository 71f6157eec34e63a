// http::Server on real loopback sockets, asked by cpp-httplib's client: routes, path and
// query parameters, the token (header, cookie, login form) and the listen rules.
#include "dux/http/server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include "dux/http/metrics_route.h"

namespace dux::http {
namespace {

std::vector<Route> EchoRoutes() {
  return {{Method::kGet, "/hello",
           [](const Request&) {
             return Response{200, "text/plain", "hello\n", {}};
           }},
          {Method::kGet, "/items/([a-z0-9]+)",
           [](const Request& r) {
             return Response{200,
                             "text/plain",
                             "item " + r.path_params.at(0) + " limit " + r.Param("limit", "none"),
                             {{"X-Dux", "yes"}}};
           }},
          {Method::kPost, "/echo", [](const Request& r) {
             return Response{201, "text/plain", r.Param("name") + "|" + r.body, {}};
           }}};
}

// host:port -> a client of it.
httplib::Client ClientOf(const std::string& address) {
  size_t colon = address.rfind(':');
  return httplib::Client(address.substr(0, colon), std::stoi(address.substr(colon + 1)));
}

TEST(HttpServer, ServesRoutesWithParametersOnAKernelPickedPort) {
  auto server = Server::Start({"127.0.0.1:0", "", 2}, EchoRoutes());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_EQ((*server)->address().rfind("127.0.0.1:", 0), 0u);
  EXPECT_NE((*server)->address(), "127.0.0.1:0");
  auto client = ClientOf((*server)->address());
  auto hello = client.Get("/hello");
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->status, 200);
  EXPECT_EQ(hello->body, "hello\n");
  EXPECT_EQ(hello->get_header_value("Content-Type"), "text/plain");
  auto item = client.Get("/items/a7?limit=3");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->body, "item a7 limit 3");
  EXPECT_EQ(item->get_header_value("X-Dux"), "yes");
  auto form = client.Post("/echo", httplib::Params{{"name", "x y"}});
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 201);
  // The form field decoded, and the body as sent.
  EXPECT_EQ(form->body.rfind("x y|name=x", 0), 0u) << form->body;
  auto missing = client.Get("/items/A/b");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST(HttpServer, WithATokenEveryRequestNeedsItAsBearerOrCookie) {
  auto server = Server::Start({"127.0.0.1:0", "s3cret", 2}, EchoRoutes());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto client = ClientOf((*server)->address());

  auto none = client.Get("/hello");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(none->body.find("s3cret"), std::string::npos);
  EXPECT_NE(none->body.find("action=\"/login\""), std::string::npos);
  // Unknown paths too: nothing is told before the token.
  auto unknown = client.Get("/nothing-here");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 401);

  auto wrong = client.Get("/hello", {{"Authorization", "Bearer s3creT"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto longer = client.Get("/hello", {{"Authorization", "Bearer s3cret2"}});
  ASSERT_TRUE(longer);
  EXPECT_EQ(longer->status, 401);

  auto bearer = client.Get("/hello", {{"Authorization", "Bearer s3cret"}});
  ASSERT_TRUE(bearer);
  EXPECT_EQ(bearer->status, 200);
  EXPECT_EQ(bearer->body, "hello\n");

  auto cookie = client.Get("/items/q1", {{"Cookie", "theme=dark; dux_token=s3cret"}});
  ASSERT_TRUE(cookie);
  EXPECT_EQ(cookie->status, 200);
  auto bad_cookie = client.Get("/hello", {{"Cookie", "dux_token=nope; other=s3cret"}});
  ASSERT_TRUE(bad_cookie);
  EXPECT_EQ(bad_cookie->status, 401);
  auto post = client.Post("/echo", httplib::Params{{"name", "n"}});
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 401);
}

TEST(HttpServer, LoginSetsTheTokenCookieAndRedirectsToALocalPage) {
  auto server = Server::Start({"127.0.0.1:0", "s3cret", 2}, EchoRoutes());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto client = ClientOf((*server)->address());

  auto wrong = client.Post("/login", httplib::Params{{"token", "guess"}, {"next", "/hello"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_FALSE(wrong->has_header("Set-Cookie"));

  auto right = client.Post("/login", httplib::Params{{"token", "s3cret"}, {"next", "/hello"}});
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 303);
  EXPECT_EQ(right->get_header_value("Location"), "/hello");
  std::string set_cookie = right->get_header_value("Set-Cookie");
  EXPECT_EQ(set_cookie.rfind("dux_token=s3cret;", 0), 0u) << set_cookie;
  EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos);

  // Another site is never a destination.
  auto away = client.Post("/login", httplib::Params{{"token", "s3cret"}, {"next", "//evil/x"}});
  ASSERT_TRUE(away);
  EXPECT_EQ(away->get_header_value("Location"), "/");
}

TEST(HttpServer, RefusesANonLoopbackAddressWithoutAToken) {
  auto refused = Server::Start({"0.0.0.0:0", "", 2}, EchoRoutes());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("refusing to listen on 0.0.0.0:0 without a token"),
            std::string::npos)
      << refused.status().message();
  auto with_token = Server::Start({"0.0.0.0:0", "t", 2}, EchoRoutes());
  EXPECT_TRUE(with_token.ok()) << with_token.status().ToString();
}

TEST(HttpServer, ReportsBadAndTakenAddresses) {
  auto bad = Server::Start({"localhost", "", 2}, EchoRoutes());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "\"localhost\" is not HOST:PORT");
  auto first = Server::Start({"127.0.0.1:0", "", 2}, EchoRoutes());
  ASSERT_TRUE(first.ok());
  auto second = Server::Start({(*first)->address(), "", 2}, EchoRoutes());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen on " + (*first)->address()),
            std::string::npos)
      << second.status().message();
}

TEST(HttpServer, MetricsRouteServesTheRegistryAsPrometheusText) {
  MetricsRegistry registry;
  auto& hits = registry.AddCounter("dux_test_hits_total", "Hits.").Get();
  auto server = Server::Start({"127.0.0.1:0", "", 2}, {MetricsRoute(registry)});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto client = ClientOf((*server)->address());
  hits.Increment(2);
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics->body.find("\ndux_test_hits_total 2\n"), std::string::npos) << metrics->body;
}

}  // namespace
}  // namespace dux::http
