// Edit distance between names, for "did you mean" suggestions.
#pragma once

#include <cstddef>
#include <string_view>

namespace dux {

/// Levenshtein distance between `a` and `b` (byte-wise; ASCII letters compared without
/// case when `ignore_case`).
size_t EditDistance(std::string_view a, std::string_view b, bool ignore_case = false);

}  // namespace dux
