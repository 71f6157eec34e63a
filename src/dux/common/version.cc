#include "dux/common/version.h"

namespace dux {

const char* DuxVersion() { return DUX_VERSION; }

}  // namespace dux
