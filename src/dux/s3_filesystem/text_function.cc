#include "dux/s3_filesystem/text_function.h"

#include <exception>
#include <memory>
#include <utility>

#include "client_context_internal.h"
#include "duckdb/catalog/catalog.hpp"
#include "duckdb/catalog/catalog_entry/scalar_function_catalog_entry.hpp"
#include "duckdb/common/error_data.hpp"
#include "duckdb/execution/expression_executor.hpp"
#include "duckdb/function/function_binder.hpp"
#include "duckdb/planner/expression/bound_reference_expression.hpp"

namespace dux::s3_filesystem {

Result<std::optional<std::string>> CallTextFunction(duckdb_connection connection,
                                                    const std::string& function,
                                                    const std::string& argument) {
  ClientContextOf context(connection);
  if (!context) return Status::InvalidArgument("CallTextFunction: no connection");
  std::optional<std::string> value;
  try {
    duckdb::ClientContext& client = context.get();
    client.RunFunctionInTransaction([&] {
      auto& entry = duckdb::Catalog::GetEntry<duckdb::ScalarFunctionCatalogEntry>(
          client, SYSTEM_CATALOG, DEFAULT_SCHEMA, function);
      duckdb::vector<duckdb::unique_ptr<duckdb::Expression>> children;
      children.push_back(
          duckdb::make_uniq<duckdb::BoundReferenceExpression>(duckdb::LogicalType::VARCHAR, 0));
      duckdb::ErrorData error;
      duckdb::FunctionBinder binder(client);
      auto call = binder.BindScalarFunction(entry, std::move(children), error);
      if (!call) error.Throw();  // reported below, as the statement's binder error would be
      duckdb::DataChunk input;
      input.Initialize(duckdb::Allocator::DefaultAllocator(), {duckdb::LogicalType::VARCHAR});
      input.SetValue(0, 0, duckdb::Value(argument));
      input.SetCardinality(1);
      duckdb::Vector output(call->return_type);
      duckdb::ExpressionExecutor executor(client, *call);
      executor.ExecuteExpression(input, output);
      duckdb::Value result = output.GetValue(0);
      if (!result.IsNull()) value = result.ToString();
    });
  } catch (const std::exception& e) {
    // As the statement's error would read: DuckDB's message, its first line.
    std::string message = duckdb::ErrorData(e).Message();
    return Status::InvalidArgument(message.substr(0, message.find('\n')));
  }
  return value;
}

}  // namespace dux::s3_filesystem
