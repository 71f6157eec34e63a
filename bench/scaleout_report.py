#!/usr/bin/env python3
"""The two halves of bench/scaleout.sh that are easier in Python.

  scaleout_report.py timeline FILE -- COMMAND...
      Runs a `dux run --telemetry` COMMAND, stamps each telemetry line of its stderr with the
      time it arrived (the events carry no time of their own) and writes FILE (JSON): the
      whole run's wall time, the time outside every worker stage (the coordinator's serial
      part: start-up, planning, the gaps between stages, the final query on the coordinator,
      exit), the part of it before the first stage, and the coordinator's CPU time.

  scaleout_report.py table DIR --cpu CORES --rate-bits BITS --runs N
      Prints the markdown tables of BENCHMARKS.md from what bench/scaleout.sh left in DIR:
      per question SET-NAME, NAME.json (bench/paired.py: k1, k2, k4), NAME.before and
      NAME.after (each worker's counters around the measured runs) and NAME.k1.timeline,
      NAME.k4.timeline.

Workers 1, 2-3 and 4-7 are the groups of k = 1, 2 and 4 (bench/scaleout.sh starts them in
that order).
"""
import argparse, json, math, os, resource, subprocess, sys, time

GROUPS = {1: [1], 2: [2, 3], 4: [4, 5, 6, 7]}


def timeline(path, command):
    start, cpu = time.perf_counter(), children_cpu()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stamped, other = [], []
    for line in child.stderr:
        if line.startswith("{"):
            stamped.append((time.perf_counter() - start, json.loads(line)))
        else:
            other.append(line)
    code = child.wait()
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu
    if code != 0:
        sys.exit(f"scaleout_report.py: {command!r} exited with {code}: {''.join(other).strip()}")
    # The union of the workers' stages (every kind but `final`, the coordinator's own query);
    # a broadcast's stages nest inside it, so intervals are merged.
    open_at, intervals = {}, []
    for t, e in stamped:
        meta = e.get("metadata", {})
        if meta.get("kind") == "final":
            continue
        if e["event"] == "stage.start":
            open_at[meta["stage"]] = t
        elif e["event"] == "stage.stop" and meta["stage"] in open_at:
            intervals.append((open_at.pop(meta["stage"]), t))
    covered, end = 0.0, 0.0
    for a, b in sorted(intervals):
        a = max(a, end)
        if b > a:
            covered += b - a
            end = b
    first = min((a for a, _ in intervals), default=wall)
    with open(path, "w") as out:
        json.dump({"wall": wall, "serial": wall - covered, "before_stages": first, "cpu": cpu},
                  out)


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def counters(path):
    """{worker: {name: value}} from a counters file of bench/scaleout.sh."""
    result = {}
    for line in open(path):
        fields = dict(f.split("=", 1) for f in line.split())
        result[int(fields["worker"])] = {k: float(v) for k, v in fields.items()}
    return result


def geomean(values):
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def table(directory, cpu, rate_bits, runs):
    # A question whose measured runs did not finish (an interrupted run) is left out; one
    # without its telemetry runs shows "-" for what they give.
    names = sorted((f[:-5] for f in os.listdir(directory)
                    if f.endswith(".json") and os.path.exists(f"{directory}/{f[:-5]}.after")),
                   key=lambda n: (n.split("-")[0] != "groupby", int(n.split("-q")[1])))
    rows = []
    for name in names:
        base = os.path.join(directory, name)
        results = {r["command"]: r for r in json.load(open(base + ".json"))["results"]}
        before, after = counters(base + ".before"), counters(base + ".after")
        delta = {w: {k: after[w][k] - before[w][k] for k in after[w]} for w in after}
        row = {"set": name.split("-")[0], "name": name.split("-")[1]}
        for k, group in GROUPS.items():
            r = results[f"k{k}"]
            busy = sum(r["times"])  # wall time of the group's measured runs
            usage = [delta[w]["usage"] / 1e9 for w in group]
            row[f"T{k}"] = r["median"]
            row[f"cpu{k}"] = sum(usage) / runs
            row[f"quota_used{k}"] = sum(usage) / (k * cpu * busy)
            row[f"peak_rate{k}"] = max(usage) / busy
            periods = sum(delta[w]["nr_periods"] for w in group)
            row[f"throttled{k}"] = sum(delta[w]["nr_throttled"] for w in group) / max(periods, 1)
            row[f"sent{k}"] = sum(delta[w]["sent"] for w in group) / runs
            row[f"received{k}"] = sum(delta[w]["received"] for w in group) / runs
            # The busiest direction of one link: no run can be shorter than its bytes at the cap.
            row[f"floor{k}"] = max(max(delta[w]["sent"], delta[w]["received"]) for w in group) \
                / runs * 8 / rate_bits
        for k in (2, 4):
            row[f"E{k}"] = row["T1"] / (k * row[f"T{k}"])
        # T(k) is about CPU(k) / (k * cpu * used(k)), so E(4) is about the product of two
        # factors: the workers' total CPU growing with k, and their quota left idle growing.
        row["work4"] = row["cpu1"] / row["cpu4"]
        row["busy4"] = row["quota_used4"] / row["quota_used1"]
        timelines = [f"{base}.k{k}.timeline" for k in (1, 4)]
        if all(os.path.exists(t) for t in timelines):
            t1, t4 = (json.load(open(t)) for t in timelines)
            row["serial"] = f"{t1['serial']:.3f} / {t4['serial']:.3f}"
            row["before"] = f"{t1['before_stages']:.3f} / {t4['before_stages']:.3f}"
            row["coordinator_cpu"] = f"{t1['cpu']:.2f} / {t4['cpu']:.2f}"
            # Efficiency of the part the workers run, the coordinator's serial part taken out.
            parallel1, parallel4 = row["T1"] - t1["serial"], row["T4"] - t4["serial"]
            row["E4_workers"] = f"{parallel1 / (4 * parallel4):.2f}" if parallel4 > 0 else "-"
        else:
            row["serial"] = row["before"] = row["coordinator_cpu"] = row["E4_workers"] = "-"
        rows.append(row)

    print("| question | T(1) (s) | T(2) (s) | T(4) (s) | E(2) | E(4) |")
    print("|---|---|---|---|---|---|")
    for set_name in ("groupby", "join"):
        chosen = [r for r in rows if r["set"] == set_name]
        for r in chosen:
            print(f"| {r['set']} {r['name']} | {r['T1']:.3f} | {r['T2']:.3f} | {r['T4']:.3f} "
                  f"| {r['E2']:.2f} | {r['E4']:.2f} |")
        if chosen:
            g = {key: geomean([r[key] for r in chosen]) for key in ("T1", "T2", "T4", "E2", "E4")}
            print(f"| **{set_name} geometric mean** | {g['T1']:.3f} | {g['T2']:.3f} | {g['T4']:.3f} "
                  f"| **{g['E2']:.2f}** | **{g['E4']:.2f}** |")
    print()
    print("| question | worker CPU per run, k=1 / 2 / 4 (s) | quota used, k=1 / 2 / 4 "
          "| throttled periods, k=4 | MB sent / received by the workers, k=4 "
          "| link floor, k=4 (s) | coordinator serial, k=1 / 4 (s) "
          "| of it before the first stage, k=1 / 4 (s) | coordinator CPU, k=1 / 4 (s) "
          "| E(4) of the workers' part | E(4) factors: CPU(1) / CPU(4), used(4) / used(1) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} {r['name']} | {r['cpu1']:.2f} / {r['cpu2']:.2f} / {r['cpu4']:.2f} "
              f"| {r['quota_used1']:.2f} / {r['quota_used2']:.2f} / {r['quota_used4']:.2f} "
              f"| {100 * r['throttled4']:.0f}% "
              f"| {r['sent4'] / 1e6:.1f} / {r['received4'] / 1e6:.1f} | {r['floor4']:.3f} "
              f"| {r['serial']} | {r['before']} | {r['coordinator_cpu']} | {r['E4_workers']} "
              f"| {r['work4']:.2f} x {r['busy4']:.2f} |")
    peak = max(r[f"peak_rate{k}"] for r in rows for k in GROUPS)
    verdict = "holds" if peak <= cpu * 1.05 else "DID NOT HOLD"
    print()
    print(f"Quota check: the busiest worker used {peak:.3f} cores averaged over a question's "
          f"runs (quota {cpu}): the quota {verdict}.")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "timeline":
        if len(sys.argv) < 5 or sys.argv[3] != "--":
            sys.exit("usage: scaleout_report.py timeline FILE -- COMMAND...")
        timeline(sys.argv[2], sys.argv[4:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["table"])
    parser.add_argument("directory")
    parser.add_argument("--cpu", type=float, required=True)
    parser.add_argument("--rate-bits", type=float, required=True)
    parser.add_argument("--runs", type=int, required=True)
    args = parser.parse_args()
    table(args.directory, args.cpu, args.rate_bits, args.runs)


if __name__ == "__main__":
    main()
