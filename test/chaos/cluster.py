"""The processes of one chaos trial: a registry and its workers (optionally the first one in
a network namespace, netns.py), or a `dux pool` that starts its own local workers."""

import os
import re
import signal
import subprocess
import time

LEASE_SECONDS = 2.0  # workers' --lease-timeout: a dead coordinator's leftovers go this fast
POOL_REGISTRY_TIMEOUT = 2.0  # a pool's workers exit when it has not answered for this long

class Process:
    """A child with its output in files; killed (group and all) when the trial ends."""

    def __init__(self, argv, directory, name, stdout_pipe=False, env=None):
        self.name = name
        self.err_path = os.path.join(directory, name + ".err")
        self.out_path = os.path.join(directory, name + ".out")
        self.err = open(self.err_path, "wb")
        self.out = subprocess.PIPE if stdout_pipe else open(self.out_path, "wb")
        self.popen = subprocess.Popen(argv, stdout=self.out, stderr=self.err,
                                      stdin=subprocess.DEVNULL, start_new_session=True, env=env)

    def first_line(self, timeout):
        """The first stdout line (a server's `listening HOST:PORT`), or None."""
        deadline = time.time() + timeout
        line = b""
        os.set_blocking(self.popen.stdout.fileno(), False)
        while time.time() < deadline:
            chunk = self.popen.stdout.read(1) if self.popen.poll() is None else b""
            if chunk:
                if chunk == b"\n":
                    return line.decode()
                line += chunk
            else:
                if self.popen.poll() is not None:
                    return None
                time.sleep(0.01)
        return None

    def signal(self, sig):
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(sig)
            except ProcessLookupError:
                pass

    def kill(self):
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def alive(self):
        return self.popen.poll() is None


class Cluster:
    """A registry and its workers for one trial. With a `namespace` (netns.Namespace, made
    here and removed by stop()), worker 0 runs inside it on the namespace's address and the
    registry and the other workers on the host side's address: cutting the link cuts worker
    0 off from everyone, and only it."""

    def __init__(self, dux, directory, n_workers, worker_args, namespace=None):
        self.dux, self.dir = dux, directory
        self.registry = None
        self.registry_address = None
        self.workers = []  # Process, with .address
        self.namespace = namespace
        self.n = n_workers
        self.worker_args = worker_args
        self.host = namespace.host_address if namespace else "127.0.0.1"

    def start(self):
        """Starts everything; stop() removes what started, also after a failure here."""
        dux, directory, namespace, worker_args = (self.dux, self.dir, self.namespace,
                                                  self.worker_args)
        if namespace:
            namespace.create()
        self.start_registry()
        for i in range(self.n):
            inside = namespace is not None and i == 0
            prefix = namespace.exec_prefix() if inside else []
            listen = (namespace.address if inside else self.host) + ":0"
            w = Process(prefix + [dux, "worker", "--listen", listen, "--threads", "1",
                                  "--join", self.registry_address, "--lease-timeout",
                                  str(LEASE_SECONDS), "--temp-dir",
                                  os.path.join(directory, f"tmp-{i}")] + worker_args,
                        directory, f"worker-{i}", stdout_pipe=True)
            self.workers.append(w)
            line = w.first_line(30)
            if not line or not line.startswith("listening "):
                raise RuntimeError(f"worker {i} did not start: {read(w.err_path)}")
            w.address = line.split(" ", 1)[1]
        self.wait_joined()

    def coordinator_args(self):
        return ["--registry", self.registry_address]

    def start_registry(self, port=0):
        r = Process([self.dux, "registry", "--listen", f"{self.host}:{port}"], self.dir,
                    f"registry-{time.time_ns()}", stdout_pipe=True)
        self.registry = r
        line = r.first_line(30)
        if not line or not line.startswith("listening "):
            raise RuntimeError("registry did not start: " + read(r.err_path))
        self.registry = r
        self.registry_address = line.split(" ", 1)[1]

    def restart_registry(self):
        port = self.registry_address.rsplit(":", 1)[1]
        self.registry.kill()
        time.sleep(0.3)
        self.start_registry(port)

    def wait_joined(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            out = run([self.dux, "workers", "--registry", self.registry_address], 30)
            if out.returncode == 0 and all(w.address in out.stdout for w in self.workers):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{len(self.workers)} workers did not join the registry")

    def live_workers(self):
        return [w for w in self.workers if w.alive()]

    def leftovers(self):
        """What the live workers still hold: '' when nothing, else `dux workers`' text."""
        return held_by(self.dux, [w.address for w in self.live_workers()])

    def processes_left(self):
        return ""

    def namespace_left(self):
        """After stop(): what is left of the namespace ('' when nothing)."""
        return self.namespace.leftovers() if self.namespace else ""

    def stop(self):
        for w in self.workers:
            w.kill()
        if self.registry:
            self.registry.kill()
        if self.namespace:
            self.namespace.remove()


class PoolCluster:
    """A `dux pool` (a registry that starts its own local workers, docs/deploy.md) kept at
    `n_workers` idle workers, for the pool's own fault: the pool killed (`kill -9`, its
    workers orphaned as by a crash) and started again on its port. Its workers are found by
    their command line (`--join` the pool's address), whoever started them."""

    def __init__(self, dux, directory, n_workers, worker_args):
        self.dux, self.dir, self.n = dux, directory, n_workers
        self.worker_args = ["--worker-arg=--lease-timeout=" + str(LEASE_SECONDS)]
        for flag, value in zip(worker_args[::2], worker_args[1::2]):
            self.worker_args.append(f"--worker-arg={flag}={value}")
        self.pool = None
        self.address = None
        self.pools = []  # every pool process started, the killed ones included
        self.workers = []  # the faults that pick a worker process do not apply to a pool
        self.namespace = None

    def start(self):
        """Starts the pool and waits for its workers; stop() removes what started."""
        self.start_pool()
        deadline = time.time() + 30
        while len(self.idle_workers()) < self.n:
            if time.time() > deadline:
                raise RuntimeError(f"the pool did not start {self.n} workers: "
                                   + read(self.pool.err_path)[-500:])
            time.sleep(0.2)

    def coordinator_args(self):
        return ["--pool", self.address, "--workers-wanted", str(self.n)]

    def start_pool(self, port=0):
        # The token as a file, and not as $DUX_TOKEN: the pool's workers would inherit the
        # variable beside the pool's --token-file and refuse to start ("give --token or
        # --token-file, not both").
        token_file = os.path.join(self.dir, "token")
        with open(token_file, "w") as f:
            f.write(os.environ.get("DUX_TOKEN", ""))
        env = {k: v for k, v in os.environ.items() if k != "DUX_TOKEN"}
        p = Process([self.dux, "pool", "--listen", f"127.0.0.1:{port}", "--backend", "local",
                     "--min", str(self.n), "--max", str(self.n), "--threads", "1",
                     "--worker-registry-timeout", str(POOL_REGISTRY_TIMEOUT), "--token-file",
                     token_file] + self.worker_args,
                    self.dir, f"pool-{time.time_ns()}", stdout_pipe=True, env=env)
        self.pools.append(p)
        line = p.first_line(30)
        if not line or not line.startswith("listening "):
            raise RuntimeError("the pool did not start: " + read(p.err_path))
        self.pool = p
        self.address = line.split(" ", 1)[1]

    def restart_pool(self, downtime):
        """`kill -9` of the pool, then a new one on its port after `downtime` seconds."""
        port = self.address.rsplit(":", 1)[1]
        self.pool.kill()
        time.sleep(downtime)
        for attempt in range(50):  # the port may linger a moment
            try:
                self.start_pool(port)
                return
            except RuntimeError:
                if attempt == 49:
                    raise
                time.sleep(0.1)

    def status(self):
        """The pool's workers as (job, address, state); [] when it does not answer."""
        out = run([self.dux, "pool", "status", self.address], 30)
        if out.returncode != 0:
            return []
        rows = []
        for line in out.stdout.splitlines()[2:]:  # pool ADDR: ...; NAME JOB ADDRESS STATE ...
            fields = line.split()
            at = [i for i, f in enumerate(fields) if re.fullmatch(r"[0-9.]+:[0-9]+", f)]
            if at and at[0] + 1 < len(fields):
                rows.append((fields[at[0] - 1], fields[at[0]], fields[at[0] + 1]))
        return rows

    def idle_workers(self):
        return [r for r in self.status() if r[2] == "idle"]

    def worker_pids(self):
        """Live (not zombie) `dux worker` processes that joined this pool's address."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
                with open(f"/proc/{entry}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state == "Z" or b"worker" not in argv:
                continue
            if any(a == b"--join" and b == self.address.encode() for a, b in zip(argv, argv[1:])):
                pids.append(int(entry))
        return pids

    def live_workers(self):
        return self.worker_pids()

    def leftovers(self):
        """What the pool's listed workers still hold: '' when nothing."""
        return held_by(self.dux, [address for _, address, _ in self.status()])

    def processes_left(self, timeout=POOL_REGISTRY_TIMEOUT * 3 + 5):
        """Stops the pool (SIGTERM: it stops the workers it started; the others must exit
        by themselves within their --registry-timeout); then any worker still running after
        `timeout` is an orphan: killed, and named in the answer."""
        self.pool.signal(signal.SIGTERM)
        try:
            self.pool.popen.wait(20)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.time() + timeout
        while self.worker_pids() and time.time() < deadline:
            time.sleep(0.2)
        left = self.worker_pids()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return f" orphaned workers (pids {left})" if left else ""

    def namespace_left(self):
        return ""

    def stop(self):
        for p in self.pools:
            p.kill()
        for pid in self.worker_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def held_by(dux, addresses):
    """What these workers hold (a `__dux_` table, a running fragment): '' when nothing, else
    `dux workers`' text."""
    if not addresses:
        return ""
    out = run([dux, "workers", "--workers", ",".join(addresses)], 30)
    if out.returncode != 0:
        return "dux workers failed: " + out.stderr.strip()
    held = "__dux_" in out.stdout or re.search(r"running \[q", out.stdout)
    return out.stdout if held else ""


def read(path):
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def run(argv, timeout):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(argv, -1, e.stdout or "", "timed out")
