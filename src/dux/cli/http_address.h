// The --http flag of dux's servers (worker, registry): where their HTTP endpoints listen.
#pragma once

#include <string>

#include "dux/common/status.h"

namespace dux::cli {

/// The HOST:PORT that `--http VALUE` means: VALUE itself, or 127.0.0.1:VALUE for a bare
/// port; empty for an empty VALUE (no HTTP). InvalidArgument, naming --http, for a value of
/// another shape or an address off loopback without a token (the gRPC port's rule).
Result<std::string> HttpAddress(const std::string& value, const std::string& token);

}  // namespace dux::cli
