#!/usr/bin/env python3
"""Runs clang-tidy (the repository's .clang-tidy) over every non-generated .cc of src/, tools/,
bench/ and test/, as compiled by build/compile_commands.json, and fails on any warning.

Results are cached outside the clone, so that a repeated run (or a fresh clone of the same tree)
checks only what changed. A translation unit's key hashes its preprocessed text (`clang++ -E`
with its flags from compile_commands.json, keeping comments for NOLINT and macro definitions for
the naming of macros; paths inside the source and build trees made relative, so that clones
share keys), its flags, the .clang-tidy files that apply to it and clang-tidy's version. Only
clean results are cached: a unit with a warning is checked again on every run. A changed header
changes the preprocessed text of exactly the units that include it.

Prints one line per warning (file:line:col: message [check]), deduplicated across units (a
header's warning is reported by every unit that includes it), and a summary. Exit status: 0 when
clean, 1 on any warning or error. The cache is ${DUX_CLANG_TIDY_CACHE:-${XDG_CACHE_HOME:-~/.cache}
/dux-clang-tidy}; entries unused for 30 days are removed.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

# Bump when the key or the filtering of warnings changes meaning.
KEY_VERSION = "1"
CHECKED_DIRS = ("src", "tools", "bench", "test")
CACHE_MAX_AGE_DAYS = 30

DIAGNOSTIC = re.compile(
    r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?P<col>\d+): (?P<kind>warning|error): "
    r"(?P<message>.*?)(?: \[(?P<check>[^\]]+)\])?$")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p.add_argument("--source-dir", default=root, help="the repository (default: this script's)")
    p.add_argument("--build-dir", default=None, help="holds compile_commands.json (default: "
                   "SOURCE_DIR/build)")
    p.add_argument("-j", "--jobs", type=int, default=2, help="units checked at once (default 2)")
    p.add_argument("--cache-dir", default=None, help="where clean results are kept")
    p.add_argument("--no-cache", action="store_true", help="check every unit, cache nothing")
    p.add_argument("--clang-tidy", default="clang-tidy")
    p.add_argument("--clang", default="clang++", help="preprocesses units for the cache key")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print clang-tidy's whole output (notes, source lines) for units with "
                   "warnings")
    p.add_argument("files", nargs="*", help="check only these sources (default: all)")
    args = p.parse_args()
    args.source_dir = os.path.realpath(args.source_dir)
    args.build_dir = os.path.realpath(args.build_dir or os.path.join(args.source_dir, "build"))
    if args.cache_dir is None:
        args.cache_dir = os.environ.get("DUX_CLANG_TIDY_CACHE") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dux-clang-tidy")
    args.jobs = max(1, args.jobs)
    return args


def strip_launcher(argv):
    """The real compiler command of a compile_commands.json entry: without a launcher such as
    `cmake -E env A=B ... ccache` in front of the compiler."""
    if (len(argv) > 2 and os.path.basename(argv[0]).startswith("cmake")
            and argv[1:3] == ["-E", "env"]):
        i = 3
        while i < len(argv) and (argv[i].startswith("--unset=") or argv[i].startswith("--modify")
                                 or ("=" in argv[i] and not argv[i].startswith("-"))):
            i += 1
        if i < len(argv) and argv[i] == "--":
            i += 1
        argv = argv[i:]
    while argv and os.path.basename(argv[0]) in ("ccache", "sccache", "distcc"):
        argv = argv[1:]
    return argv


def sources_to_check(args):
    """The tracked .cc files of CHECKED_DIRS (every .cc there when this is not a git clone)."""
    try:
        out = subprocess.run(["git", "-C", args.source_dir, "ls-files", "--", "*.cc"],
                             check=True, capture_output=True, text=True).stdout
        files = [os.path.join(args.source_dir, f) for f in out.split()]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d in CHECKED_DIRS:
            for dirpath, _, names in os.walk(os.path.join(args.source_dir, d)):
                files += [os.path.join(dirpath, n) for n in names if n.endswith(".cc")]
    return sorted(f for f in files
                  if os.path.relpath(f, args.source_dir).split(os.sep)[0] in CHECKED_DIRS)


class Unit:
    def __init__(self, file, directory, argv):
        self.file = file
        self.directory = directory
        self.argv = argv


def load_units(args):
    db_path = os.path.join(args.build_dir, "compile_commands.json")
    if not os.path.exists(db_path):
        sys.exit(f"clang-tidy: {db_path} is missing: build first (scripts/setup.sh)")
    with open(db_path) as f:
        db = json.load(f)
    by_file = {}
    for e in db:
        argv = e["arguments"] if "arguments" in e else shlex.split(e["command"])
        directory = e["directory"]
        file = os.path.realpath(os.path.join(directory, e["file"]))
        by_file.setdefault(file, []).append(Unit(file, directory, strip_launcher(argv)))
    wanted = sources_to_check(args)
    if args.files:
        only = {os.path.realpath(f) for f in args.files}
        wanted = [f for f in wanted if f in only]
        if len(wanted) != len(only):
            sys.exit(f"clang-tidy: not a checked source: {sorted(only - set(wanted))}")
    missing = [os.path.relpath(f, args.source_dir) for f in wanted if f not in by_file]
    if missing:
        sys.exit("clang-tidy: not in compile_commands.json (not built by default?): "
                 + " ".join(missing))
    return [u for f in wanted for u in by_file[f]]


def tidy_configs(args, file):
    """The contents of the .clang-tidy files clang-tidy reads for `file`, nearest last."""
    texts = []
    d = os.path.dirname(file)
    while True:
        p = os.path.join(d, ".clang-tidy")
        if os.path.isfile(p):
            with open(p, "rb") as f:
                texts.append(p.encode() + b"\0" + f.read())
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return texts[::-1]


def without_output(argv):
    """argv without -c, -o FILE and dependency-file flags."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
        elif a in ("-c", "-MD", "-MMD") or a.startswith("-o"):
            continue
        else:
            out.append(a)
    return out


class Runner:
    def __init__(self, args, units):
        self.args = args
        self.units = units
        self.lock = threading.Lock()
        self.seen = set()
        self.checked = self.cached = self.failed_units = 0
        self.warnings = 0
        self.cache_warned = False
        self.tidy_version = subprocess.run([args.clang_tidy, "--version"], check=True,
                                           capture_output=True, text=True).stdout
        self.tmp = tempfile.TemporaryDirectory(prefix="dux-clang-tidy-")
        # clang-tidy reads the real compiler commands, without the launcher.
        with open(os.path.join(self.tmp.name, "compile_commands.json"), "w") as f:
            json.dump([{"directory": u.directory, "file": u.file, "arguments": u.argv}
                       for u in units], f)

    def relative(self, text):
        # The build tree may sit inside the source tree: replace the longer prefix first.
        roots = sorted([(self.args.build_dir, b"<build>"), (self.args.source_dir, b"<source>")],
                       key=lambda r: -len(r[0]))
        for path, name in roots:
            text = text.replace(path.encode(), name)
        return text

    def key(self, unit):
        """The unit's cache key, or (None, error output) when it does not preprocess."""
        argv = without_output(unit.argv)
        cmd = [self.args.clang] + argv[1:] + ["-E", "-dD", "-C", "-Wno-unknown-warning-option",
                                              "-o", "-"]
        p = subprocess.run(cmd, cwd=unit.directory, capture_output=True)
        if p.returncode != 0:
            return None, p.stderr.decode(errors="replace")
        h = hashlib.sha256()
        for part in [KEY_VERSION.encode(), self.tidy_version.encode(),
                     self.relative("\0".join(argv[1:]).encode()),
                     *[self.relative(c) for c in tidy_configs(self.args, unit.file)],
                     self.relative(p.stdout)]:
            h.update(len(part).to_bytes(8, "little"))
            h.update(part)
        return h.hexdigest(), None

    def cache_path(self, key):
        return os.path.join(self.args.cache_dir, key[:2], key[2:])

    def in_tree(self, path):
        """A file dux owns (warnings elsewhere, in generated or system headers, are not ours)."""
        rel = os.path.relpath(path, self.args.source_dir)
        return (not rel.startswith("..") and rel.split(os.sep)[0] in CHECKED_DIRS
                and not (path + os.sep).startswith(self.args.build_dir + os.sep))

    def tidy(self, unit):
        """(diagnostic lines of ours, whole output, clang-tidy's exit status)."""
        p = subprocess.run([self.args.clang_tidy, "--quiet", "-p", self.tmp.name, unit.file],
                           cwd=self.args.source_dir, capture_output=True, text=True)
        ours, foreign_error = [], False
        for line in p.stdout.splitlines():
            m = DIAGNOSTIC.match(line)
            if not m:
                continue
            path = os.path.realpath(os.path.join(unit.directory, m["file"]))
            if self.in_tree(path):
                rel = os.path.relpath(path, self.args.source_dir)
                ours.append(f"{rel}:{m['line']}:{m['col']}: {m['kind']}: {m['message']}"
                            + (f" [{m['check']}]" if m["check"] else ""))
            elif m["kind"] == "error":
                foreign_error = True
        output = p.stdout + p.stderr
        if (p.returncode != 0 or foreign_error) and not ours:
            ours.append(f"{os.path.relpath(unit.file, self.args.source_dir)}: error: clang-tidy "
                        f"failed (exit {p.returncode}):\n{output.strip()}")
        return ours, output

    def run_unit(self, unit):
        rel = os.path.relpath(unit.file, self.args.source_dir)
        start = time.monotonic()
        key, error = self.key(unit)
        if key is None:
            self.report(rel, [f"{rel}: error: does not preprocess (build first?):\n{error}"],
                        None, start, cached=False)
            return
        path = self.cache_path(key)
        if not self.args.no_cache and os.path.exists(path):
            os.utime(path)  # kept while used
            self.report(rel, [], None, start, cached=True)
            return
        diagnostics, output = self.tidy(unit)
        if not diagnostics and not self.args.no_cache:
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = f"{path}.{os.getpid()}.{threading.get_ident()}"
                with open(tmp, "w") as f:
                    f.write(rel + "\n")
                os.replace(tmp, path)
            except OSError as e:  # a read-only cache only costs time
                with self.lock:
                    if not self.cache_warned:
                        self.cache_warned = True
                        print(f"clang-tidy: cannot write the cache: {e}", flush=True)
        self.report(rel, diagnostics, output, start, cached=False)

    def report(self, rel, diagnostics, output, start, cached):
        with self.lock:
            if cached:
                self.cached += 1
                return
            self.checked += 1
            done = self.checked + self.cached
            state = f"{len(diagnostics)} diagnostics" if diagnostics else "clean"
            print(f"[{done}/{len(self.units)}] {rel}: {state} ({time.monotonic() - start:.1f}s)",
                  flush=True)
            if diagnostics:
                self.failed_units += 1
            for d in diagnostics:
                if d not in self.seen:
                    self.seen.add(d)
                    self.warnings += 1
                    print(d, flush=True)
            if diagnostics and output and self.args.verbose:
                print(output, flush=True)

    def prune_cache(self):
        if self.args.no_cache or not os.path.isdir(self.args.cache_dir):
            return
        limit = time.time() - CACHE_MAX_AGE_DAYS * 86400
        for dirpath, _, names in os.walk(self.args.cache_dir):
            for n in names:
                p = os.path.join(dirpath, n)
                try:
                    if os.path.getmtime(p) < limit:
                        os.remove(p)
                except OSError:
                    pass


def main():
    args = parse_args()
    for tool in (args.clang_tidy, args.clang):
        if shutil.which(tool) is None:
            sys.exit(f"clang-tidy: {tool} not found (scripts/setup.sh installs it)")
    start = time.monotonic()
    units = load_units(args)
    runner = Runner(args, units)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for f in [pool.submit(runner.run_unit, u) for u in units]:
            f.result()
    runner.prune_cache()
    print(f"clang-tidy: {len(units)} units: {runner.checked} checked, {runner.cached} cached; "
          f"{runner.warnings} warnings in {runner.failed_units} units "
          f"({time.monotonic() - start:.0f}s; cache {args.cache_dir})")
    return 1 if runner.warnings or runner.failed_units else 0


if __name__ == "__main__":
    sys.exit(main())
