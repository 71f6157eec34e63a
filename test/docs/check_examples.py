#!/usr/bin/env python3
"""Runs every example of a markdown file that shows its result: a ```dux block whose `#>`
lines are the CSV that `dux run --format csv` prints for the rest of the block. Prints one
line per example that differs (with the file's line) and exits 1 if any does. The examples
run in one directory that first holds the input files the pages describe (FIXTURES).

usage: test/docs/check_examples.py DUX FILE.md...
"""
import os
import subprocess
import sys
import tempfile


# The files docs/language.md's source examples read, as its comments describe them: text
# files written as they are, the others by dux itself.
FIXTURES = {
    "prices.csv": "id;item;price\n1;tea;2.50\n2;cake;NA\n",
    "events.ndjson": '{"id":1,"tag":"a"}\n{"id":2,"tag":null}\n',
}
FIXTURE_PIPELINES = [
    'from_values(amount: [1.5, 2.0, 3.0], year: [2023, 2024, 2024]) '
    '|> to_parquet("sales", partition_by: year)',
    'from_values(amount: [1.5, 3.0], year: [2023, 2024]) |> to_arrow("sales.arrow")',
]


def examples(path):
    """(line, pipeline text, expected lines) of each ```dux block with `#>` lines."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```dux":
            start, body, want = i + 1, [], []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                (want if lines[i].startswith("#>") else body).append(lines[i])
                i += 1
            if want:
                out.append((start + 1, "\n".join(body), [w[2:].strip() for w in want]))
        i += 1
    return out


def main():
    dux, files = os.path.abspath(sys.argv[1]), sys.argv[2:]
    failures = total = 0
    with tempfile.TemporaryDirectory() as cwd:
        for name, text in FIXTURES.items():
            with open(os.path.join(cwd, name), "w", encoding="utf-8") as f:
                f.write(text)
        for text in FIXTURE_PIPELINES:
            subprocess.run([dux, "run", text], cwd=cwd, check=True, capture_output=True)
        for path in files:
            path = os.path.abspath(path)
            for line, text, want in examples(path):
                total += 1
                run = subprocess.run([dux, "run", "--format", "csv", text], cwd=cwd,
                                     capture_output=True, text=True, timeout=60)
                got = run.stdout.rstrip("\n").split("\n") if run.stdout else []
                if run.returncode != 0 or got != want:
                    failures += 1
                    print(f"{path}:{line}: the example prints\n  " + "\n  ".join(got) +
                          (f"\n  (exit {run.returncode}: {run.stderr.strip()})"
                           if run.returncode else "") +
                          "\nnot what the page shows\n  " + "\n  ".join(want))
    print(f"check_examples: {total - failures} of {total} examples print what the page shows")
    return 1 if failures or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
