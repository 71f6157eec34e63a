#!/usr/bin/env python3
"""Runs a command with its stderr on a pseudo-terminal, as a user at a terminal would see
it: stdin is /dev/null, stdout goes to OUT_FILE, or to the same terminal when OUT_FILE is
"-". Prints every byte the terminal received and exits with the command's exit code.

usage: stderr_on_pty.py OUT_FILE|- COMMAND [ARG...]
"""
import os
import pty
import subprocess
import sys


def main():
    out_path, argv = sys.argv[1], sys.argv[2:]
    master, slave = pty.openpty()
    if out_path == "-":
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    else:
        with open(out_path, "wb") as out:
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=slave)
    os.close(slave)
    received = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every process holding the terminal has closed it
            break
        if not chunk:
            break
        received += chunk
    code = child.wait()
    os.close(master)
    sys.stdout.buffer.write(received)
    return code


if __name__ == "__main__":
    sys.exit(main())
