// The number of groups of a key estimated from a sample of its rows: what the planner's
// final_on_workers estimate and a worker's adaptive partial aggregation both measure.
#pragma once

namespace dux {

/// The number of groups G that makes `distinct` the expected count of distinct keys in a
/// sample of `sampled` rows drawn from G equally likely groups: distinct = G (1 - e^(-n/G)),
/// solved by bisection (the right side grows with G). A sample with (nearly) every row a new
/// group says the groups grow with the rows: `total`. Never above `total` (the rows the
/// sample was drawn from; infinity when unknown). 0 for an empty sample.
double GroupsFromSample(double distinct, double sampled, double total);

}  // namespace dux
