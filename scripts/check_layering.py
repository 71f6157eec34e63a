#!/usr/bin/env python3
"""Checks that each module of src/dux/ includes only the modules docs/architecture.md
allows it (the ```layers block of section 2), that only rpc/ includes gRPC, and that only
s3_filesystem/ includes DuckDB's C++ headers.

usage: scripts/check_layering.py [ROOT]; prints one line per forbidden include and exits 1
if there is any. Test sources (*_test.cc, *_testing.*) may include more: they are not part
of the module's library.
"""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")


def allowed_graph(doc):
    block = re.search(r"```layers\n(.*?)```", doc, re.S)
    if not block:
        raise SystemExit("check_layering: docs/architecture.md has no ```layers block")
    graph = {}
    for line in block.group(1).splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        module, _, deps = line.partition(":")
        graph[module.strip()] = set(deps.split())
    return graph


def main():
    with open(os.path.join(ROOT, "docs/architecture.md"), encoding="utf-8") as f:
        graph = allowed_graph(f.read())
    src = os.path.join(ROOT, "src/dux")
    modules = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    problems = [f"src/dux/{m}/: a module missing from the layers table" for m in modules
                if m not in graph]
    problems += [f"layers table: {m} has no folder src/dux/{m}/" for m in graph
                 if m not in modules]
    include = re.compile(r'^\s*#\s*include\s+[<"]((?:dux/([a-z0-9_]+)/)?[^>"]*)[>"]')
    for module in modules:
        for dirpath, _, files in os.walk(os.path.join(src, module)):
            for name in sorted(files):
                if not name.endswith((".h", ".cc")) or "_test" in name or "_testing" in name:
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, ROOT)
                with open(path, encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        m = include.match(line)
                        if not m:
                            continue
                        header, target = m.group(1), m.group(2)
                        if header == "duckdb.hpp" or header.startswith("duckdb/"):
                            if module != "s3_filesystem":
                                problems.append(f"{rel}:{number}: {module}/ includes DuckDB's C++ "
                                                f"headers ({header}); only s3_filesystem/ may")
                        elif header.startswith(("grpc", "grpcpp/")) or header.endswith(".grpc.pb.h"):
                            if module != "rpc":
                                problems.append(f"{rel}:{number}: {module}/ includes gRPC "
                                                f"({header}); only rpc/ may")
                        elif target and target != "v1" and target != module and \
                                target not in graph.get(module, set()):
                            problems.append(f"{rel}:{number}: {module}/ includes {header}; "
                                            f"{module}/ may include only "
                                            f"{' '.join(sorted(graph.get(module, []))) or 'nothing'}"
                                            " (docs/architecture.md section 2)")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
