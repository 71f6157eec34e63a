"""A network namespace for one chaos trial's victim worker (root only).

The namespace is tied to the root namespace by a veth pair: host side 10.232.X.1/24,
namespace side 10.232.X.2/24, a default route through the host side. The victim worker runs
inside (`ip netns exec`) on the namespace's address; the registry and the other workers run
in the root namespace on the host side's address, which both sides reach (a local address
stays reachable from the root namespace while the link is down, so only the victim is cut
off). One link and no forwarding between namespaces: this machine's ip_forward may be off.

Names and the subnet come from the pid (prefix `dxc`, subnet 10.232, apart from the C++
tests' `dux-test-`/`dxh`/`dxn` and 10.231, test/support/network_namespaces.h), so campaigns
and tests can run at once. `remove()` deletes everything and is safe to call twice.
"""

import os
import subprocess


class Namespace:
    def __init__(self):
        pid = os.getpid()
        self.name = f"dxc-chaos-{pid}"
        self.host_link = f"dxch{pid}"  # interface names: at most 15 characters
        self.inner_link = f"dxcn{pid}"
        octet = pid % 250 + 1
        self.host_address = f"10.232.{octet}.1"
        self.address = f"10.232.{octet}.2"
        self.created = False

    def create(self):
        """Creates the namespace and its link; raises RuntimeError saying why it cannot."""
        self.remove()  # a previous run of this pid that died without cleaning up
        self.created = True
        for args in (["netns", "add", self.name],
                     ["link", "add", self.host_link, "type", "veth", "peer", "name",
                      self.inner_link],
                     ["link", "set", self.inner_link, "netns", self.name],
                     ["addr", "add", self.host_address + "/24", "dev", self.host_link],
                     ["link", "set", self.host_link, "up"],
                     ["-n", self.name, "addr", "add", self.address + "/24", "dev",
                      self.inner_link],
                     ["-n", self.name, "link", "set", self.inner_link, "up"],
                     ["-n", self.name, "link", "set", "lo", "up"],
                     ["-n", self.name, "route", "add", "default", "via", self.host_address]):
            ip(args)

    def exec_prefix(self):
        """The argv prefix that runs a command inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def cut(self):
        """The partition: the host side of the link goes down (nothing passes either way)."""
        ip(["link", "set", self.host_link, "down"])

    def heal(self):
        ip(["link", "set", self.host_link, "up"])

    def squeeze(self, rate):
        """Caps both directions of the link with a token bucket (the kernel here has tbf and
        no netem): what the victim sends (qdisc inside the namespace) and what it receives
        (qdisc on the host side)."""
        shape = ["root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms"]
        tc(["ip", "netns", "exec", self.name, "tc", "qdisc", "add", "dev", self.inner_link]
           + shape)
        tc(["tc", "qdisc", "add", "dev", self.host_link] + shape)

    def remove(self):
        """Deletes the namespace (and with it the inner link) and the host link, qdiscs
        included; quiet when they do not exist."""
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", self.name], **quiet)
        subprocess.run(["ip", "link", "del", self.host_link], **quiet)
        self.created = False

    def leftovers(self):
        """'' when nothing of this namespace exists any more, else what does."""
        left = []
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        if any(line.split(" ")[0] == self.name for line in names.splitlines()):
            left.append("namespace " + self.name)
        link = subprocess.run(["ip", "link", "show", self.host_link], capture_output=True)
        if link.returncode == 0:
            left.append("link " + self.host_link)
        return ", ".join(left)


def ip(args):
    out = subprocess.run(["ip"] + args, capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {out.stderr.strip()}")


def tc(argv):
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {out.stderr.strip()}")
