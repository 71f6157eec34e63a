#!/usr/bin/env python3
"""Times two or more commands in turn, A B A B ... (or A B C A B C ...), and writes
hyperfine's JSON shape (each command's median, mean, min, max and times, in seconds) to
--export-json.

Why not hyperfine: it runs all of one command's runs before the other's, so when this
machine's speed drifts (by up to 40% within an hour, BENCHMARKS.md) the drift lands in the
ratio. Alternating puts all commands under the same conditions, round by round.

  paired.py --warmup N --runs N --export-json FILE NAME_A 'COMMAND A' NAME_B 'COMMAND B' ...
  paired.py ... --cpu-of PID ...   also the CPU seconds of process PID (a server the commands
                                   talk to) during each run, and the commands' own

Commands are split as a shell splits words (no shell runs them); their output is discarded.
A failed run stops the benchmark with its command and exit status. With --cpu-of, each
command's result also carries "cpu" (median CPU seconds, user + system, of the command and
its children) and "cpu_of_pid" (median CPU seconds PID spent during the command's runs, from
/proc/PID/stat).
"""
import argparse, json, os, resource, shlex, statistics, subprocess, sys, time

parser = argparse.ArgumentParser()
parser.add_argument("--warmup", type=int, default=1)
parser.add_argument("--runs", type=int, default=5)
parser.add_argument("--export-json", required=True)
parser.add_argument("--cpu-of", type=int, metavar="PID")
parser.add_argument("commands", nargs="+", metavar="NAME_OR_COMMAND")
args = parser.parse_args()
if len(args.commands) < 4 or len(args.commands) % 2:
    parser.error("give NAME COMMAND pairs, at least two")
pairs = list(zip(args.commands[0::2], args.commands[1::2]))
TICK = os.sysconf("SC_CLK_TCK")


def pid_cpu():
    """CPU seconds (user + system) that process --cpu-of has used so far."""
    with open(f"/proc/{args.cpu_of}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime and stime, fields 14 and 15


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(command):
    """(wall seconds, the command's CPU seconds, --cpu-of's CPU seconds) of one run."""
    own, server = children_cpu(), pid_cpu() if args.cpu_of else 0.0
    start = time.perf_counter()
    done = subprocess.run(shlex.split(command), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"paired.py: {command!r} exited with {done.returncode}: "
                 f"{done.stderr.decode(errors='replace').strip()}")
    return (elapsed, children_cpu() - own,
            (pid_cpu() - server) if args.cpu_of else 0.0)


times = {name: [] for name, _ in pairs}
for i in range(args.warmup + args.runs):
    for name, command in pairs:
        measured = run(command)
        if i >= args.warmup:
            times[name].append(measured)
results = []
for name, measured in times.items():
    t = [m[0] for m in measured]
    result = {"command": name, "median": statistics.median(t), "mean": statistics.mean(t),
              "min": min(t), "max": max(t), "times": t}
    if args.cpu_of:
        result["cpu"] = statistics.median(m[1] for m in measured)
        result["cpu_of_pid"] = statistics.median(m[2] for m in measured)
    results.append(result)
with open(args.export_json, "w") as out:
    json.dump({"results": results}, out)
