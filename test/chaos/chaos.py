#!/usr/bin/env python3
"""The chaos campaign (docs/reliability.md, "Chaos campaign"; issue 22 item 1).

Runs queries drawn from the end-to-end corpus's kinds (group-bys with holistic aggregates,
broadcast and shuffle joins, distributed writes) on real `dux worker` processes joined to a
real `dux registry`, injects one fault per trial at a random moment, and classifies the
trial:

  survived    the coordinator exited 0 with exactly the oracle's rows
  clean       it exited non-zero with one error line (the fault's worker named when the
              fault hit a worker), or it was the coordinator that was killed
  wrong       exit 0 with rows that are not the oracle's (and not a subset of them)
  partial     exit 0 with a strict subset of the oracle's rows
  unclear     exit non-zero without a one-line error naming the fault's worker
  hung        still running past the trial's bound (then killed)
  leaked      after the trial (and a lease), a surviving worker still holds a table or a
              running fragment, a write target holds a temporary or partial file, or a
              process of the trial is still running

The oracle is the same pipeline run by `dux run` without workers (single-process DuckDB;
the e2e suite checks that equality against DuckDB's own SQL). A fresh registry and fresh
workers serve every trial, so one trial's damage cannot leak into the next. Bounded by
--trials and --time-limit; it stops by itself and writes the table (Markdown) to --report.

Usage: test/chaos/chaos.py --dux build/dux --trials 500 --time-limit 3000 --report R.md
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict

OUTCOMES = ["survived", "clean", "wrong", "partial", "unclear", "hung", "leaked"]
LEASE_SECONDS = 2.0  # workers' --lease-timeout: a dead coordinator's leftovers go this fast
TRIAL_BOUND = 60.0  # seconds a coordinator may run before the trial counts as hung


class Process:
    """A child with its output in files; killed (group and all) when the trial ends."""

    def __init__(self, argv, directory, name, stdout_pipe=False):
        self.name = name
        self.err_path = os.path.join(directory, name + ".err")
        self.out_path = os.path.join(directory, name + ".out")
        self.err = open(self.err_path, "wb")
        self.out = subprocess.PIPE if stdout_pipe else open(self.out_path, "wb")
        self.popen = subprocess.Popen(argv, stdout=self.out, stderr=self.err,
                                      stdin=subprocess.DEVNULL, start_new_session=True)

    def first_line(self, timeout):
        """The first stdout line (a server's `listening HOST:PORT`), or None."""
        deadline = time.time() + timeout
        line = b""
        os.set_blocking(self.popen.stdout.fileno(), False)
        while time.time() < deadline:
            chunk = self.popen.stdout.read(1) if self.popen.poll() is None else b""
            if chunk:
                if chunk == b"\n":
                    return line.decode()
                line += chunk
            else:
                if self.popen.poll() is not None:
                    return None
                time.sleep(0.01)
        return None

    def signal(self, sig):
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(sig)
            except ProcessLookupError:
                pass

    def kill(self):
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def alive(self):
        return self.popen.poll() is None


class Cluster:
    """A registry and its workers for one trial."""

    def __init__(self, dux, directory, n_workers, worker_args):
        self.dux, self.dir = dux, directory
        self.registry = None
        self.registry_address = None
        self.workers = []  # Process, with .address
        self.start_registry()
        for i in range(n_workers):
            w = Process([dux, "worker", "--listen", "127.0.0.1:0", "--threads", "1",
                         "--join", self.registry_address, "--lease-timeout",
                         str(LEASE_SECONDS), "--temp-dir", os.path.join(directory, f"tmp-{i}")]
                        + worker_args, directory, f"worker-{i}", stdout_pipe=True)
            line = w.first_line(30)
            if not line or not line.startswith("listening "):
                raise RuntimeError(f"worker {i} did not start: {read(w.err_path)}")
            w.address = line.split(" ", 1)[1]
            self.workers.append(w)
        self.wait_joined(len(self.workers))

    def start_registry(self, port=0):
        r = Process([self.dux, "registry", "--listen", f"127.0.0.1:{port}"], self.dir,
                    f"registry-{time.time_ns()}", stdout_pipe=True)
        line = r.first_line(30)
        if not line or not line.startswith("listening "):
            raise RuntimeError("registry did not start: " + read(r.err_path))
        self.registry = r
        self.registry_address = line.split(" ", 1)[1]

    def restart_registry(self):
        port = self.registry_address.rsplit(":", 1)[1]
        self.registry.kill()
        time.sleep(0.3)
        self.start_registry(port)

    def wait_joined(self, n, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            out = run([self.dux, "workers", "--registry", self.registry_address], 30)
            if out.returncode == 0 and out.stdout.count("127.0.0.1:") >= n:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{n} workers did not join the registry")

    def live_workers(self):
        return [w for w in self.workers if w.alive()]

    def leftovers(self):
        """What the live workers still hold: '' when nothing, else `dux workers`' text."""
        live = self.live_workers()
        if not live:
            return ""
        out = run([self.dux, "workers", "--workers", ",".join(w.address for w in live)], 30)
        if out.returncode != 0:
            return "dux workers failed: " + out.stderr.strip()
        held = "__dux_" in out.stdout or re.search(r"running \[q", out.stdout)
        return out.stdout if held else ""

    def stop(self):
        for w in self.workers:
            w.kill()
        if self.registry:
            self.registry.kill()


def read(path):
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def run(argv, timeout):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(argv, -1, e.stdout or "", "timed out")


# --- the corpus ---------------------------------------------------------------------------

def queries(data):
    g = f'from_parquet("{data}/*.parquet")'
    return {
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


def trial(args, rng, corpus, oracles, healthy, fault, qname, n, base):
    d = tempfile.mkdtemp(prefix=f"t{n:04d}-", dir=base)
    spec = FAULTS[fault]
    query = corpus[qname]
    cluster = None
    detail = ""
    try:
        cluster = Cluster(args.dux, d, 3, spec.get("worker_args", []))
        target = os.path.join(d, "target")
        pipeline = query["pipeline"].replace("{target}", target)
        argv = ([args.dux, "run", "--registry", cluster.registry_address, "--telemetry",
                 "--format", "csv", "--quiet"] + query["args"] + spec.get("run_args", [])
                + [pipeline])
        coordinator = Process(argv, d, "coordinator")
        started = time.time()
        victim = None
        if spec["at"] == "delay":
            time.sleep(rng.uniform(0, healthy[qname]))
        elif spec["at"]:
            wait_event(coordinator.err_path, spec["at"], coordinator.popen, started + TRIAL_BOUND)
            time.sleep(rng.uniform(0, 0.05))
        if fault in ("kill_worker", "kill_bucket_owner", "kill_writer"):
            victim = rng.choice(cluster.workers)
            victim.kill()
        elif fault.startswith("stop_worker"):
            victim = rng.choice(cluster.workers)
            victim.signal(signal.SIGSTOP)
        elif fault == "kill_coordinator":
            coordinator.kill()
        elif fault == "restart_registry":
            cluster.restart_registry()
        try:
            code = coordinator.popen.wait(max(1, TRIAL_BOUND - (time.time() - started)))
            hung = False
        except subprocess.TimeoutExpired:
            coordinator.kill()
            code, hung = None, True
        elapsed = time.time() - started
        if victim is not None:
            victim.signal(signal.SIGCONT)  # a stopped worker recovers; leftovers are then checked
        coordinator.out.close()
        coordinator.err.close()
        out, err = read(coordinator.out_path), read(coordinator.err_path)

        if hung:
            outcome = "hung"
        elif fault == "kill_coordinator" and code == -signal.SIGKILL:
            outcome = "clean"
        elif code == 0:
            got = read_back(args.dux, target) if query.get("write") else out
            expected = oracles[qname]
            if same_rows(got, expected):
                outcome = "survived"
            else:
                got_rows = set((got or "").splitlines()[1:])
                expected_rows = set(expected.splitlines()[1:])
                outcome = "partial" if got_rows < expected_rows else "wrong"
                detail = f"got {len(got_rows)} rows, expected {len(expected_rows)}"
        else:
            lines = error_lines(err)
            one_line = len(lines) == 1 and lines[0].startswith("dux: ")
            named = victim is None or victim.address in (lines[0] if lines else "")
            if fault in ("temp_dir_full", "memory_limit", "restart_registry"):
                named = one_line and "worker" in lines[0] or fault == "restart_registry"
            outcome = "clean" if one_line and named else "unclear"
            detail = " | ".join(lines)[:300]
            if victim is not None:
                detail = f"(fault on {victim.address}) " + detail

        # What is left behind: tables and fragments on the surviving workers (within a lease
        # and a margin), temporary or partial files in the write target, processes.
        leak = ""
        deadline = time.time() + LEASE_SECONDS * 3 + 5
        while True:
            leak = cluster.leftovers()
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
        for p in [coordinator] + ([victim] if victim else []):
            if p.alive() and p is not victim:
                leak += f" {p.name} still running"
        if leak and outcome in ("survived", "clean"):
            detail = (detail + " leak: " + leak.strip())[:400]
            outcome = "leaked"
        return outcome, elapsed, detail
    finally:
        if cluster:
            cluster.stop()
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)


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
    args = p.parse_args()
    faults = args.faults.split(",")
    for f in faults:
        if f not in FAULTS:
            sys.exit(f"chaos: unknown fault kind {f!r} (known: {', '.join(FAULTS)})")
    rng = random.Random(args.seed)
    base = tempfile.mkdtemp(prefix="dux-chaos-")
    data = os.path.join(base, "data")
    gen = run([args.dux, "generate", "groupby", "--rows", str(args.rows), "--files", "6",
               "--out", data], 300)
    if gen.returncode != 0:
        sys.exit("chaos: cannot generate data: " + gen.stderr)
    corpus = queries(data)
    oracles, healthy = {}, {}
    for name, q in corpus.items():
        start = time.time()
        if q.get("write"):
            target = os.path.join(base, "oracle-" + name)
            r = run([args.dux, "run", q["pipeline"].replace("{target}", target)], 300)
            oracle = read_back(args.dux, target) if r.returncode == 0 else None
        else:
            r = run([args.dux, "run", "--format", "csv", q["pipeline"]], 300)
            oracle = r.stdout if r.returncode == 0 else None
        if oracle is None:
            sys.exit(f"chaos: the oracle of {name} failed: {r.stderr}")
        oracles[name] = oracle
        healthy[name] = max(0.2, time.time() - start)  # a random fault strikes within this

    tally = defaultdict(Counter)
    examples = defaultdict(list)
    began = time.time()
    n = 0
    while n < args.trials and time.time() - began < args.time_limit:
        fault = faults[n % len(faults)]
        candidates = [q for q in corpus if applies(fault, q, corpus[q])]
        qname = rng.choice(candidates)
        outcome, elapsed, detail = trial(args, rng, corpus, oracles, healthy, fault, qname, n, base)
        tally[fault][outcome] += 1
        if outcome not in ("survived", "clean") and len(examples[fault]) < 3:
            examples[fault].append(f"{qname}: {outcome}: {detail}")
        print(json.dumps({"trial": n, "fault": fault, "query": qname, "outcome": outcome,
                          "seconds": round(elapsed, 2), "detail": detail}), flush=True)
        n += 1
    shutil.rmtree(base, ignore_errors=True)

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
