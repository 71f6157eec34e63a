// The rules every port dux listens on follows, gRPC and HTTP alike: HOST:PORT addresses,
// which hosts are loopback, no listener off loopback without a token, and how a token the
// caller sent is compared with the expected one.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "dux/common/status.h"

namespace dux {

/// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(const std::string& host);

/// Splits "HOST:PORT" ("[::1]:80" too); InvalidArgument when it is not that shape.
Result<std::pair<std::string, int>> SplitHostPort(const std::string& address);

/// InvalidArgument when `listen` (HOST:PORT) is off loopback and `token` is empty: such a
/// port would let anyone on the network in. The message names the address, never the token.
Status CheckListenAllowed(const std::string& listen, const std::string& token);

/// `given == expected` in time that depends only on their lengths, so that a caller cannot
/// find a token byte by byte from how long a refusal takes.
bool TokensEqual(std::string_view given, std::string_view expected);

}  // namespace dux
