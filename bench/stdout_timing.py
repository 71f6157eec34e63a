#!/usr/bin/env python3
"""Times two commands that write to stdout, in turn (A B A B ...), reading their output
through a pipe as a consumer would: the time to the first byte and the total time (until
the command has exited and its output is drained), and checks that both wrote the same
number of bytes. Prints one markdown row (medians) for bench/stdout.sh.

  stdout_timing.py --warmup N --runs N --name NAME -- BASELINE ARGS... -- DUX ARGS...

Alternating puts both commands under the machine's same conditions, pair by pair (see
bench/paired.py). A failed run stops the benchmark with its command and exit status.
"""
import argparse, statistics, subprocess, sys, time

parser = argparse.ArgumentParser()
parser.add_argument("--warmup", type=int, default=1)
parser.add_argument("--runs", type=int, default=5)
parser.add_argument("--name", required=True)
parser.add_argument("rest", nargs=argparse.REMAINDER)
args = parser.parse_args()
rest = args.rest[1:] if args.rest and args.rest[0] == "--" else args.rest
split = rest.index("--")
commands = {"duckdb": rest[:split], "dux": rest[split + 1:]}


def run(argv):
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    first = None
    total_bytes = 0
    while True:
        block = child.stdout.read(1 << 16)
        if not block:
            break
        if first is None:
            first = time.perf_counter() - start
        total_bytes += len(block)
    err = child.stderr.read()
    code = child.wait()
    elapsed = time.perf_counter() - start
    if code != 0:
        sys.exit(f"stdout_timing.py: {argv!r} exited with {code}: {err.decode(errors='replace')}")
    return first if first is not None else elapsed, elapsed, total_bytes


results = {name: ([], [], set()) for name in commands}
for i in range(args.warmup + args.runs):
    for name, argv in commands.items():
        first, total, size = run(argv)
        if i >= args.warmup:
            results[name][0].append(first)
            results[name][1].append(total)
            results[name][2].add(size)
sizes = results["duckdb"][2] | results["dux"][2]
if len(sizes) != 1:
    sys.exit(f"stdout_timing.py: the commands wrote different amounts: {sorted(sizes)}")
m = {name: (statistics.median(r[0]), statistics.median(r[1])) for name, r in results.items()}
print(f"| {args.name} | {m['duckdb'][0]:.3f} | {m['dux'][0]:.3f} | {m['duckdb'][1]:.3f} | "
      f"{m['dux'][1]:.3f} | {m['dux'][1] / m['duckdb'][1]:.2f} | {sizes.pop()} |")
