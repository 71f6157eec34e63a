// The query that samples a pipeline's first rows to count their groups: the planner's estimate
// of a group-by's size and a worker's choice of partial aggregation both read it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dux::sql {

// `SELECT count(DISTINCT hash(keys)), count(*)` over the first `rows` rows of `rows_sql`, both
// cast to VARCHAR (one row of two texts).
std::string CountGroupsOfFirstRows(const std::vector<std::string>& keys,
                                   const std::string& rows_sql, int64_t rows);

}  // namespace dux::sql
