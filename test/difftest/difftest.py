#!/usr/bin/env python3
"""The randomized differential tester (issue 17).

Draws deterministic pipelines from a small grammar (sources, filter, mutate, select,
group_by + summarise, grouped windows, distinct, every join type, sort_by + head) over data
shaped to reach the splitter's rules: a file large enough for several row groups and
final_on_workers, a skewed key holding most rows, NULL-heavy and unicode keys, doubles on
predicate boundaries, a tiny file and an empty one. For each pipeline it also writes the
same query as plain DuckDB SQL. The e2e runner (dux_e2e_runner) runs every case locally,
on 1, 2 and 3 workers inside its process and on 1, 2 and 3 real worker processes (joins
once more with both sides exchanged) and compares each with DuckDB running the SQL.

A failing case is shrunk by dropping verbs while it still fails, then printed with the
command that reproduces it:

    test/difftest/difftest.py --seed S --case I

usage: difftest.py [--seed S] [--cases N] [--batch B] [--budget SECONDS] [--case I]
                   [--min-workers M] [--runner PATH] [--dux PATH] [--keep DIR] [--print]
Exit status: 0 when every case agrees, 1 when one does not (after shrinking), 2 on misuse.
"""
import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# ---- Data: the same files for every case of a seed ----

def fixture(rng):
    """`statement ok` records writing the case's data into __TEST_DIR__."""
    n = rng.choice([3000, 6000, 9000])
    skew = rng.choice([5, 7, 9])  # tenths of the rows on key 0
    rows = (
        "SELECT range AS id, "
        f"CASE WHEN range % 10 < {skew} THEN 0 WHEN range % 13 = 0 THEN NULL "
        "ELSE range % 37 END AS k, "
        "CASE WHEN range % 7 = 0 THEN NULL ELSE ['é', 'Ω', '😀', 'a', 'A', ''][range % 6 + 1] "
        "|| (range % 11) END AS s, "
        "CAST((range * 7) % 50 AS DOUBLE) / 10 AS x, "
        "CASE WHEN range % 17 = 0 THEN NULL ELSE (range * 31) % 1000 - 200 END AS y, "
        "range % 3 = 0 AS b"
    )
    out = []
    out.append(f"COPY ({rows} FROM range({n})) TO '__TEST_DIR__/f_a.parquet' "
               "(ROW_GROUP_SIZE 1024)")
    out.append(f"COPY ({rows} FROM range({n}, {n} + 40)) TO '__TEST_DIR__/f_b.parquet'")
    out.append(f"COPY ({rows} FROM range(0)) TO '__TEST_DIR__/f_c.parquet'")
    out.append(f"COPY ({rows} FROM range(500)) TO '__TEST_DIR__/one.csv'")
    out.append(f"COPY ({rows} FROM range(300)) TO '__TEST_DIR__/one.ndjson'")
    out.append("COPY (SELECT CASE WHEN range % 9 = 0 THEN NULL ELSE range % 45 END AS k, "
               "'ü' || range AS s2, CAST(range AS DOUBLE) / 4 AS w FROM range(120)) "
               "TO '__TEST_DIR__/dim.parquet'")
    return "".join(f"statement ok\n{sql}\n\n" for sql in out)


SOURCES = [
    ('from_parquet("__TEST_DIR__/f_*.parquet")', "'__TEST_DIR__/f_*.parquet'"),
    ('from_csv("__TEST_DIR__/one.csv")', "read_csv('__TEST_DIR__/one.csv')"),
    ('from_ndjson("__TEST_DIR__/one.ndjson")', "read_json('__TEST_DIR__/one.ndjson')"),
]
# Kinds: "int" and "dbl" are exact (a double computed row by row is the same everywhere),
# "float" is a double aggregated in an order that varies between runs (sum, avg, stddev):
# equal to 1e-9 relative, so never a key, a predicate's operand or a sort key, nor summed,
# averaged, taken modulo or spread (a result near 0 has no relative precision).
BASE = {"id": "int", "k": "int", "s": "str", "x": "dbl", "y": "int", "b": "bool"}
NUMERIC = ("int", "dbl", "float")

# ---- The grammar: each verb maps a state (columns, kinds) to text, SQL and a new state ----


class State:
    def __init__(self, cols, joined=False):
        self.cols = dict(cols)  # name -> kind, in order
        self.joined = joined  # a join happened: id may repeat (dim's keys do)


def nums(st, exact=False):
    return [c for c, t in st.cols.items()
            if t in NUMERIC and not (exact and t == "float")]


def has_float(st):
    return "float" in st.cols.values()


def pick(rng, items):
    return items[rng.randrange(len(items))]


def predicate(rng, st):
    options = []
    for c in nums(st, exact=True):
        v = pick(rng, ["0", "0.3", "1.5", "2.5", "-100", "7"])
        options.append(f"{c} {pick(rng, ['<', '<=', '>', '>=', '=', '<>'])} {v}")
        options.append(f"{c} IS NULL" if rng.random() < 0.3 else f"{c} IN (0, 1, 3)")
        options.append(f"{c} BETWEEN 0.3 AND 2.5")
    for c, t in st.cols.items():
        if t == "str":
            options.append(f"{c} LIKE '{pick(rng, ['é', 'Ω', '😀', 'a', 'A'])}%'")
            options.append(f"{c} IS NOT NULL")
            options.append(f"{c} > 'a'")
        if t == "bool":
            options.append(c)
            options.append(f"NOT {c}")
    if not options:
        return None
    p = pick(rng, options)
    if rng.random() < 0.3:
        p = f"({p}) {pick(rng, ['AND', 'OR'])} ({pick(rng, options)})"
    return p


class Verb:
    """One verb drawn from the grammar: `text` for dux, `sql(prev)` for DuckDB."""

    def __init__(self, rng):
        self.seed = rng.randrange(1 << 30)

    def apply(self, st, fresh):
        """(pipeline text, sql builder, new state) or None when it does not fit `st`."""
        raise NotImplementedError


class Filter(Verb):
    def apply(self, st, fresh):
        p = predicate(random.Random(self.seed), st)
        if p is None:
            return None
        return f"filter({p})", lambda q: f"SELECT * FROM ({q}) WHERE {p}", st


class Mutate(Verb):
    def apply(self, st, fresh):
        rng = random.Random(self.seed)
        name = fresh()
        options = []
        ns = nums(st)
        if ns:
            a, b = pick(rng, ns), pick(rng, ns)
            ka, kb = st.cols[a], st.cols[b]
            both = "float" if "float" in (ka, kb) else "dbl" if "dbl" in (ka, kb) else "int"
            options += [(f"{a} * 2 + {b}", both), (f"{a} % 7" if ka != "float" else f"-{a}", ka),
                        (f"abs({a}) / 4", "float" if ka == "float" else "dbl"),
                        (f"coalesce({a}, -1)", ka)]
            if ka != "float":
                options.append((f"CASE WHEN {a} > 1 THEN {b} END", kb))
        for c, t in st.cols.items():
            if t == "str":
                options.append((f"coalesce({c}, 'ø') || 'ü'", "str"))
                options.append((f"lower({c})", "str"))
        if not options:
            return None
        expr, kind = pick(rng, options)
        cols = dict(st.cols)
        cols[name] = kind
        return (f"mutate({name}: {expr})", lambda q: f"SELECT *, {expr} AS {name} FROM ({q})",
                State(cols, st.joined))


class Select(Verb):
    def apply(self, st, fresh):
        rng = random.Random(self.seed)
        names = list(st.cols)
        if len(names) < 2:
            return None
        keep = [c for c in names if rng.random() < 0.6] or [names[0]]
        cols = {c: st.cols[c] for c in keep}
        text = ", ".join(keep)
        return f"select({text})", lambda q: f"SELECT {text} FROM ({q})", State(cols, st.joined)


AGGS = [("count(*)", None), ("sum({n})", "num"), ("min({c})", "any"), ("max({c})", "any"),
        ("avg({n})", "num"), ("count(DISTINCT {c})", "any"), ("median({n})", "num"),
        ("stddev_samp({n})", "num"), ("count({c})", "any"), ("bool_or({b})", "bool"),
        ("arg_max({c}, {u})", "argmax"), ("quantile_disc({n}, 0.5)", "num")]


def aggregates(rng, st, keys, how_many):
    out = []
    ns = nums(st)
    others = [c for c in st.cols if c not in keys]
    bools = [c for c, t in st.cols.items() if t == "bool"]
    for i in range(how_many):
        form, needs = pick(rng, AGGS)
        if needs == "num" and not ns or needs == "bool" and not bools or \
                needs in ("any", "argmax") and not others:
            form, needs = AGGS[0]
        # arg_max over a unique value (id) or not at all: ties would make it arbitrary.
        if needs == "argmax":
            if "id" not in st.cols or st.joined:
                form = "count(*)"
            else:
                form = form.replace("{u}", "id")
        # Sums, means and deviations of "float"s cancel: the stddev of doubles that are all
        # 4.9 to within rounding is 0 in one run and 6e-16 in the next (seed 21 case 1363).
        if form.startswith(("sum", "avg", "stddev")):
            ns_here = nums(st, exact=True)
            if not ns_here:
                form, needs = AGGS[0]
        else:
            ns_here = ns
        n = pick(rng, ns_here) if ns_here else ""
        exact = [o for o in others if st.cols[o] != "float"]
        if form.startswith("count(DISTINCT") and not exact:
            form = "count(*)"
        c = pick(rng, exact if form.startswith("count(DISTINCT") else others) if others else ""
        expr = form.format(n=n, c=c, b=pick(rng, bools) if bools else "")
        if form.startswith("count"):
            kind = "int"
        elif form.startswith("bool"):
            kind = "bool"
        elif form.startswith("sum"):
            kind = "int" if st.cols[n] == "int" else "float"
        elif form.startswith(("avg", "stddev")):
            kind = "float"
        elif form.startswith("median"):
            kind = "float" if st.cols[n] == "float" else "dbl"
        elif form.startswith("quantile"):
            kind = st.cols[n]
        else:  # min, max, arg_max: the kind of what they pick
            kind = st.cols[c]
        out.append((f"a{i}", expr, kind))
    return out


class Summarise(Verb):
    def apply(self, st, fresh):
        rng = random.Random(self.seed)
        names = list(st.cols)
        keys = [c for c in names if st.cols[c] != "float" and rng.random() < 0.35][:2]
        aggs = aggregates(rng, st, keys, rng.randint(1, 3))
        aggs = [(fresh(), e, k) for (_, e, k) in aggs]
        text = ", ".join(f"{n}: {e}" for n, e, _ in aggs)
        sel = ", ".join(keys + [f"{e} AS {n}" for n, e, _ in aggs])
        cols = {c: st.cols[c] for c in keys}
        cols.update({n: k for n, _, k in aggs})
        group = f"group_by({', '.join(keys)}) |> " if keys else ""
        by = f" GROUP BY {', '.join(keys)}" if keys else ""
        return (f"{group}summarise({text})", lambda q: f"SELECT {sel} FROM ({q}){by}",
                State(cols, st.joined))


class GroupedWindow(Verb):
    def apply(self, st, fresh):
        rng = random.Random(self.seed)
        ns = nums(st)
        keys = [c for c in st.cols if c in ("k", "s", "b")]
        if not ns or not keys:
            return None
        key = pick(rng, keys)
        name = fresh()
        fn = pick(rng, ["sum", "max", "count", "min"])
        exact = nums(st, exact=True)
        arg = pick(rng, exact if fn == "sum" and exact else ns)
        if fn == "sum" and not exact:
            fn = "max"
        cols = dict(st.cols)
        kind = st.cols[arg]
        cols[name] = ("int" if fn == "count" else
                      "float" if fn == "sum" and kind != "int" else kind)
        return (f"group_by({key}) |> mutate({name}: {fn}({arg})) |> ungroup",
                lambda q: f"SELECT *, {fn}({arg}) OVER (PARTITION BY {key}) AS {name} FROM ({q})",
                State(cols, st.joined))


class Distinct(Verb):
    def apply(self, st, fresh):
        if has_float(st):
            return None
        return "distinct", lambda q: f"SELECT DISTINCT * FROM ({q})", st


class Join(Verb):
    def apply(self, st, fresh):
        rng = random.Random(self.seed)
        if st.joined or "k" not in st.cols or st.cols["k"] != "int" or \
                "s2" in st.cols or "w" in st.cols:
            return None
        how = pick(rng, ["inner", "left", "right", "full", "semi", "anti"])
        right = 'from_parquet("__TEST_DIR__/dim.parquet")'
        if rng.random() < 0.4:
            right += " |> filter(w > 3)"
            rsql = "SELECT * FROM '__TEST_DIR__/dim.parquet' WHERE w > 3"
        else:
            rsql = "SELECT * FROM '__TEST_DIR__/dim.parquet'"
        text = f"join({right}, on: k, how: {how})"
        others = [c for c in st.cols if c != "k"]
        if how in ("semi", "anti"):
            neg = "NOT " if how == "anti" else ""
            sql = lambda q: (f"SELECT * FROM ({q}) AS l WHERE {neg}EXISTS "
                             f"(SELECT 1 FROM ({rsql}) AS r WHERE r.k = l.k)")
            return text, sql, State(st.cols, True)
        key = "coalesce(l.k, r.k)" if how in ("right", "full") else "l.k"
        sel = ", ".join([f"{key} AS k" if c == "k" else f"l.{c}" for c in st.cols] +
                        ["r.s2", "r.w"])
        jt = {"inner": "JOIN", "left": "LEFT JOIN", "right": "RIGHT JOIN",
              "full": "FULL JOIN"}[how]
        cols = dict(st.cols)
        cols.update({"s2": "str", "w": "dbl"})
        return (text, lambda q: f"SELECT {sel} FROM ({q}) AS l {jt} ({rsql}) AS r ON l.k = r.k",
                State(cols, True))


class SortHead(Verb):
    def apply(self, st, fresh):
        if has_float(st):
            return None
        n = random.Random(self.seed).choice([1, 3, 10, 50])
        # Sorting by every column defines which rows are first, up to identical rows.
        keys = ", ".join(st.cols)
        return (f"sort_by({keys}) |> head({n})",
                lambda q: f"SELECT * FROM ({q}) ORDER BY {keys} LIMIT {n}",
                State(st.cols, st.joined))


VERBS = [Filter, Filter, Mutate, Select, Summarise, Summarise, GroupedWindow, Distinct, Join,
         Join, SortHead]


class Case:
    def __init__(self, seed, index):
        rng = random.Random(f"{seed}/{index}")
        self.source = rng.randrange(len(SOURCES)) if rng.random() < 0.3 else 0
        self.verbs = [pick(rng, VERBS)(rng) for _ in range(rng.randint(1, 5))]

    def render(self, verbs=None):
        """(pipeline, sql) for these verbs (all by default), skipping ones that do not fit."""
        text, sql = SOURCES[self.source]
        sql = f"SELECT * FROM {sql}"
        st = State(BASE)
        counter = [0]

        def fresh():
            counter[0] += 1
            return f"c{counter[0]}"

        lines = [text]
        for v in self.verbs if verbs is None else verbs:
            step = v.apply(st, fresh)
            if step is None:
                continue
            t, build, st = step
            lines.append(f"|> {t}")
            sql = build(sql)
        return "\n".join(lines), sql


# Defects found and still open, by the pipelines that show them: --skip-open leaves these
# out (CI), a plain run keeps them. Each names its issue and a reproducer.
OPEN_DEFECTS = [
    # None open. Each entry: a comment naming the issue and the reproducing seed and case,
    # then a predicate on the pipeline text, e.g.
    # lambda pipeline: "|> head(" in pipeline and "how: semi" in pipeline,
]


def record(pipeline, sql):
    return f"pipeline rowsort\n{pipeline}\n----\noracle\n{sql}\n\n"

# ---- Running the e2e runner over a batch of cases ----


def run_file(args, seed, cases, keep):
    """{case index: first failure line} for these (index, pipeline, sql) cases."""
    rng = random.Random(f"{seed}/data")
    text = fixture(rng)
    lines_to_case = {}
    for index, pipeline, sql in cases:
        lines_to_case[text.count("\n") + 1] = index
        text += record(pipeline, sql)
    fd, path = tempfile.mkstemp(suffix=".test", prefix=f"difftest-{seed}-", dir=keep)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    env = dict(os.environ, DUX_BINARY=args.dux)
    # Joins run once more with both sides exchanged; other cases need not.
    joins = ["--shuffle-joins"] if any("join(" in p for _, p, _ in cases) else []
    proc = subprocess.run([args.runner, "--data-dir", os.path.join(ROOT, "test/e2e/data"),
                           "--local-workers", "3", "--in-process-workers", "3",
                           "--min-workers", str(args.min_workers)] +
                          joins + [path],
                          env=env, capture_output=True, text=True, errors="replace")
    failures = {}
    for line in proc.stderr.splitlines():
        m = re.match(re.escape(path) + r":(\d+): (.*)", line)
        if m and int(m.group(1)) in lines_to_case:
            failures.setdefault(lines_to_case[int(m.group(1))], m.group(2)[:300])
    if proc.returncode != 0 and not failures:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"difftest: the runner failed on {path}")
    if not keep:
        os.unlink(path)
    return failures


def shrink(args, seed, index, case):
    """The shortest list of the case's verbs that still fails, with its failure."""
    verbs = list(case.verbs)
    pipeline, sql = case.render(verbs)
    failure = run_file(args, seed, [(index, pipeline, sql)], args.keep).get(index)
    if failure is None:
        return verbs, None  # does not repeat alone
    changed = True
    while changed and len(verbs) > 1:
        changed = False
        for i in range(len(verbs)):
            fewer = verbs[:i] + verbs[i + 1:]
            p, s = case.render(fewer)
            f = run_file(args, seed, [(index, p, s)], args.keep).get(index)
            if f is not None:
                verbs, failure, changed = fewer, f, True
                break
    return verbs, failure


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--budget", type=float, default=0, help="stop after this many seconds")
    ap.add_argument("--case", type=int, default=None, help="run this one case of the seed")
    ap.add_argument("--runner", default=os.path.join(ROOT, "build/test/dux_e2e_runner"))
    ap.add_argument("--dux", default=os.path.join(ROOT, "build/dux"))
    ap.add_argument("--keep", default=None, help="keep the generated test files here")
    ap.add_argument("--min-workers", type=int, default=1,
                    help="run on this many workers up to 3 (3: local and 3 workers only)")
    ap.add_argument("--print", action="store_true", help="print the cases, run nothing")
    ap.add_argument("--skip-open", action="store_true",
                    help="leave out the cases of open defects (OPEN_DEFECTS)")
    args = ap.parse_args()
    first, count = (args.case, 1) if args.case is not None else (0, args.cases)
    start = time.monotonic()
    done = skipped = 0
    for at in range(first, first + count, args.batch):
        if args.budget and time.monotonic() - start > args.budget:
            break
        batch = []
        for index in range(at, min(at + args.batch, first + count)):
            pipeline, sql = Case(args.seed, index).render()
            if args.skip_open and any(p(pipeline) for p in OPEN_DEFECTS):
                skipped += 1
                continue
            batch.append((index, pipeline, sql))
        if args.print:
            for index, pipeline, sql in batch:
                print(f"-- case {index}\n{pipeline}\n-- oracle\n{sql}\n")
            continue
        if done:
            print(f"difftest: seed {args.seed}: {done} cases agree so far", flush=True)
        failures = {}
        for joined in (True, False):
            part = [c for c in batch if ("join(" in c[1]) == joined]
            if part:
                failures.update(run_file(args, args.seed, part, args.keep))
        done += len(batch)
        for index in sorted(failures):
            verbs, failure = shrink(args, args.seed, index, Case(args.seed, index))
            pipeline, sql = Case(args.seed, index).render(verbs)
            print(f"difftest: seed {args.seed} case {index} fails: {failure or failures[index]}"
                  f"\n{pipeline}\n-- oracle\n{sql}\n"
                  f"reproduce: test/difftest/difftest.py --seed {args.seed} --case {index}")
            return 1
    elapsed = time.monotonic() - start
    print(f"difftest: seed {args.seed}: {done} cases agree with DuckDB on every executor "
          f"({elapsed:.0f} s)" + (f"; {skipped} skipped as open defects" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
