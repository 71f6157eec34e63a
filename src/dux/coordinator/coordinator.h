// The coordinator (docs/architecture.md section 4): plans a pipeline for the workers
// (planner.h) and runs the plan on them, gathering their rows (runner.h). Includes both; a
// file that uses one part includes that part's header.
#pragma once

#include "dux/coordinator/planner.h"
#include "dux/coordinator/runner.h"
