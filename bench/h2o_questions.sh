# shellcheck shell=bash disable=SC2034  # QUESTIONS is for the script that sources this
# Sourced by the benchmark scripts: `h2o_questions DATASET DATA` sets QUESTIONS to the H2O
# group-by questions q1-q10 (DATASET groupby: DATA/*.parquet) or join questions q1-q5 (join:
# DATA/x, small, medium, big/*.parquet), docs/architecture.md section 8, one
# "name@dux pipeline@the SQL a DuckDB user would write" each. DATA is a directory or an
# s3:// prefix (the SQL then needs a DuckDB that reads s3://, which bench/duckdb_sql cannot).
# Each join question ends in a checksum (count, sum v1, sum v2), as H2O's scripts take one
# of every answer, so that neither engine spends its time printing millions of rows.
h2o_questions() {
  local data="$2"
  if [[ "$1" == groupby ]]; then
    local glob="$data/*.parquet"
    local src="read_parquet('$glob')"
    local from="from_parquet(\"$glob\") |>"
    QUESTIONS=(
      "q1@$from group_by(id1) |> summarise(v1: sum(v1))@SELECT id1, sum(v1) AS v1 FROM $src GROUP BY id1"
      "q2@$from group_by(id1, id2) |> summarise(v1: sum(v1))@SELECT id1, id2, sum(v1) AS v1 FROM $src GROUP BY id1, id2"
      "q3@$from group_by(id3) |> summarise(v1: sum(v1), v3: avg(v3))@SELECT id3, sum(v1) AS v1, avg(v3) AS v3 FROM $src GROUP BY id3"
      "q4@$from group_by(id4) |> summarise(v1: avg(v1), v2: avg(v2), v3: avg(v3))@SELECT id4, avg(v1) AS v1, avg(v2) AS v2, avg(v3) AS v3 FROM $src GROUP BY id4"
      "q5@$from group_by(id6) |> summarise(v1: sum(v1), v2: sum(v2), v3: sum(v3))@SELECT id6, sum(v1) AS v1, sum(v2) AS v2, sum(v3) AS v3 FROM $src GROUP BY id6"
      "q6@$from group_by(id4, id5) |> summarise(median_v3: median(v3), sd_v3: stddev(v3))@SELECT id4, id5, median(v3) AS median_v3, stddev(v3) AS sd_v3 FROM $src GROUP BY id4, id5"
      "q7@$from group_by(id3) |> summarise(range_v1_v2: max(v1) - min(v2))@SELECT id3, max(v1) - min(v2) AS range_v1_v2 FROM $src GROUP BY id3"
      "q8@$from drop_nil(v3) |> group_by(id6) |> mutate(r: row_number() OVER (ORDER BY v3 DESC)) |> filter(r <= 2) |> ungroup() |> select(id6, v3)@SELECT id6, v3 FROM (SELECT id6, v3, row_number() OVER (PARTITION BY id6 ORDER BY v3 DESC) AS r FROM $src WHERE v3 IS NOT NULL) WHERE r <= 2"
      "q9@$from group_by(id2, id4) |> summarise(r2: pow(corr(v1, v2), 2))@SELECT id2, id4, pow(corr(v1, v2), 2) AS r2 FROM $src GROUP BY id2, id4"
      "q10@$from group_by(id1, id2, id3, id4, id5, id6) |> summarise(v3: sum(v3), count: count(*))@SELECT id1, id2, id3, id4, id5, id6, sum(v3) AS v3, count(*) AS count FROM $src GROUP BY id1, id2, id3, id4, id5, id6"
    )
  else
    table() { echo "read_parquet('$data/$1/*.parquet')"; }
    frame() { echo "from_parquet(\"$data/$1/*.parquet\")"; }
    local sum="summarise(n: count(*), v1: sum(v1), v2: sum(v2))"
    local check="SELECT count(*) AS n, sum(v1) AS v1, sum(v2) AS v2"
    QUESTIONS=(
      "q1@$(frame x) |> join($(frame small), on: id1) |> $sum@$check FROM $(table x) x JOIN $(table small) s ON x.id1 = s.id1"
      "q2@$(frame x) |> join($(frame medium), on: id2) |> $sum@$check FROM $(table x) x JOIN $(table medium) m ON x.id2 = m.id2"
      "q3@$(frame x) |> join($(frame medium), on: id2, how: left) |> $sum@$check FROM $(table x) x LEFT JOIN $(table medium) m ON x.id2 = m.id2"
      "q4@$(frame x) |> join($(frame medium), on: id5) |> $sum@$check FROM $(table x) x JOIN $(table medium) m ON x.id5 = m.id5"
      "q5@$(frame x) |> join($(frame big), on: id3) |> $sum@$check FROM $(table x) x JOIN $(table big) b ON x.id3 = b.id3"
    )
  fi
}
