// The version of dux this binary was built from, as workers report it (Info) and the
// registry's status page shows it.
#pragma once

namespace dux {

/// The project version of the build (CMakeLists.txt `project(... VERSION ...)`), e.g. "0.1.0".
const char* DuxVersion();

}  // namespace dux
