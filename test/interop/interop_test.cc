// Interoperability of dux's Arrow IPC with an independent implementation, apache-arrow for
// JavaScript (pinned in scripts/setup.sh), run by the machine's node. Both directions:
//  - dux writes (CLI `--format arrow`, `to_arrow` as stream and as file; uncompressed, LZ4,
//    ZSTD) and JS reads; every cell JS decodes from the raw buffers must equal what DuckDB
//    renders from the source values (canonical.mjs defines the form), nulls included;
//  - JS writes (streams and files, every compression) and dux reads with `from_arrow`; every
//    cell DuckDB renders must equal what JS wrote, and every column has the expected type.
// apache-arrow ships no compression codec; arrow_interop.mjs registers plain-JS ones
// (lz4_frame.mjs: full LZ4 frame; zstd_frame.mjs: raw/RLE blocks only, so JS cannot decode
// libzstd's output and dux's ZSTD output is checked by dux reading it back instead).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "subprocess.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* const kPinnedVersion = "21.1.0";

using Outcome = dux::test::ProcessOutcome;
using dux::test::ReadFile;
using dux::test::WriteFile;

/// `which node`, or "" when there is none.
std::string FindNode() {
  FILE* pipe = popen("which node 2>/dev/null", "r");
  if (pipe == nullptr) return "";
  std::string path;
  char buffer[4096];
  while (fgets(buffer, sizeof buffer, pipe) != nullptr) path += buffer;
  pclose(pipe);
  while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
  return path;
}

/// A string literal of the pipeline language.
std::string PipelineString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

/// Canonical cells are equal: the same JSON, except that "f:<number>" leaves are compared as
/// doubles, bit for bit (NaN equals NaN, -0.0 differs from 0.0).
bool SameCanonical(const json& a, const json& b) {
  if (a.is_string() && b.is_string()) {
    const auto& x = a.get_ref<const std::string&>();
    const auto& y = b.get_ref<const std::string&>();
    if (x.rfind("f:", 0) == 0 && y.rfind("f:", 0) == 0) {
      char* end_x = nullptr;
      char* end_y = nullptr;
      double dx = strtod(x.c_str() + 2, &end_x), dy = strtod(y.c_str() + 2, &end_y);
      if (*end_x != '\0' || *end_y != '\0') return false;
      if (std::isnan(dx) || std::isnan(dy)) return std::isnan(dx) && std::isnan(dy);
      return std::bit_cast<uint64_t>(dx) == std::bit_cast<uint64_t>(dy);
    }
    return x == y;
  }
  if (a.is_array() && b.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!SameCanonical(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_object() && b.is_object()) {
    if (a.size() != b.size()) return false;
    for (const auto& [key, value] : a.items()) {
      if (!b.contains(key) || !SameCanonical(value, b[key])) return false;
    }
    return true;
  }
  return a == b;
}

/// Canonical rows keyed by the canonical `_row` cell.
using Rows = std::map<std::string, std::vector<json>>;

class InteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = FindNode();
    ASSERT_FALSE(node_.empty())
        << "`which node` found no node: the interop test needs Node.js (scripts/setup.sh)";
    const fs::path package = fs::path(DUX_ARROW_JS_NODE_MODULES) / "apache-arrow/package.json";
    ASSERT_TRUE(fs::exists(package))
        << "apache-arrow is not installed in " << DUX_ARROW_JS_NODE_MODULES
        << ": run scripts/setup.sh (it installs apache-arrow@" << kPinnedVersion << ")";
    ASSERT_EQ(json::parse(ReadFile(package)).value("version", ""), kPinnedVersion)
        << "wrong apache-arrow in " << DUX_ARROW_JS_NODE_MODULES;
    std::string tmpl = (fs::temp_directory_path() / "dux-interop-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  /// Runs argv[0] with stdout and stderr in files (so that no pipe fills up and blocks).
  Outcome Run(const std::vector<std::string>& args) {
    dux::test::ProcessOptions options;
    options.environment = {{"ARROW_JS_NODE_MODULES", DUX_ARROW_JS_NODE_MODULES}};
    Outcome o = dux::test::RunProcess(args, dir_, options);
    if (o.exit_code == 127) ADD_FAILURE() << "could not run " << args[0];
    return o;
  }

  /// `dux run -f <pipeline> extra...`; unless `may_fail`, a failure is a test failure.
  Outcome Dux(const std::string& pipeline, const std::vector<std::string>& extra = {},
              bool may_fail = false) {
    const fs::path file = dir_ / "pipeline.dux";
    WriteFile(file, pipeline);
    std::vector<std::string> args = {DUX_BINARY, "run", "-f", file.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    Outcome o = Run(args);
    if (!may_fail) {
      EXPECT_EQ(o.exit_code, 0) << "dux failed on:\n" << pipeline << "\n" << o.err;
    }
    return o;
  }

  /// `node arrow_interop.mjs args...`, its stdout parsed as JSON.
  json Node(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {node_, DUX_INTEROP_SCRIPT};
    argv.insert(argv.end(), args.begin(), args.end());
    Outcome o = Run(argv);
    EXPECT_EQ(o.exit_code, 0) << "node arrow_interop.mjs failed:\n" << o.err;
    if (o.exit_code != 0) return json();
    return json::parse(o.out);
  }

  /// `source` rendered in canonical form by DuckDB (through dux), using the SQL that
  /// arrow_interop.mjs derived from each Arrow field; `types` receives typeof() per column.
  /// All cells go into one list so that the pipeline is one `mutate` step, not one per column.
  /// With `outcome`, dux may fail (the outcome tells) and the rows are then empty.
  Rows DuckDbCanonical(const std::string& source, const json& fields,
                       std::map<std::string, std::string>* types = nullptr,
                       Outcome* outcome = nullptr) {
    std::string values, type_names;
    for (size_t i = 0; i < fields.size(); ++i) {
      const std::string name = fields[i]["name"];
      values += (i ? ", " : "") + fields[i]["sql"].get<std::string>();
      type_names += (i ? ", typeof(\"" : "typeof(\"") + name + "\")";
    }
    Outcome o = Dux(source + "\n|> mutate(__v: [" + values + "], __t: [" + type_names +
                        "])\n|> select(__v, __t)",
                    {"--format", "json"}, outcome != nullptr);
    if (outcome != nullptr) *outcome = o;
    Rows rows;
    if (o.exit_code != 0) return rows;
    const size_t row_column = RowColumn(fields);
    for (const json& row : json::parse(o.out)) {
      std::vector<json> cells;
      for (size_t i = 0; i < fields.size(); ++i) {
        const json& text = row["__v"][i];
        cells.push_back(text.is_null() ? json() : json::parse(text.get<std::string>()));
        if (types != nullptr) (*types)[fields[i]["name"]] = row["__t"][i];
      }
      rows[cells[row_column].get<std::string>()] = cells;
    }
    return rows;
  }

  static size_t RowColumn(const json& fields) {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i]["name"] == "_row") return i;
    }
    ADD_FAILURE() << "no _row column";
    return 0;
  }

  static Rows KeyRows(const json& fields, const json& rows) {
    const size_t row_column = RowColumn(fields);
    Rows keyed;
    for (const json& row : rows) {
      keyed[row[row_column].get<std::string>()] = row.get<std::vector<json>>();
    }
    return keyed;
  }

  /// Every cell of `actual` equals the one in `expected`; failures name the cell.
  static void ExpectSameRows(const std::string& what, const json& fields, const Rows& expected,
                             const Rows& actual) {
    EXPECT_EQ(actual.size(), expected.size()) << what << ": row count";
    int failures = 0;
    for (const auto& [key, cells] : expected) {
      auto it = actual.find(key);
      if (it == actual.end()) {
        ADD_FAILURE() << what << ": row _row=" << key << " is missing";
        continue;
      }
      for (size_t i = 0; i < cells.size() && failures < 20; ++i) {
        if (!SameCanonical(cells[i], it->second[i])) {
          ++failures;
          ADD_FAILURE() << what << ": column " << fields[i]["name"] << " ("
                        << fields[i]["type"].get<std::string>() << "), _row=" << key
                        << "\n  expected: " << cells[i].dump()
                        << "\n  actual:   " << it->second[i].dump();
        }
      }
    }
  }

  std::string node_;
  fs::path dir_;
};

// --- dux writes, apache-arrow reads ------------------------------------------------------

struct DuxCase {
  const char* name;
  const char* sql;  ///< has an INTEGER-like `_row` column that identifies each row
};

const DuxCase kDuxCases[] = {
    {"all_types", "SELECT (row_number() OVER ()) - 1 AS _row, * FROM test_all_types()"},
    {"zero_rows", "SELECT (row_number() OVER ()) - 1 AS _row, * FROM test_all_types() LIMIT 0"},
    {"nested",
     "SELECT * FROM (VALUES "
     "(0, [{'x': [[1, NULL], []], 'y': MAP {'k': [1.5, NULL]}}], "
     " {'s': {'l': ['a', NULL, '']}}, union_value(i := 7)::UNION(i INTEGER, s VARCHAR), "
     " 'ü🦆'::ENUM('ü🦆', '', 'z')), "
     "(1, [], {'s': NULL}, union_value(s := '')::UNION(i INTEGER, s VARCHAR), ''), "
     "(2, NULL, NULL, NULL, NULL), "
     "(3, [NULL, {'x': NULL, 'y': MAP {}}], {'s': {'l': NULL}}, "
     " union_value(s := NULL)::UNION(i INTEGER, s VARCHAR), 'z')"
     ") AS t(_row, deep, deep_struct, u, e)"},
    {"many_batches",
     "SELECT range::INTEGER AS _row, CASE WHEN range % 7 = 0 THEN NULL ELSE 'v' || range END AS s, "
     "CAST(CASE range % 3 WHEN 0 THEN 'x' WHEN 1 THEN 'y' END AS ENUM('x', 'y')) AS e, "
     "range * 1.5 AS d, [range, NULL] AS l FROM range(5000)"},
};

/// The Arrow type (and extension, or DuckDB's opaque type name) JS sees for every column of
/// test_all_types() as dux writes it by default: the standard types a consumer expects
/// (BOOLEAN as Bool, not as Int8). Types with no standard match stay DuckDB's opaque ones.
const std::map<std::string, std::string> kAllTypesStandard = {
    {"_row", "Int64"},
    {"bool", "Bool"},
    {"tinyint", "Int8"},
    {"smallint", "Int16"},
    {"int", "Int32"},
    {"bigint", "Int64"},
    {"hugeint", "Decimal[38e0]"},
    {"uhugeint", "FixedSizeBinary[16] uhugeint"},
    {"utinyint", "Uint8"},
    {"usmallint", "Uint16"},
    {"uint", "Uint32"},
    {"ubigint", "Uint64"},
    {"bignum", "Binary bignum"},
    {"date", "Date32<DAY>"},
    {"time", "Time64<MICROSECOND>"},
    {"timestamp", "Timestamp<MICROSECOND>"},
    {"timestamp_s", "Timestamp<SECOND>"},
    {"timestamp_ms", "Timestamp<MILLISECOND>"},
    {"timestamp_ns", "Timestamp<NANOSECOND>"},
    {"time_tz", "Time64<MICROSECOND>"},
    {"timestamp_tz", "Timestamp<MICROSECOND, Etc/UTC>"},
    {"float", "Float32"},
    {"double", "Float64"},
    {"dec_4_1", "Decimal[4e+1]"},
    {"dec_9_4", "Decimal[9e+4]"},
    {"dec_18_6", "Decimal[18e+6]"},
    {"dec38_10", "Decimal[38e+10]"},
    {"uuid", "Utf8"},
    {"interval", "Interval<MONTH_DAY_NANO>"},
    {"varchar", "Utf8"},
    {"blob", "Binary"},
    {"bit", "Binary"},
    {"small_enum", "Dictionary<Uint8, Utf8>"},
    {"medium_enum", "Dictionary<Uint16, Utf8>"},
    {"large_enum", "Dictionary<Uint8, Utf8>"},  // ENUM('enum_0', 'enum_69999')
    {"int_array", "List<Int32>"},
    {"double_array", "List<Float64>"},
    {"date_array", "List<Date32<DAY>>"},
    {"timestamp_array", "List<Timestamp<MICROSECOND>>"},
    {"timestamptz_array", "List<Timestamp<MICROSECOND, Etc/UTC>>"},
    {"varchar_array", "List<Utf8>"},
    {"nested_int_array", "List<List<Int32>>"},
    {"struct", "Struct<{a:Int32, b:Utf8}>"},
    {"struct_of_arrays", "Struct<{a:List<Int32>, b:List<Utf8>}>"},
    {"array_of_structs", "List<Struct<{a:Int32, b:Utf8}>>"},
    {"map", "Map<{key:Utf8, value:Utf8}>"},
    {"union", "Union<Utf8 | Int16>"},
    {"fixed_int_array", "FixedSizeList[3]<Int32>"},
    {"fixed_varchar_array", "FixedSizeList[3]<Utf8>"},
    {"fixed_nested_int_array", "FixedSizeList[3]<FixedSizeList[3]<Int32>>"},
    {"fixed_nested_varchar_array", "FixedSizeList[3]<FixedSizeList[3]<Utf8>>"},
    {"fixed_struct_array", "FixedSizeList[3]<Struct<{a:Int32, b:Utf8}>>"},
    {"struct_of_fixed_array", "Struct<{a:FixedSizeList[3]<Int32>, b:FixedSizeList[3]<Utf8>}>"},
    {"fixed_array_of_int_list", "FixedSizeList[3]<List<Int32>>"},
    {"list_of_fixed_int_array", "List<FixedSizeList[3]<Int32>>"},
};

/// With --arrow-lossless (to_arrow's `lossless: true`): DuckDB's lossless types, where they
/// differ from the standard ones.
const std::map<std::string, std::string> kAllTypesLosslessOnly = {
    {"bool", "Int8 arrow.bool8"},
    {"hugeint", "FixedSizeBinary[16] hugeint"},
    {"time_tz", "FixedSizeBinary[8] time_tz"},
    {"uuid", "FixedSizeBinary[16] arrow.uuid"},
    {"bit", "Binary bit"},
};

/// The canonical form (upper-case hex) of DuckDB's stored bytes of the BIT column "bit".
const char* const kBitAsStoredSql =
    "CAST(to_json(CASE WHEN \"bit\" IS NULL THEN NULL ELSE printf('%02X', (8 - length(\"bit\") "
    "% 8) % 8) || array_to_string(list_transform(range(0, ((8 - length(\"bit\") % 8) % 8 + "
    "length(\"bit\")) // 8), i -> printf('%02X', list_sum(list_transform(range(8), k -> "
    "CAST(substr(repeat('1', (8 - length(\"bit\") % 8) % 8) || CAST(\"bit\" AS VARCHAR), i * "
    "8 + k + 1, 1) AS INTEGER) << (7 - k))))), '') END) AS VARCHAR)";

std::string ArrowTypeOf(const json& field) {
  std::string type = field["type"];
  if (!field["opaque"].is_null()) return type + " " + field["opaque"].get<std::string>();
  if (!field["extension"].is_null()) return type + " " + field["extension"].get<std::string>();
  return type;
}

class JsReadsDux : public InteropTest, public ::testing::WithParamInterface<DuxCase> {
 protected:
  void CheckJsReads(const DuxCase& c, bool lossless);
};

/// Writes `c` every way dux writes Arrow (CLI and to_arrow, stream and file, each
/// compression), with the standard types or `lossless` ones; apache-arrow must read the
/// expected Arrow types and every cell as DuckDB renders the source value.
void JsReadsDux::CheckJsReads(const DuxCase& c, bool lossless) {
  const std::string mode = lossless ? "lossless_" : "standard_";
  const std::string source = "from_query(" + PipelineString(c.sql) + ")";
  struct Written {
    std::string label;
    fs::path path;
    bool js_can_decode;  // false for ZSTD: zstd_frame.mjs decodes raw/RLE blocks only
  };
  std::vector<Written> written;
  for (std::string compression : {"none", "lz4", "zstd"}) {
    const bool js = compression != "zstd";
    const fs::path cli = dir_ / (mode + "cli_stream_" + compression + ".arrow");
    std::vector<std::string> args = {"--format", "arrow", "-o", cli.string()};
    if (lossless) args.push_back("--arrow-lossless");
    if (compression != "none") args.insert(args.end(), {"--arrow-compression", compression});
    Dux(source, args);
    written.push_back({"dux run --format arrow, " + compression, cli, js});
    for (std::string format : {"stream", "file"}) {
      const fs::path sink = dir_ / (mode + "sink_" + format + "_" + compression + ".arrow");
      std::string options = "format: \"" + format + "\"";
      if (lossless) options += ", lossless: true";
      if (compression != "none") options += ", compression: \"" + compression + "\"";
      Dux(source + " |> to_arrow(" + PipelineString(sink.string()) + ", " + options + ")");
      written.push_back({"to_arrow " + format + ", " + compression, sink, js});
    }
  }
  // Distributed, the coordinator reads the workers' lossless batches and writes the user's.
  const fs::path distributed = dir_ / (mode + "cli_distributed.arrow");
  std::vector<std::string> on_workers = {"--local-workers", "2",  "--format",
                                         "arrow",           "-o", distributed.string()};
  if (lossless) on_workers.push_back("--arrow-lossless");
  Dux(source, on_workers);
  written.push_back({"dux run --local-workers 2 --format arrow", distributed, true});
  if (HasFailure()) return;

  std::vector<std::string> js_files;
  for (const auto& w : written) {
    if (w.js_can_decode) js_files.push_back(w.path.string());
  }
  std::vector<std::string> args = {"canon"};
  args.insert(args.end(), js_files.begin(), js_files.end());
  const json decoded = Node(args);
  ASSERT_EQ(decoded.size(), js_files.size());
  const json& fields = decoded[0]["fields"];

  if (std::string(c.name) == "all_types" || std::string(c.name) == "zero_rows") {
    std::map<std::string, std::string> types = kAllTypesStandard;
    if (lossless) {
      for (const auto& [column, type] : kAllTypesLosslessOnly) types[column] = type;
    }
    ASSERT_EQ(fields.size(), types.size());
    for (const json& f : fields) {
      auto it = types.find(f["name"]);
      ASSERT_NE(it, types.end()) << f["name"];
      EXPECT_EQ(ArrowTypeOf(f), it->second) << "Arrow type of column " << f["name"];
    }
  }

  // What the values are: DuckDB renders the source query in canonical form. With the standard
  // types a BIT column is plain Binary holding DuckDB's stored bytes (a padding count, then
  // the bits with the padding set to 1), which the Binary rendering (hex of a BLOB) cannot
  // produce from a BIT: its expected form is spelled out.
  json source_fields = fields;
  for (json& f : source_fields) {
    if (!lossless && f["name"] == "bit") f["sql"] = kBitAsStoredSql;
  }
  const Rows expected = DuckDbCanonical(source, source_fields);
  if (std::string(c.name) != "zero_rows") {
    ASSERT_FALSE(expected.empty());
  }
  if (std::string(c.name) == "many_batches") {
    EXPECT_GT(decoded[0]["batches"], 1);
  }

  for (size_t f = 0; f < js_files.size(); ++f) {
    const json& file = decoded[f];
    const std::string what = "apache-arrow reading " + file["file"].get<std::string>();
    ASSERT_EQ(file["fields"], fields) << what << ": other schema than " << js_files[0];
    ExpectSameRows(what, fields, expected, KeyRows(fields, file["rows"]));
  }
  // ZSTD (and, for good measure, the others): dux reads back what it wrote. Only the lossless
  // types come back exactly: the standard ones are for other readers (a HUGEINT beyond 38
  // digits does not fit the Decimal(38, 0) it travels as, a BIT comes back as BLOB).
  if (!lossless) return;
  for (const auto& w : written) {
    ExpectSameRows("dux reading back " + w.label, fields, expected,
                   DuckDbCanonical("from_arrow(" + PipelineString(w.path.string()) + ")", fields));
  }
}

TEST_P(JsReadsDux, EveryCellEqualsDuckDb) {
  const DuxCase& c = GetParam();
  for (bool lossless : {false, true}) {
    SCOPED_TRACE(lossless ? "lossless" : "standard types");
    CheckJsReads(c, lossless);
    if (HasFatalFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(Interop, JsReadsDux, ::testing::ValuesIn(kDuxCases),
                         [](const auto& info) { return std::string(info.param.name); });

// --- apache-arrow writes, dux reads --------------------------------------------------------

/// The tables arrow_interop.mjs writes (checked against its own list below).
const char* const kJsTables[] = {
    "ints",        "floats",       "float16",    "strings",      "uuid",        "decimals",
    "decimal32",   "decimal64",    "decimal256", "temporal",     "intervals",   "interval_day_time",
    "nested",      "dictionaries", "null_type",  "sparse_union", "dense_union", "empty",
    "multi_batch",
};

TEST_F(InteropTest, EveryJsTableIsTested) {
  json names = Node({"tables"});
  EXPECT_EQ(names, json(std::vector<std::string>(std::begin(kJsTables), std::end(kJsTables))));
}

class DuxReadsJs : public InteropTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(DuxReadsJs, EveryCellEqualsWhatJsWrote) {
  const json manifest = Node({"write", (dir_ / "js").string(), GetParam()});
  ASSERT_EQ(manifest.size(), 1u);
  const json& table = manifest[0];
  const json& fields = table["fields"];
  const Rows expected = KeyRows(fields, table["rows"]);
  ASSERT_EQ(table["files"].size(), 6u);
  if (!table["known_issue"].is_null()) {
    // Pinned: dux refuses cleanly (one "dux: " line) or reads other values. Once the values
    // come through equal, the issue is fixed and this table becomes an ordinary check.
    const std::string issue = table["known_issue"];
    for (const json& file : table["files"]) {
      const std::string path = file["path"];
      Outcome o;
      const Rows actual =
          DuckDbCanonical("from_arrow(" + PipelineString(path) + ")", fields, nullptr, &o);
      if (o.exit_code != 0) {
        EXPECT_EQ(o.exit_code, 1) << path << ": " << o.err;
        EXPECT_EQ(o.err.rfind("dux: from_arrow: cannot read", 0), 0u) << path << ": " << o.err;
        EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
        continue;
      }
      bool same = actual.size() == expected.size();
      for (const auto& [key, cells] : expected) {
        auto it = actual.find(key);
        for (size_t i = 0; same && i < cells.size(); ++i) {
          same = it != actual.end() && SameCanonical(cells[i], it->second[i]);
        }
      }
      EXPECT_FALSE(same) << "known issue fixed? \"" << issue << "\": dux now reads " << path
                         << " exactly; remove known_issue from the table in arrow_interop.mjs";
    }
    return;
  }
  for (const json& file : table["files"]) {
    const std::string path = file["path"];
    const std::string what = "dux reading " + fs::path(path).filename().string();
    std::map<std::string, std::string> types;
    const Rows actual = DuckDbCanonical("from_arrow(" + PipelineString(path) + ")", fields, &types);
    ExpectSameRows(what, fields, expected, actual);
    if (expected.empty()) continue;
    for (size_t i = 0; i < fields.size(); ++i) {
      EXPECT_EQ(types[fields[i]["name"]], table["duck"][i])
          << what << ": DuckDB type of column " << fields[i]["name"] << " ("
          << fields[i]["type"].get<std::string>() << ")";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Interop, DuxReadsJs, ::testing::ValuesIn(kJsTables),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
