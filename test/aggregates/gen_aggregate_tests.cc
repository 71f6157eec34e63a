// Build-time generator of the aggregate catalogue test (issue 17): reads every aggregate
// overload from duckdb_functions() of the very library dux links, checks that
// test/aggregates/catalogue.tsv classifies each one (and nothing else), and writes e2e test
// files that run every overload, with FILTER, DISTINCT and ORDER BY where DuckDB accepts
// them, grouped and ungrouped, over files of very different sizes, a file holding one group,
// a group of NULLs and an empty file. The e2e runner runs them locally and on 1, 2 and 3
// workers against DuckDB as the oracle, and checks that the distributed plan decomposes the
// overloads classified `decomposed` and no other.
//
// A DuckDB with an aggregate overload the catalogue does not list fails the build here,
// until someone decides how dux distributes it.
//
// usage: gen_aggregate_tests CATALOGUE.tsv OUT_DIR SHARDS
#include <duckdb.h>
#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

// ---- DuckDB, through its C API ----

struct Db {
  duckdb_database db = nullptr;
  duckdb_connection con = nullptr;
  Db() {
    if (duckdb_open(nullptr, &db) == DuckDBError || duckdb_connect(db, &con) == DuckDBError) {
      std::fprintf(stderr, "gen_aggregate_tests: cannot open DuckDB\n");
      std::exit(1);
    }
  }
  ~Db() {
    duckdb_disconnect(&con);
    duckdb_close(&db);
  }
  // The rows of `sql` (VARCHAR columns only, NULL as ""), or the error.
  bool Query(const std::string& sql, std::vector<std::vector<std::string>>* rows,
             std::string* error) {
    duckdb_result result;
    bool ok = duckdb_query(con, sql.c_str(), &result) != DuckDBError;
    if (!ok) {
      *error = duckdb_result_error(&result);
    } else if (rows) {
      idx_t cols = duckdb_column_count(&result);
      while (duckdb_data_chunk chunk = duckdb_fetch_chunk(result)) {
        for (idx_t r = 0; r < duckdb_data_chunk_get_size(chunk); ++r) {
          std::vector<std::string> row;
          for (idx_t c = 0; c < cols; ++c) {
            duckdb_vector v = duckdb_data_chunk_get_vector(chunk, c);
            uint64_t* validity = duckdb_vector_get_validity(v);
            auto* text = static_cast<duckdb_string_t*>(duckdb_vector_get_data(v));
            bool valid = !validity || duckdb_validity_row_is_valid(validity, r);
            row.push_back(
                valid ? std::string(duckdb_string_t_data(&text[r]), duckdb_string_t_length(text[r]))
                      : std::string());
          }
          rows->push_back(std::move(row));
        }
        duckdb_destroy_data_chunk(&chunk);
      }
    }
    duckdb_destroy_result(&result);
    return ok;
  }
};

// ---- The fixture: the same rows as parquet files for the test, as a table here ----

// k: row key; g: group (0 holds most rows of a.parquet, 12 has only NULL values, some rows
// have no group); s: the value every argument is made of, -50..50 with NULLs; c: a value
// constant within each group, for aggregates whose result depends on which row comes first.
const char* const kFiles[][2] = {
    {"a",
     "SELECT range AS k, CASE WHEN range % 97 = 1 THEN NULL WHEN range % 10 < 8 THEN 0 "
     "ELSE range % 13 END AS g, range % 11 = 3 OR range % 13 = 12 AS no_s, "
     "(range * 7919) % 101 - 50 AS v FROM range(8000)"},
    {"b",
     "SELECT 100000 + range AS k, 5 AS g, false AS no_s, (range * 31) % 101 - 50 AS v "
     "FROM range(3000)"},
    {"c",
     "SELECT 200000 + range AS k, range % 3 + 1 AS g, range = 2 AS no_s, "
     "[50, -50, 0, 49, -49][range + 1] AS v FROM range(5)"},
    {"d", "SELECT 300000 + range AS k, 1 AS g, false AS no_s, 0 AS v FROM range(0)"},
};
const char* const kColumns =
    "k, g, CASE WHEN no_s AND g IS DISTINCT FROM 12 OR g = 12 THEN NULL ELSE v END AS s, "
    "g * 3 - 7 AS c";

std::string FixtureStatements() {
  std::string out;
  for (const auto& f : kFiles) {
    out += "statement ok\nCOPY (SELECT " + std::string(kColumns) + " FROM (" + f[1] +
           ")) TO '__TEST_DIR__/" + f[0] + ".parquet' (ROW_GROUP_SIZE 1024)\n\n";
  }
  return out;
}

// The same files in `dir`, and a view `fixture` over them: what DuckDB accepts from these
// files (statistics included) is what the test may expect.
std::string FixtureFiles(const std::string& dir) {
  std::string sql = FixtureStatements(), out;
  for (size_t at = 0; (at = sql.find("COPY", at)) != std::string::npos;) {
    size_t end = sql.find('\n', at);
    out += sql.substr(at, end - at) + ";\n";
    at = end;
  }
  for (size_t at = 0; (at = out.find("__TEST_DIR__", at)) != std::string::npos;) {
    out.replace(at, 12, dir);
  }
  return out + "CREATE VIEW fixture AS SELECT * FROM '" + dir + "/*.parquet';";
}

// ---- Arguments of each parameter type ----

// Aggregates whose result depends on which rows come first, or on ties, or on sampling:
// their arguments are made of `c`, constant per group, so that every order gives one answer
// (their ORDER BY forms use `s`, ordered by the unique key).
const std::set<std::string> kOrderDependent = {
    "first",  "last",         "any_value",       "arbitrary",
    "mode",   "approx_top_k", "approx_quantile", "reservoir_quantile",
    "product"};

// A value of `type` made of the base column `b` (injective in b, NULL when b is).
std::vector<std::string> Realise(const std::string& type, const std::string& b) {
  auto cast = [&](const std::string& x, const std::string& t) {
    return "CAST(" + x + " AS " + t + ")";
  };
  std::string u = "(" + b + " + 50)";  // 0..100 for the unsigned types
  if (type == "TINYINT" || type == "SMALLINT" || type == "INTEGER") return {cast(b, type)};
  if (type == "BIGINT") return {cast(b, "BIGINT") + " * 184467440737095516"};
  if (type == "HUGEINT") return {cast(b, "HUGEINT") + " * 1000000000000000000000"};
  if (type == "UTINYINT" || type == "USMALLINT" || type == "UINTEGER") return {cast(u, type)};
  if (type == "UBIGINT") return {cast(u, "UBIGINT") + " * 184467440737095516"};
  if (type == "UHUGEINT") return {cast(u, "UHUGEINT") + " * 1000000000000000000000"};
  if (type == "FLOAT") return {cast(b + " / 4", "FLOAT")};
  if (type == "DOUBLE") return {b + " / 4"};
  if (type == "DECIMAL") return {cast(b + " / 4", "DECIMAL(18, 2)"), cast(b, "DECIMAL(38, 0)")};
  if (type == "BIGNUM") return {cast(cast(b, "HUGEINT") + " * 1000000000000000000000", "BIGNUM")};
  if (type == "VARCHAR") return {"'ü' || " + b};
  if (type == "BLOB") return {"encode('ü' || " + b + ")"};
  if (type == "BOOLEAN") return {"(" + b + " % 3 = 0)"};
  if (type == "BIT") return {cast(cast(u, "UTINYINT"), "BIT")};
  if (type == "DATE") return {"DATE '2000-01-01' + " + cast(b, "INTEGER")};
  if (type == "TIME") return {"TIME '12:00:00' + to_seconds(" + b + ")"};
  if (type == "TIME WITH TIME ZONE") {
    return {cast("TIME '12:00:00' + to_seconds(" + b + ")", "TIME WITH TIME ZONE")};
  }
  if (type == "TIMESTAMP") return {"TIMESTAMP '2000-01-01' + to_seconds(" + b + " * 1000)"};
  if (type == "TIMESTAMP WITH TIME ZONE") {
    return {cast("TIMESTAMP '2000-01-01' + to_seconds(" + b + " * 1000)", "TIMESTAMPTZ")};
  }
  if (type == "INTERVAL") return {"to_seconds(" + b + ")"};
  if (type == "ANY" || type == "T") {
    return {"'ü' || " + b, "{'k': " + b + ", 'v': 'ü' || " + b + "}", b};
  }
  return {};
}

// The constant a parameter takes (a quantile, a count, a separator), or nothing when the
// parameter is a value made of the data.
std::optional<std::string> Constant(const std::string& name, size_t i, const std::string& type) {
  if (i == 0) return std::nullopt;
  if (type == "DOUBLE[]" || type == "FLOAT[]") return "[0.1, 0.5, 0.9]";
  if (type == "ANY[]") return "[-20, 0, 20]";
  if (name.find("quantile") != std::string::npos) {
    return type == "INTEGER" ? "4096" : "0.25";
  }
  if (name == "string_agg" || name == "group_concat" || name == "listagg") return "'|'";
  // max(x, n), min(x, n), arg_max(x, y, n) and the like, approx_top_k(x, k)
  if (type == "BIGINT" && (i == 2 || name == "max" || name == "min" || name == "approx_top_k")) {
    return "3";
  }
  return std::nullopt;
}

// What both sides compare: aggregates whose values come in no defined order are sorted.
std::string Canonical(const std::string& name, const std::string& call, size_t arity) {
  if (name == "list" || name == "array_agg" || name == "approx_top_k") {
    return "list_sort(" + call + ")";
  }
  if (name == "string_agg" || name == "group_concat" || name == "listagg") {
    return "list_sort(string_split(" + call + (arity == 1 ? ", ','))" : ", '|'))");
  }
  return call;
}

struct Overload {
  std::string name;
  std::vector<std::string> params;
  std::string key() const {
    std::string k = name + "\t";
    for (size_t i = 0; i < params.size(); ++i) k += (i ? ", " : "") + params[i];
    return k;
  }
};

// Every argument list for `o` made of base column `b`: the cartesian product of Realise.
std::vector<std::string> ArgumentLists(const Overload& o, const std::string& b) {
  if (o.name == "bitstring_agg") {  // the value, then its range (the bits)
    bool u = o.params[0][0] == 'U';
    std::string v = "CAST(" + (u ? "(" + b + " + 50)" : b) + " AS " + o.params[0] + ")";
    return {o.params.size() == 1 ? v : v + (u ? ", 0, 100" : ", -50, 50")};
  }
  std::vector<std::string> lists = {""};
  for (size_t i = 0; i < o.params.size(); ++i) {
    std::vector<std::string> options;
    if (auto k = Constant(o.name, i, o.params[i])) {
      options = {*k};
    } else if (o.name.rfind("histogram", 0) == 0) {
      options = {o.params[i] == "ANY" ? b : Realise(o.params[i], b)[0]};  // ordered numbers
    } else {
      options = Realise(o.params[i], b);
    }
    if (options.empty()) {
      std::fprintf(stderr, "gen_aggregate_tests: no argument of type %s for %s\n",
                   o.params[i].c_str(), o.key().c_str());
      std::exit(1);
    }
    std::vector<std::string> next;
    for (const auto& l : lists) {
      for (const auto& a : options) next.push_back(l + (i ? ", " : "") + a);
    }
    lists = std::move(next);
  }
  return lists;
}

struct Column {
  std::string name, call;  // the output column and the aggregate call (before Canonical)
};

// One record: the pipeline, the oracle and whether the distributed plan must decompose.
std::string Record(const std::string& fn, size_t arity, const std::vector<Column>& columns,
                   bool grouped, bool decomposed) {
  std::string pipeline = "from_parquet(\"__TEST_DIR__/*.parquet\")\n";
  if (grouped) pipeline += "|> group_by(g)\n";
  std::string aggs, canon, select;
  for (const auto& c : columns) {
    aggs += (aggs.empty() ? "" : ", ") + c.name + ": " + c.call;
    std::string canonical = Canonical(fn, c.name, arity);
    if (canonical != c.name) canon += (canon.empty() ? "" : ", ") + c.name + ": " + canonical;
    select += ", " + Canonical(fn, c.call, arity) + " AS " + c.name;
  }
  pipeline += "|> summarise(" + aggs + ")\n";
  if (!canon.empty()) pipeline += "|> mutate(" + canon + ")\n";
  if (grouped) pipeline += "|> sort_by(g)\n";
  std::string oracle = "SELECT " + std::string(grouped ? "g" : "") +
                       select.substr(grouped ? 0 : 2) + " FROM '__TEST_DIR__/*.parquet'" +
                       (grouped ? " GROUP BY g ORDER BY g NULLS LAST" : "");
  return std::string("pipeline ") + (decomposed ? "applies" : "skips") + " partial_aggregate\n" +
         pipeline + "----\noracle\n" + oracle + "\n\n";
}

// Whether DuckDB runs `call` over the fixture (grouped, as the records do).
bool Runs(Db& db, const std::string& call, std::string* error) {
  return db.Query("SELECT g, " + call + " FROM fixture GROUP BY GROUPING SETS ((g), ())", nullptr,
                  error);
}

std::vector<std::string> Split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t at = 0;
  for (size_t next; (next = s.find(sep, at)) != std::string::npos; at = next + sep.size()) {
    out.push_back(s.substr(at, next - at));
  }
  out.push_back(s.substr(at));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: gen_aggregate_tests CATALOGUE.tsv OUT_DIR SHARDS\n");
    return 2;
  }
  const std::string catalogue_path = argv[1], out_dir = argv[2];
  const int shards = std::atoi(argv[3]);
  Db db;
  std::string error;
  char dir_template[] = "/tmp/dux-aggregates-XXXXXX";
  if (!mkdtemp(dir_template)) {
    std::fprintf(stderr, "gen_aggregate_tests: cannot create a temporary directory\n");
    return 1;
  }
  const std::string dir = dir_template;
  struct RemoveDir {
    std::string dir;
    ~RemoveDir() { std::filesystem::remove_all(dir); }
  } remove_dir{dir};
  std::vector<std::vector<std::string>> rows;
  if (!db.Query("SELECT function_name, array_to_string(parameter_types, '\x1f') FROM "
                "duckdb_functions() WHERE function_type = 'aggregate' ORDER BY ALL",
                &rows, &error) ||
      !db.Query(FixtureFiles(dir), nullptr, &error)) {
    std::fprintf(stderr, "gen_aggregate_tests: %s\n", error.c_str());
    return 1;
  }
  std::vector<Overload> overloads;
  for (const auto& r : rows) {
    Overload o{r[0], r[1].empty() ? std::vector<std::string>{} : Split(r[1], "\x1f")};
    if (overloads.empty() || overloads.back().key() != o.key()) overloads.push_back(o);
  }

  // The catalogue: "name<TAB>parameter types<TAB>class" per overload.
  std::map<std::string, std::string> classes;
  std::ifstream in(catalogue_path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto fields = Split(line, "\t");
    if (fields.size() != 3 || (fields[2] != "decomposed" && fields[2] != "exchanged")) {
      std::fprintf(stderr, "%s: malformed line: %s\n", catalogue_path.c_str(), line.c_str());
      return 1;
    }
    classes[fields[0] + "\t" + fields[1]] = fields[2];
  }
  int missing = 0;
  std::set<std::string> known;
  for (const auto& o : overloads) {
    known.insert(o.key());
    if (!classes.count(o.key())) {
      std::fprintf(stderr,
                   "%s: DuckDB's aggregate %s(%s) is not classified; add\n  %s\t<decomposed or "
                   "exchanged>\n",
                   catalogue_path.c_str(), o.name.c_str(), Split(o.key(), "\t")[1].c_str(),
                   o.key().c_str());
      ++missing;
    }
  }
  for (const auto& [key, cls] : classes) {
    if (!known.count(key)) {
      std::fprintf(stderr, "%s: %s is not an aggregate of this DuckDB\n", catalogue_path.c_str(),
                   key.c_str());
      ++missing;
    }
  }
  if (missing) return 1;

  // Records per function name, arity and class: one summarise must not mix a decomposed
  // overload with an exchanged one (the whole summarise would be exchanged).
  std::vector<std::string> files(static_cast<size_t>(shards));
  std::map<std::string, size_t> shard_of;
  size_t next_shard = 0, total_calls = 0;
  std::map<std::tuple<std::string, size_t, std::string>, std::vector<Overload>> groups;
  for (const auto& o : overloads) {
    groups[{o.name, o.params.size(), classes[o.key()]}].push_back(o);
  }
  for (const auto& [group, members] : groups) {
    const auto& [fn, arity, cls] = group;
    if (!shard_of.count(fn)) shard_of[fn] = next_shard++ % static_cast<size_t>(shards);
    std::string& out = files[shard_of[fn]];
    bool order_dependent = kOrderDependent.count(fn) > 0;
    std::vector<Column> plain, modified;
    std::string refused;
    for (const auto& o : members) {
      bool ran = false;
      // bitstring_agg(x) takes its range from the column's statistics, which DuckDB has
      // for a column read straight from a file but not for the rows dux's plans compute
      // or exchange: dux gives DuckDB's error (bitstring_agg(x, min, max) works).
      bool needs_statistics = fn == "bitstring_agg" && o.params.size() == 1;
      if (needs_statistics) error = "Binder Error: Could not retrieve required statistics.";
      for (const auto& args : ArgumentLists(o, order_dependent ? "c" : "s")) {
        if (needs_statistics) break;
        std::string call = fn + "(" + args + ")";
        if (!Runs(db, Canonical(fn, call, arity), &error)) continue;
        ran = true;
        std::string col = "a" + std::to_string(plain.size());
        plain.push_back({col, call});
        std::string filtered = call + " FILTER (WHERE s > 0 OR g = 1)";
        if (Runs(db, Canonical(fn, filtered, arity), &error))
          plain.push_back({col + "f", filtered});
      }
      if (!ran) {
        // DuckDB refuses every form we can give it: dux must refuse it the same way,
        // locally and distributed.
        std::string call = fn + "(" + ArgumentLists(o, "s")[0] + ")";
        std::string message = error.substr(error.find(": ") + 2);
        message = message.substr(0, message.find_first_of(".\n"));
        if (message.empty()) {
          std::fprintf(stderr, "gen_aggregate_tests: DuckDB runs no form of %s(%s): %s\n",
                       fn.c_str(), Split(o.key(), "\t")[1].c_str(), error.c_str());
          return 1;
        }
        refused +=
            "pipeline error\nfrom_parquet(\"__TEST_DIR__/*.parquet\")\n|> group_by(g)\n"
            "|> summarise(x: " +
            call + ")\n----\n" + message + "\n\n";
        continue;
      }
      if (o.params.empty()) continue;
      // ORDER BY decides only first, last and the like; other order-dependent aggregates
      // ignore it, so they keep their constant arguments.
      bool follows_order = order_dependent && fn != "mode" &&
                           fn.find("approx") == std::string::npos && fn != "reservoir_quantile" &&
                           fn != "product";
      for (const auto& args : ArgumentLists(o, order_dependent && !follows_order ? "c" : "s")) {
        std::string distinct = fn + "(DISTINCT " + args + ")";
        if (!order_dependent && Runs(db, Canonical(fn, distinct, arity), &error)) {
          modified.push_back({"m" + std::to_string(modified.size()), distinct});
        }
        std::string ordered = fn + "(" + args + " ORDER BY s DESC NULLS LAST, k)";
        if (Runs(db, Canonical(fn, ordered, arity), &error)) {
          modified.push_back({"m" + std::to_string(modified.size()), ordered});
        }
      }
    }
    total_calls += plain.size() + modified.size();
    out += "# " + fn + " with " + std::to_string(arity) + " argument(s): " + cls + "\n";
    out += refused;
    if (plain.empty()) continue;
    out += Record(fn, arity, plain, true, cls == "decomposed");
    if (!order_dependent) out += Record(fn, arity, plain, false, cls == "decomposed");
    if (!modified.empty()) out += Record(fn, arity, modified, true, false);
  }
  for (int s = 0; s < shards; ++s) {
    std::string path = out_dir + "/catalogue_" + std::to_string(s) + ".test";
    std::ofstream file(path);
    file << "# Generated by gen_aggregate_tests from " << catalogue_path
         << " and duckdb_functions(); do not edit.\n\n"
         << FixtureStatements() << files[static_cast<size_t>(s)];
    if (!file) {
      std::fprintf(stderr, "gen_aggregate_tests: cannot write %s\n", path.c_str());
      return 1;
    }
  }
  std::printf("gen_aggregate_tests: %zu overloads, %zu calls in %d files\n", overloads.size(),
              total_calls, shards);
  return 0;
}
