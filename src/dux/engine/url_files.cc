#include "dux/engine/url_files.h"

#include "dux/s3_filesystem/database_files.h"

namespace dux::engine {

namespace {

class UrlInput final : public arrow_ipc::RandomAccessInput {
 public:
  explicit UrlInput(std::unique_ptr<s3_filesystem::DatabaseFile> file) : file_(std::move(file)) {}
  Result<size_t> Read(void* data, size_t size) override { return file_->Read(data, size); }
  Result<int64_t> Size() override { return file_->Size(); }
  Status Seek(int64_t position) override { return file_->Seek(position); }

 private:
  std::unique_ptr<s3_filesystem::DatabaseFile> file_;
};

class UrlOutput final : public exec::UrlOutputStream {
 public:
  explicit UrlOutput(std::unique_ptr<s3_filesystem::DatabaseFile> file) : file_(std::move(file)) {}
  Status Write(const void* data, size_t size) override { return file_->Write(data, size); }
  Status Close() override { return file_->Close(); }

 private:
  std::unique_ptr<s3_filesystem::DatabaseFile> file_;
};

class DatabaseUrlFiles final : public exec::UrlFiles {
 public:
  explicit DatabaseUrlFiles(duckdb_database db) : db_(db) {}

  Result<std::vector<std::string>> ListBelow(const std::string& directory) const override {
    return s3_filesystem::GlobFiles(db_, directory + "/**");
  }
  Status Remove(const std::string& url) const override {
    return s3_filesystem::RemoveFile(db_, url);
  }
  Result<std::unique_ptr<arrow_ipc::RandomAccessInput>> OpenForReading(
      const std::string& url) const override {
    DUX_ASSIGN_OR_RETURN(auto file, s3_filesystem::DatabaseFile::OpenForReading(db_, url));
    return std::unique_ptr<arrow_ipc::RandomAccessInput>(new UrlInput(std::move(file)));
  }
  Result<std::unique_ptr<exec::UrlOutputStream>> OpenForWriting(
      const std::string& url) const override {
    DUX_ASSIGN_OR_RETURN(auto file, s3_filesystem::DatabaseFile::OpenForWriting(db_, url));
    return std::unique_ptr<exec::UrlOutputStream>(new UrlOutput(std::move(file)));
  }

 private:
  duckdb_database db_;
};

}  // namespace

std::shared_ptr<const exec::UrlFiles> MakeUrlFiles(duckdb_database db) {
  return std::make_shared<DatabaseUrlFiles>(db);
}

}  // namespace dux::engine
