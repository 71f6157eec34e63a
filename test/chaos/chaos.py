#!/usr/bin/env python3
"""The chaos campaign (docs/reliability.md, "Chaos campaign"; issue 22 item 1).

Runs queries drawn from the end-to-end corpus's kinds (group-bys with holistic aggregates,
broadcast and shuffle joins, distributed writes, an atomic insert into PostgreSQL) on real
`dux worker` processes joined to a real `dux registry` (or started by a real `dux pool`,
or one of them in a network namespace), injects one fault per trial at a random moment, and
classifies the trial:

  survived    the coordinator exited 0 with exactly the oracle's rows
  clean       it exited non-zero with one error line (the fault's worker named when the
              fault hit a worker), or it was the coordinator that was killed
  wrong       exit 0 with rows that are not the oracle's (and not a subset of them)
  partial     exit 0 with a strict subset of the oracle's rows
  unclear     exit non-zero without a one-line error naming the fault's worker
  hung        still running past the trial's bound (then killed)
  leaked      after the trial (and a lease), a surviving worker still holds a table or a
              running fragment, a write target holds a temporary or partial file,
              PostgreSQL holds a staging table, a process of the trial is still running
              (a pool's workers once the pool is stopped), or its namespace still exists

For the PostgreSQL insert, the rows are those of the target table: all of the oracle's or,
when the run failed, none (a killed coordinator may have moved them in or not).

The oracle is the same pipeline run by `dux run` without workers (single-process DuckDB;
the e2e suite checks that equality against DuckDB's own SQL). A fresh registry and fresh
workers serve every trial, so one trial's damage cannot leak into the next; one private
PostgreSQL server (postgres.py) serves the campaign, a fresh table per trial. Bounded by
--trials and --time-limit; it stops by itself and writes the table (Markdown) to --report.
Everything it starts (processes, namespaces, the server) is removed at the end of each trial
or of the campaign, also on Ctrl-C or SIGTERM. Network namespaces need root (their faults
are left out otherwise); without PostgreSQL the insert is left out.

Usage: test/chaos/chaos.py --dux build/dux --trials 500 --time-limit 3000 --report R.md
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import LEASE_SECONDS, Cluster, PoolCluster, Process, read, run  # noqa: E402
from netns import Namespace  # noqa: E402
from postgres import PgServer  # noqa: E402

OUTCOMES = ["survived", "clean", "wrong", "partial", "unclear", "hung", "leaked"]
TRIAL_BOUND = 60.0  # seconds a coordinator may run before the trial counts as hung
TOKEN = "chaos-t0ken"  # workers and registries off loopback (a namespace) need a token


# --- the corpus ---------------------------------------------------------------------------

def queries(data, pg):
    g = f'from_parquet("{data}/*.parquet")'
    corpus = {
        "holistic_groupby": {
            "pipeline": g + " |> group_by(id1) |> summarise(m: median(v1), "
                        "q: quantile_cont(v3, 0.9), n: count())",
            "args": [], "shuffle": True},
        "count_distinct": {
            "pipeline": g + " |> group_by(id2) |> summarise(d: count(DISTINCT id3), "
                        "s: sum(v1))",
            "args": [], "shuffle": True},
        "broadcast_join": {
            "pipeline": g + " |> join(" + g + " |> group_by(id1) |> summarise(t: sum(v2)), "
                        "on: id1) |> group_by(id4) |> summarise(x: sum(t), n: count())",
            "args": [], "shuffle": False},
        "shuffle_join": {
            "pipeline": g + " |> join(" + g + " |> group_by(id1) |> summarise(t: sum(v2)), "
                        "on: id1) |> group_by(id4) |> summarise(x: sum(t), n: count())",
            "args": ["--broadcast-threshold", "0"], "shuffle": True},
        "write": {
            "pipeline": g + " |> filter(v1 > 2) |> to_parquet(\"{target}\", "
                        "partition_by: [id4])",
            "args": [], "shuffle": False, "write": True},
    }
    if pg:
        # Row-wise up to the insert: the workers insert their own rows (docs/postgres.md,
        # "Distributed inserts"), all or nothing with atomic: true.
        corpus["pg_insert"] = {
            "pipeline": f'attach("pg", "{pg.conninfo()}", type: postgres)\n' + g
                        + " |> filter(v1 > 2) |> select(id1, id4, v1, v3) "
                        "|> insert_into(\"pg.public.{pg_table}\", atomic: true)",
            "args": [], "shuffle": False, "pg": True}
    return corpus


PG_COLUMNS = "id1 text, id4 integer, v1 integer, v3 double precision"


def pg_read_back(pg, table):
    """A PostgreSQL target's rows, summarised like read_back (the oracle of an insert)."""
    rows = pg.sql(f"SELECT count(*), sum(v3), count(DISTINCT id1), sum(v1) FROM {table}")
    return "n,s,k,v\n" + rows + "\n"


def same_rows(got, expected):
    """The one rule's equality (docs/architecture.md section 1): the same header and the same
    rows as a multiset, numbers equal to 1e-9 relative (sums of doubles depend on order)."""
    def rows(text):
        lines = (text or "").splitlines()
        return (lines[:1], sorted(lines[1:]))
    (gh, g), (eh, e) = rows(got), rows(expected)
    if gh != eh or len(g) != len(e):
        return False
    for a, b in zip(g, e):
        fa, fb = a.split(","), b.split(",")
        if len(fa) != len(fb):
            return False
        for x, y in zip(fa, fb):
            if x == y:
                continue
            try:
                fx, fy = float(x), float(y)
            except ValueError:
                return False
            if abs(fx - fy) > 1e-9 * max(abs(fx), abs(fy)):
                return False
    return True


def read_back(dux, target):
    """A write target's rows, summarised (the oracle of a write)."""
    out = run([dux, "run", "--format", "csv",
               f'from_parquet("{target}/**/*.parquet", hive_partitioning: true) '
               "|> summarise(n: count(), s: sum(v3), k: count(DISTINCT id3))"], 120)
    return out.stdout if out.returncode == 0 else None


# --- faults -------------------------------------------------------------------------------
# Each: which queries it applies to, when it strikes (`at`: a random delay after the start,
# or after the first event of that name), what it does, and the coordinator flags it needs.
# `cluster`: "netns" puts worker 0 (the victim) in a network namespace, "pool" runs the
# workers from a `dux pool`.

FAULTS = {
    "kill_worker": {"queries": None, "at": "delay"},
    "kill_bucket_owner": {"queries": "shuffle", "at": "distributed.worker.stop"},
    "kill_writer": {"queries": "write", "at": "partition.start"},
    "stop_worker_timeout": {"queries": None, "at": "delay", "run_args": ["--timeout", "4"]},
    "stop_worker_speculation": {"queries": None, "at": "delay",
                                "run_args": ["--speculation", "on"]},
    "kill_coordinator": {"queries": None, "at": "delay"},
    "restart_registry": {"queries": None, "at": "delay"},
    "temp_dir_full": {"queries": "shuffle", "at": None,
                      "worker_args": ["--memory-limit", "40MB", "--max-temp-size", "2MB"]},
    "memory_limit": {"queries": None, "at": None, "worker_args": ["--memory-limit", "24MB"]},
    # The victim's veth link down (nothing passes either way), up again after 1-5 s or, in
    # half the trials, only once the coordinator has ended.
    "netns_partition": {"queries": None, "at": "delay", "cluster": "netns"},
    # The victim's veth capped at 8 Mbit/s each way with tc tbf, as the query starts.
    "netns_bandwidth": {"queries": None, "at": None, "cluster": "netns"},
    # `kill -9` of the pool its workers came from, a new pool on its port after 0-4 s (the
    # workers' --registry-timeout is 2 s).
    "restart_pool": {"queries": None, "at": "delay", "cluster": "pool"},
}


def applies(fault, name, query):
    want = FAULTS[fault]["queries"]
    return want is None or query.get(want, False)


def wait_event(err_path, event, popen, deadline):
    """Waits until the coordinator's telemetry (stderr) shows `event`; False if it ended."""
    needle = f'"{event}"'
    while time.time() < deadline:
        if needle in read(err_path):
            return True
        if popen.poll() is not None:
            return False
        time.sleep(0.005)
    return False


def error_lines(stderr):
    """stderr without telemetry (JSON lines) and progress: what a user reads as the error."""
    return [l for l in stderr.splitlines() if l.strip() and not l.startswith("{")]


def make_cluster(args, spec, d):
    """The trial's processes; a failure to start them removes what did start."""
    kind = spec.get("cluster")
    if kind == "pool":
        cluster = PoolCluster(args.dux, d, 3, spec.get("worker_args", []))
    else:
        cluster = Cluster(args.dux, d, 3, spec.get("worker_args", []),
                          Namespace() if kind == "netns" else None)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def strike(fault, rng, cluster, coordinator):
    """Injects the fault; the victim worker (a Process) or None, and what undoes the fault
    at the trial's end (or None)."""
    if fault in ("kill_worker", "kill_bucket_owner", "kill_writer"):
        victim = rng.choice(cluster.workers)
        victim.kill()
        return victim, None
    if fault.startswith("stop_worker"):
        victim = rng.choice(cluster.workers)
        victim.signal(signal.SIGSTOP)
        return victim, lambda: victim.signal(signal.SIGCONT)  # then leftovers are checked
    if fault == "kill_coordinator":
        coordinator.kill()
    elif fault == "restart_registry":
        cluster.restart_registry()
    elif fault == "restart_pool":
        cluster.restart_pool(rng.uniform(0, 4))
    elif fault == "netns_partition":
        cluster.namespace.cut()
        healed = threading.Event()
        lock = threading.Lock()

        def heal():  # once: by the timer or at the trial's end, whichever is first
            with lock:
                if not healed.is_set():
                    healed.set()
                    cluster.namespace.heal()
        if rng.random() < 0.5:
            timer = threading.Timer(rng.uniform(1, 5), heal)
            timer.daemon = True
            timer.start()
        return cluster.workers[0], heal
    elif fault == "netns_bandwidth":
        cluster.namespace.squeeze("8mbit")
        return cluster.workers[0], None
    return None, None


def pg_outcome(pg, table, expected, code, killed):
    """An atomic insert's outcome from its target, which must hold all of the oracle's rows
    or none (docs/postgres.md); None when the run failed and nothing went in (then its error
    decides, as for any failed run)."""
    got = pg_read_back(pg, table)
    n = int(got.splitlines()[1].split(",")[0])
    expected_n = int(expected.splitlines()[1].split(",")[0])
    complete = same_rows(got, expected)
    detail = f"the target holds {n} rows, the oracle {expected_n}"
    if code == 0:
        outcome = "survived" if complete else "partial" if n < expected_n else "wrong"
    elif complete:
        outcome = None if killed else "wrong"  # a failed run whose rows were moved in
    else:
        outcome = None if n == 0 else "partial"
    return outcome, detail


def classify(args, fault, query, expected, code, hung, killed, out, err, victim, target, pg,
             pg_table):
    """The trial's outcome before leftovers are counted, and what to say about it."""
    if query.get("pg") and not hung:
        outcome, detail = pg_outcome(pg, pg_table, expected, code, killed)
        if outcome:
            return outcome, "" if outcome == "survived" else detail
    else:
        detail = ""
    if hung:
        return "hung", detail
    if killed:
        return "clean", detail
    if code == 0:
        got = read_back(args.dux, target) if query.get("write") else out
        if same_rows(got, expected):
            return "survived", ""
        got_rows = set((got or "").splitlines()[1:])
        expected_rows = set(expected.splitlines()[1:])
        outcome = "partial" if got_rows < expected_rows else "wrong"
        return outcome, f"got {len(got_rows)} rows, expected {len(expected_rows)}"
    lines = error_lines(err)
    one_line = len(lines) == 1 and lines[0].startswith("dux: ")
    named = victim is None or victim.address in (lines[0] if lines else "")
    if fault in ("temp_dir_full", "memory_limit"):
        named = one_line and "worker" in lines[0]
    if fault in ("restart_registry", "restart_pool"):
        named = True
    detail = (" | ".join(lines)[:300] + " " + detail).strip()
    if victim is not None:
        detail = f"(fault on {victim.address}) " + detail
    return ("clean" if one_line and named else "unclear"), detail


def leftovers_after(fault, query, outcome, cluster, coordinator, target, pg):
    """What the trial left behind ('' when nothing): tables and fragments on the surviving
    workers (within three leases and a margin), temporary or partial files in the write
    target, staging tables in PostgreSQL, processes, and (once the cluster is stopped, which
    this does) the trial's network namespace."""
    deadline = time.time() + LEASE_SECONDS * 3 + 5
    while True:
        leak = cluster.leftovers()
        if query.get("pg") and pg.staging_tables():
            leak += f" staging tables: {pg.staging_tables()[:3]}"
        if not leak or time.time() > deadline:
            break
        time.sleep(0.2)
    if query.get("write") and os.path.isdir(target):
        names = [os.path.join(r, f) for r, _, fs in os.walk(target) for f in fs]
        temporary = [p for p in names if ".dux-tmp" in p]
        if temporary:
            leak += f" temporary files: {temporary[:3]}"
        if outcome in ("clean", "unclear") and fault != "kill_coordinator" and names:
            leak += f" files of a failed write: {names[:3]}"
    if coordinator.alive():
        leak += f" {coordinator.name} still running"
    leak += cluster.processes_left()
    cluster.stop()
    if cluster.namespace_left():
        leak += " left: " + cluster.namespace_left()
    return leak.strip()


def trial(args, rng, corpus, oracles, healthy, fault, qname, n, base, pg):
    d = tempfile.mkdtemp(prefix=f"t{n:04d}-", dir=base)
    spec = FAULTS[fault]
    query = corpus[qname]
    cluster = None
    pg_table = f"chaos_{n:04d}"
    try:
        cluster = make_cluster(args, spec, d)
        target = os.path.join(d, "target")
        pipeline = query["pipeline"].replace("{target}", target).replace("{pg_table}", pg_table)
        if query.get("pg"):
            pg.sql(f"CREATE TABLE {pg_table} ({PG_COLUMNS})")
        argv = ([args.dux, "run"] + cluster.coordinator_args() + ["--telemetry", "--format",
                "csv", "--quiet"] + query["args"] + spec.get("run_args", []) + [pipeline])
        coordinator = Process(argv, d, "coordinator")
        started = time.time()
        if spec["at"] == "delay":
            time.sleep(rng.uniform(0, healthy[qname]))
        elif spec["at"]:
            wait_event(coordinator.err_path, spec["at"], coordinator.popen, started + TRIAL_BOUND)
            time.sleep(rng.uniform(0, 0.05))
        struck = time.time() - started
        victim, undo = strike(fault, rng, cluster, coordinator)
        try:
            code = coordinator.popen.wait(max(1, TRIAL_BOUND - (time.time() - started)))
            hung = False
        except subprocess.TimeoutExpired:
            coordinator.kill()
            code, hung = None, True
        elapsed = time.time() - started
        if undo:
            undo()  # a stopped worker goes on, a cut link comes back; leftovers then checked
        coordinator.out.close()
        coordinator.err.close()
        killed = fault == "kill_coordinator" and code == -signal.SIGKILL
        outcome, detail = classify(args, fault, query, oracles[qname], code, hung, killed,
                                   read(coordinator.out_path), read(coordinator.err_path),
                                   victim, target, pg, pg_table)
        leak = leftovers_after(fault, query, outcome, cluster, coordinator, target, pg)
        if leak and outcome in ("survived", "clean"):
            detail = (detail + " leak: " + leak)[:600]
            outcome = "leaked"
        if outcome not in ("survived", "clean"):
            detail = f"(struck at {struck:.2f} s, exit {code}) " + detail
        return outcome, elapsed, detail
    finally:
        if cluster:
            cluster.stop()
        if query.get("pg"):
            pg.sql(f"DROP TABLE IF EXISTS {pg_table}", check=False)
            pg.drop_staging_tables()  # counted above; the next trial starts clean
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)


def oracle_of(args, name, q, base, pg):
    """The pipeline's rows run by `dux run` without workers, and how long that took."""
    start = time.time()
    if q.get("write"):
        target = os.path.join(base, "oracle-" + name)
        r = run([args.dux, "run", q["pipeline"].replace("{target}", target)], 300)
        oracle = read_back(args.dux, target) if r.returncode == 0 else None
    elif q.get("pg"):
        pg.sql(f"CREATE TABLE oracle ({PG_COLUMNS})")
        r = run([args.dux, "run", q["pipeline"].replace("{pg_table}", "oracle")], 300)
        oracle = pg_read_back(pg, "oracle") if r.returncode == 0 else None
        pg.sql("DROP TABLE oracle")
    else:
        r = run([args.dux, "run", "--format", "csv", q["pipeline"]], 300)
        oracle = r.stdout if r.returncode == 0 else None
    if oracle is None:
        sys.exit(f"chaos: the oracle of {name} failed: {r.stderr}")
    return oracle, max(0.2, time.time() - start)  # a random fault strikes within this


def stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt  # runs every `finally`: processes, namespaces, the server go


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dux", required=True)
    p.add_argument("--trials", type=int, default=500)
    p.add_argument("--time-limit", type=float, default=3000, help="seconds for the campaign")
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--rows", type=int, default=400000)
    p.add_argument("--faults", default=",".join(FAULTS), help="comma-separated fault kinds")
    p.add_argument("--report", default="chaos-report.md")
    p.add_argument("--keep", action="store_true", help="keep each trial's directory")
    p.add_argument("--no-postgres", action="store_true", help="leave out the PostgreSQL insert")
    p.add_argument("--queries", help="comma-separated query kinds (default: all)")
    args = p.parse_args()
    faults = args.faults.split(",")
    for f in faults:
        if f not in FAULTS:
            sys.exit(f"chaos: unknown fault kind {f!r} (known: {', '.join(FAULTS)})")
    if os.geteuid() != 0 and any(FAULTS[f].get("cluster") == "netns" for f in faults):
        print("chaos: not root: leaving out the network namespace faults", file=sys.stderr)
        faults = [f for f in faults if FAULTS[f].get("cluster") != "netns"]
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    os.environ["DUX_TOKEN"] = TOKEN
    rng = random.Random(args.seed)
    base = tempfile.mkdtemp(prefix="dux-chaos-")
    pg = None
    try:
        if not args.no_postgres:
            pg = PgServer()
            try:
                pg.start()
            except RuntimeError as e:
                print(f"chaos: no PostgreSQL, leaving out its insert: {e}", file=sys.stderr)
                pg.stop()
                pg = None
        data = os.path.join(base, "data")
        gen = run([args.dux, "generate", "groupby", "--rows", str(args.rows), "--files", "6",
                   "--out", data], 300)
        if gen.returncode != 0:
            sys.exit("chaos: cannot generate data: " + gen.stderr)
        corpus = queries(data, pg)
        if args.queries:
            wanted = args.queries.split(",")
            for q in wanted:
                if q not in corpus:
                    sys.exit(f"chaos: unknown or unavailable query kind {q!r} "
                             f"(known: {', '.join(corpus)})")
            corpus = {q: corpus[q] for q in wanted}
        oracles, healthy = {}, {}
        for name, q in corpus.items():
            oracles[name], healthy[name] = oracle_of(args, name, q, base, pg)
        campaign(args, rng, faults, corpus, oracles, healthy, base, pg)
    finally:
        if pg:
            pg.stop()
        if args.keep:
            print(f"chaos: the trials' directories are in {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


def campaign(args, rng, faults, corpus, oracles, healthy, base, pg):
    tally = defaultdict(Counter)
    examples = defaultdict(list)
    began = time.time()
    n = 0
    while n < args.trials and time.time() - began < args.time_limit:
        fault = faults[n % len(faults)]
        candidates = [q for q in corpus if applies(fault, q, corpus[q])]
        if not candidates:
            sys.exit(f"chaos: no query kind of --queries for the fault {fault}")
        qname = rng.choice(candidates)
        outcome, elapsed, detail = trial(args, rng, corpus, oracles, healthy, fault, qname, n,
                                         base, pg)
        tally[fault][outcome] += 1
        if outcome not in ("survived", "clean") and len(examples[fault]) < 3:
            examples[fault].append(f"{qname}: {outcome}: {detail}")
        print(json.dumps({"trial": n, "fault": fault, "query": qname, "outcome": outcome,
                          "seconds": round(elapsed, 2), "detail": detail}), flush=True)
        n += 1

    total = Counter()
    lines = [f"Chaos campaign: {n} trials, seed {args.seed}, {round(time.time() - began)} s.",
             "", "| fault | trials | " + " | ".join(OUTCOMES) + " |",
             "|---|---|" + "---|" * len(OUTCOMES)]
    for fault in faults:
        c = tally[fault]
        total.update(c)
        lines.append(f"| {fault} | {sum(c.values())} | "
                     + " | ".join(str(c[o]) for o in OUTCOMES) + " |")
    lines.append(f"| all | {sum(total.values())} | "
                 + " | ".join(str(total[o]) for o in OUTCOMES) + " |")
    for fault, ex in examples.items():
        lines += ["", f"{fault}:"] + [f"- {e}" for e in ex]
    with open(args.report, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    bad = sum(total[o] for o in ("wrong", "partial", "leaked", "hung"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
