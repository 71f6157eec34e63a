#include "dux/s3_filesystem/read_bytes.h"

#include <charconv>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "duckdb.hpp"
#include "duckdb/logging/log_manager.hpp"
#include "duckdb/logging/log_storage.hpp"
#include "duckdb/main/capi/capi_internal.hpp"
#include "duckdb/main/client_context.hpp"
#include "read_bytes_internal.h"

namespace dux::s3_filesystem {
namespace {

constexpr const char* kStorageName = "dux_bytes_read";
constexpr const char* kLogType = "FileSystem";

/// The value of `"name":"digits"` in DuckDB's FileSystem log message, e.g.
/// {"fs":"LocalFileSystem","path":"/d/a.parquet","op":"READ","bytes":"4438","pos":"25146923"}
/// (FileSystemLogType). Nothing when absent or not a number.
std::optional<uint64_t> QuotedNumber(std::string_view message, std::string_view name) {
  const std::string key = "\"" + std::string(name) + "\":\"";
  size_t at = message.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  const char* begin = message.data() + at + key.size();
  const char* end = message.data() + message.size();
  uint64_t value = 0;
  auto [next, error] = std::from_chars(begin, end, value);
  if (error != std::errc() || next == end || *next != '"') return std::nullopt;
  return value;
}

/// A log storage that keeps, per connection, the sum of the bytes of the FileSystem log's
/// READ entries, and drops every other entry. DuckDB calls it from any of its threads.
class BytesReadStorage : public duckdb::LogStorage {
 public:
  const std::string GetStorageName() override { return kStorageName; }

  void WriteLogEntry(duckdb::timestamp_t, duckdb::LogLevel, const std::string& log_type,
                     const std::string& log_message,
                     const duckdb::RegisteredLoggingContext& context) override {
    Add(log_type, log_message, context);
  }

  // The entries a thread's logger kept and hands over together (DuckDB's ThreadLocalLogger),
  // one row each, laid out as LoggingTargetTable::LOG_ENTRIES.
  void WriteLogEntries(duckdb::DataChunk& chunk,
                       const duckdb::RegisteredLoggingContext& context) override {
    const auto [type_column, message_column] = EntryColumns();
    for (duckdb::idx_t row = 0; row < chunk.size(); ++row) {
      duckdb::Value type = chunk.GetValue(type_column, row);
      duckdb::Value message = chunk.GetValue(message_column, row);
      if (type.IsNull() || message.IsNull()) continue;
      Add(type.ToString(), message.ToString(), context);
    }
  }

  void FlushAll() override {}
  void Flush(duckdb::LoggingTargetTable) override {}
  bool IsEnabled(duckdb::LoggingTargetTable) override { return true; }

  // Adds a READ entry of the FileSystem log to its connection's sum.
  void Add(const std::string& log_type, const std::string& log_message,
           const duckdb::RegisteredLoggingContext& context) {
    if (log_type != kLogType || !context.context.connection_id.IsValid()) return;
    if (log_message.find("\"op\":\"READ\"") == std::string::npos) return;
    std::optional<uint64_t> bytes = QuotedNumber(log_message, "bytes");
    if (bytes) Add(context.context.connection_id.GetIndex(), *bytes);
  }

  void Add(uint64_t connection_id, uint64_t bytes) {
    std::lock_guard lock(mu_);
    bytes_[connection_id] += bytes;
  }

  // The positions of the columns "type" and "message" in a chunk of log entries.
  static std::pair<duckdb::idx_t, duckdb::idx_t> EntryColumns() {
    static const std::pair<duckdb::idx_t, duckdb::idx_t> kColumns = [] {
      auto names = duckdb::LogStorage::GetColumnNames(duckdb::LoggingTargetTable::LOG_ENTRIES);
      std::pair<duckdb::idx_t, duckdb::idx_t> found{0, 0};
      for (duckdb::idx_t i = 0; i < names.size(); ++i) {
        if (names[i] == "type") found.first = i;
        if (names[i] == "message") found.second = i;
      }
      return found;
    }();
    return kColumns;
  }

  uint64_t Take(uint64_t connection_id) {
    std::lock_guard lock(mu_);
    auto it = bytes_.find(connection_id);
    if (it == bytes_.end()) return 0;
    uint64_t bytes = it->second;
    bytes_.erase(it);  // connections come and go: a taken count leaves no entry behind
    return bytes;
  }

 private:
  std::mutex mu_;
  std::unordered_map<uint64_t, uint64_t> bytes_;
};

}  // namespace

std::function<void(uint64_t)> BytesReadCounter(duckdb::optional_ptr<duckdb::FileOpener> opener) {
  duckdb::optional_ptr<duckdb::ClientContext> context =
      duckdb::FileOpener::TryGetClientContext(opener);
  if (!context) return {};
  duckdb::shared_ptr<duckdb::LogStorage> storage =
      duckdb::LogManager::Get(*context).GetLogStorage();
  if (dynamic_cast<BytesReadStorage*>(storage.get()) == nullptr) return {};
  return [storage, connection = context->GetConnectionId()](uint64_t bytes) {
    static_cast<BytesReadStorage&>(*storage).Add(connection, bytes);
  };
}

Status CountBytesRead(duckdb_database db) {
  if (db == nullptr) return Status::InvalidArgument("bytes read: no database");
  try {
    duckdb::DatabaseInstance& instance =
        *reinterpret_cast<duckdb::DatabaseWrapper*>(db)->database->instance;
    duckdb::LogManager& logs = instance.GetLogManager();
    duckdb::shared_ptr<duckdb::LogStorage> storage = duckdb::make_shared_ptr<BytesReadStorage>();
    if (!logs.RegisterLogStorage(kStorageName, storage)) {
      return Status(StatusCode::kAlreadyExists, "bytes read: already counted in this database");
    }
    logs.SetLogStorage(instance, kStorageName);
    std::unordered_set<std::string> types{kLogType};
    logs.SetEnabledLogTypes(types);
    logs.SetLogMode(duckdb::LogMode::ENABLE_SELECTED);
    logs.SetLogLevel(duckdb::LogLevel::LOG_TRACE);
    logs.SetEnableLogging(true);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("bytes read: cannot set up DuckDB's log: ") + e.what());
  }
  return Status::OK();
}

uint64_t TakeBytesRead(duckdb_connection connection) {
  if (connection == nullptr) return 0;
  auto& context = *reinterpret_cast<duckdb::Connection*>(connection)->context;
  duckdb::shared_ptr<duckdb::LogStorage> storage =
      duckdb::DatabaseInstance::GetDatabase(context).GetLogManager().GetLogStorage();
  auto* counted = dynamic_cast<BytesReadStorage*>(storage.get());
  return counted == nullptr ? 0 : counted->Take(context.GetConnectionId());
}

}  // namespace dux::s3_filesystem
