#include "dux/s3_filesystem/local_setting.h"

#include <cstring>
#include <exception>

#include "client_context_internal.h"
#include "duckdb/common/error_data.hpp"
#include "duckdb/main/config.hpp"

namespace dux::s3_filesystem {

Status SetLocalBoolean(duckdb_connection connection, const std::string& name, bool value) {
  ClientContextOf context(connection);
  if (!context) return Status::InvalidArgument("SetLocalBoolean: no connection");
  auto option = duckdb::DBConfig::GetOptionByName(name);
  if (!option || option->set_local == nullptr || option->parameter_type == nullptr ||
      std::strcmp(option->parameter_type, "BOOLEAN") != 0) {
    return Status::InvalidArgument("not a connection's boolean setting: " + name);
  }
  try {
    // What SET runs for an option with a local setter (PhysicalSet), the value already cast.
    option->set_local(context.get(), duckdb::Value::BOOLEAN(value));
  } catch (const std::exception& e) {
    std::string message = duckdb::ErrorData(e).Message();
    return Status::InvalidArgument(message.substr(0, message.find('\n')));
  }
  return Status::OK();
}

}  // namespace dux::s3_filesystem
