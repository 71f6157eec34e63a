// Ids unique in this process and across processes and machines' clocks: query ids, write ids.
#pragma once

#include <string>

namespace dux {

/// `prefix`, then the time in microseconds and the process id in hex, then a counter of this
/// process: "q6a1f...-3cc7-0".
std::string UniqueId(char prefix);

}  // namespace dux
