#include "dux/common/group_estimate.h"

#include <algorithm>
#include <cmath>

namespace dux {

double GroupsFromSample(double distinct, double sampled, double total) {
  if (sampled <= 0 || distinct <= 0) return 0;
  if (distinct >= sampled * 0.999) return total;
  auto expected = [&](double g) { return g * (1 - std::exp(-sampled / g)); };
  double low = distinct, high = std::min(std::max(total, distinct), sampled * sampled) * 1e3;
  for (int i = 0; i < 100 && high - low > 1; ++i) {
    double mid = (low + high) / 2;
    (expected(mid) < distinct ? low : high) = mid;
  }
  return std::min(low, std::max(total, distinct));
}

}  // namespace dux
