// For the coordinator's tests that plan over real files: an embedded DuckDB with one
// connection, and a temporary directory removed after each test.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "dux/exec/duckdb_connection.h"

namespace dux::coordinator {

class DatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = exec::Database::Open();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    auto con = exec::Connection::Open(db_);
    ASSERT_TRUE(con.ok());
    con_ = std::make_unique<exec::Connection>(std::move(con).value());
    std::string tmpl = (std::filesystem::temp_directory_path() / "dux-coordinator-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  /// Runs `sql` on the connection; a failure fails the test.
  void Sql(const std::string& sql) {
    auto done = con_->Execute(sql);
    ASSERT_TRUE(done.ok()) << done.status().ToString() << "\n" << sql;
  }

  exec::Database db_;
  std::unique_ptr<exec::Connection> con_;
  std::filesystem::path dir_;
};

}  // namespace dux::coordinator
