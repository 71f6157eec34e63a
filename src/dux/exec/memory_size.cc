#include "dux/exec/memory_size.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>

namespace dux::exec {

Result<int64_t> ParseMemorySize(const std::string& text) {
  char* end = nullptr;
  double number = std::strtod(text.c_str(), &end);
  std::string unit = end ? end : "";
  unit.erase(0, unit.find_first_not_of(' '));
  static const std::map<std::string, double> kUnits = {{"", 1},
                                                       {"b", 1},
                                                       {"bytes", 1},
                                                       {"kb", 1e3},
                                                       {"mb", 1e6},
                                                       {"gb", 1e9},
                                                       {"tb", 1e12},
                                                       {"kib", 1024.0},
                                                       {"mib", 1 << 20},
                                                       {"gib", 1 << 30},
                                                       {"tib", 1099511627776.0}};
  for (auto& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  auto it = kUnits.find(unit);
  if (end == text.c_str() || it == kUnits.end() || !std::isfinite(number) || number < 0) {
    return Status::InvalidArgument("cannot read the memory size \"" + text + "\"");
  }
  return static_cast<int64_t>(number * it->second);
}

}  // namespace dux::exec
