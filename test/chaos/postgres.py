"""A private PostgreSQL server for one chaos campaign, like test/support/pg_server.cc.

`initdb` into a temporary directory (as `nobody` when running as root: PostgreSQL refuses
root), the superuser `dux` without a password, and only a unix socket in that directory
(`listen_addresses=''`), so no port can collide with the C++ tests' servers and workers in
a network namespace reach it all the same (a socket is a file, not a network address).
`stop()` shuts it down and removes the directory; the campaign calls it in a `finally`.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time

PORT = 5432  # only names the socket file (.s.PGSQL.5432) in the server's own directory


class PgServer:
    def __init__(self):
        self.dir = None
        self.process = None

    def start(self):
        """Starts the server; raises RuntimeError saying why it cannot."""
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                      key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
        if os.environ.get("DUX_PG_BIN"):
            bins = [os.path.join(os.environ["DUX_PG_BIN"], "postgres")]
        if not bins:
            raise RuntimeError("no PostgreSQL server binaries (install postgresql-15)")
        bin_dir = os.path.dirname(bins[-1])
        self.dir = tempfile.mkdtemp(prefix="dux-chaos-pg-", dir="/tmp")  # sun_path is short
        user = {}
        if os.getuid() == 0:
            nobody = pwd.getpwnam("nobody")
            user = dict(user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
        data = os.path.join(self.dir, "data")
        init = subprocess.run([os.path.join(bin_dir, "initdb"), "-D", data, "-U", "dux", "-A",
                               "trust", "-E", "UTF8", "--no-locale", "-N"],
                              capture_output=True, text=True, timeout=120, **user)
        if init.returncode != 0:
            raise RuntimeError("initdb failed: " + init.stderr)
        log = open(os.path.join(self.dir, "postgres.log"), "wb")
        self.process = subprocess.Popen(
            [os.path.join(bin_dir, "postgres"), "-D", data, "-p", str(PORT), "-k", self.dir,
             "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=60"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True, **user)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("postgres exited: " + self.log())
            if self.sql("SELECT 1", check=False) == "1":
                return
            time.sleep(0.1)
        raise RuntimeError("postgres did not start: " + self.log())

    def conninfo(self):
        return f"host={self.dir} port={PORT} user=dux dbname=postgres"

    def sql(self, statement, check=True):
        """Runs one statement with psql; its rows as `a,b` lines (no header)."""
        out = subprocess.run(["psql", self.conninfo(), "-X", "-q", "-At", "-F,", "-v",
                              "ON_ERROR_STOP=1", "-c", statement],
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            if check:
                raise RuntimeError(f"psql {statement!r}: {out.stderr.strip()}")
            return None
        return out.stdout.strip()

    def staging_tables(self):
        """dux's staging tables (`__dux_stage_*`, docs/postgres.md) that exist now."""
        names = self.sql("SELECT relname FROM pg_class WHERE relname LIKE '\\_\\_dux\\_stage\\_%'")
        return names.split("\n") if names else []

    def drop_staging_tables(self):
        for name in self.staging_tables():
            self.sql(f'DROP TABLE IF EXISTS public."{name}"', check=False)

    def log(self):
        try:
            with open(os.path.join(self.dir, "postgres.log"), errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(2)  # SIGINT: fast shutdown, disconnects clients
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
