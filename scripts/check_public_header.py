#!/usr/bin/env python3
"""Checks that a public header includes, directly or not, no protobuf, gRPC or libpq header
(docs/architecture.md section 2).

Usage: check_public_header.py HEADER -- COMPILER [FLAGS...]
Runs the compiler's dependency listing (-M) on HEADER and fails naming each forbidden file.
"""
import re
import subprocess
import sys

FORBIDDEN = re.compile(r"(\.pb\.h$|/grpc\+*/|/grpcpp/|/google/protobuf/|libpq-fe\.h$)")


def main() -> int:
    if "--" not in sys.argv:
        print(__doc__, file=sys.stderr)
        return 2
    split = sys.argv.index("--")
    header = sys.argv[1]
    compiler = sys.argv[split + 1:]
    listing = subprocess.run(compiler + ["-std=c++20", "-M", "-x", "c++", header],
                             capture_output=True, text=True)
    if listing.returncode != 0:
        print(f"{header}: does not compile on its own:\n{listing.stderr}", file=sys.stderr)
        return 1
    files = listing.stdout.replace("\\\n", " ").split()[1:]
    bad = sorted({f for f in files if FORBIDDEN.search(f)})
    for f in bad:
        print(f"{header}: includes {f} (a public header shows no protobuf, gRPC or libpq type)")
    if not bad:
        print(f"{header}: {len(files)} headers, none of protobuf, gRPC or libpq")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
