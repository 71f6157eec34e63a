#!/usr/bin/env python3
"""Times two commands in turn, A B A B ..., and writes hyperfine's JSON shape (each command's
median, mean, min, max and times, in seconds) to --export-json.

Why not hyperfine: it runs all of one command's runs before the other's, so when this
machine's speed drifts (by up to 40% within an hour, BENCHMARKS.md) the drift lands in the
ratio. Alternating puts both commands under the same conditions, pair by pair.

  paired.py --warmup N --runs N --export-json FILE NAME_A 'COMMAND A' NAME_B 'COMMAND B'

Commands are split as a shell splits words (no shell runs them); their output is discarded.
A failed run stops the benchmark with its command and exit status.
"""
import argparse, json, shlex, statistics, subprocess, sys, time

parser = argparse.ArgumentParser()
parser.add_argument("--warmup", type=int, default=1)
parser.add_argument("--runs", type=int, default=5)
parser.add_argument("--export-json", required=True)
parser.add_argument("commands", nargs=4, metavar="NAME_OR_COMMAND")
args = parser.parse_args()
pairs = [(args.commands[0], args.commands[1]), (args.commands[2], args.commands[3])]


def run(command):
    start = time.perf_counter()
    done = subprocess.run(shlex.split(command), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"paired.py: {command!r} exited with {done.returncode}: "
                 f"{done.stderr.decode(errors='replace').strip()}")
    return elapsed


times = {name: [] for name, _ in pairs}
for i in range(args.warmup + args.runs):
    for name, command in pairs:
        elapsed = run(command)
        if i >= args.warmup:
            times[name].append(elapsed)
results = [{"command": name, "median": statistics.median(t), "mean": statistics.mean(t),
            "min": min(t), "max": max(t), "times": t} for name, t in times.items()]
with open(args.export_json, "w") as out:
    json.dump({"results": results}, out)
