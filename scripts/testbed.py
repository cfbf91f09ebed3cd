"""Local test bed: N real Debian 12 nodes with systemd, each its own hostname and IP, reached over ssh.

The nodes are podman containers built from a debootstrap image (no registry is reachable here), on a
podman network of their own in the 198.18.0.0/15 benchmarking range. Every node runs systemd as PID 1
and sshd; Ansible reaches them over ssh with a key that the test bed generates, and host keys pinned in
a known_hosts file of its own (no host-key checking is switched off).

    scripts/testbed.py up --name lab --nodes 3           # build the image if needed, start 3 nodes
    scripts/testbed.py inventory --name lab               # print the inventory path
    scripts/testbed.py down --name lab                    # remove nodes, network and state

Container nodes share the host kernel. The image masks systemd-sysctl.service so that a node's boot
never applies its /etc/sysctl.d files to the host, and roles apply non-network kernel settings only on
nodes that own their kernel (see roles/node_baseline/README.md).
"""

import argparse
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

# Debian releases a node can run: Debian 12 (the default) and Debian 13.
SUITES = ("bookworm", "trixie")
IMAGE = "localhost/aiinfra-node:bookworm"


def image_name(suite="bookworm"):
    return f"localhost/aiinfra-node:{suite}"


IMAGE_PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "python3", "python3-apt", "sudo", "iproute2", "procps", "kmod",
    "ca-certificates", "openssh-server", "gnupg",
]
DEFAULT_STATE_ROOT = os.path.join(os.path.expanduser("~"), ".cache", "aiinfra-testbed")
ENV = dict(os.environ, LC_ALL="C")

HOSTKEYS_UNIT = """[Unit]
Description=Generate this node's own ssh host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""


class TestbedError(Exception):
    pass


def run(args, check=True, capture=True, stdin=None):
    proc = subprocess.run(args, env=ENV, check=False, text=True, input=stdin,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None)
    if check and proc.returncode != 0:
        raise TestbedError(f"command failed (rc={proc.returncode}): {' '.join(args)}\n"
                           f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def log(msg):
    print(f"testbed: {msg}", file=sys.stderr, flush=True)


def build_image(force=False, suite="bookworm"):
    image = image_name(suite)
    if not force and run(["podman", "image", "exists", image], check=False).returncode == 0:
        return
    if shutil.which("debootstrap") is None:
        raise TestbedError("debootstrap is not installed: apt-get install debootstrap podman runc")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aiinfra-rootfs-") as root:
        log(f"debootstrap {suite} into {root}")
        run(["debootstrap", "--variant=minbase", "--include=" + ",".join(IMAGE_PACKAGES),
             suite, root, "http://deb.debian.org/debian"])
        # Every node must get its own host keys, not the ones debootstrap made once for the image.
        for name in os.listdir(os.path.join(root, "etc/ssh")):
            if name.startswith("ssh_host_"):
                os.unlink(os.path.join(root, "etc/ssh", name))
        with open(os.path.join(root, "etc/systemd/system/ssh-hostkeys.service"), "w") as f:
            f.write(HOSTKEYS_UNIT)
        wants = os.path.join(root, "etc/systemd/system/multi-user.target.wants")
        os.makedirs(wants, exist_ok=True)
        os.symlink("/etc/systemd/system/ssh-hostkeys.service", os.path.join(wants, "ssh-hostkeys.service"))
        # A container node shares the host kernel: never apply sysctl.d files to it at boot.
        os.symlink("/dev/null", os.path.join(root, "etc/systemd/system/systemd-sysctl.service"))
        with open(os.path.join(root, "etc/apt/sources.list"), "w") as f:
            f.write(f"deb http://deb.debian.org/debian {suite} main\n"
                    f"deb http://deb.debian.org/debian {suite}-updates main\n"
                    f"deb http://deb.debian.org/debian-security {suite}-security main\n")
        run(["chroot", root, "apt-get", "clean"])
        os.makedirs(os.path.join(root, "root/.ssh"), mode=0o700, exist_ok=True)
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE, env=ENV)
        imp = subprocess.run(["podman", "import", "--change", 'CMD ["/sbin/init"]',
                              "--change", "STOPSIGNAL SIGRTMIN+3", "-", image],
                             stdin=tar.stdout, capture_output=True, text=True, env=ENV, check=False)
        tar.stdout.close()
        if tar.wait() != 0 or imp.returncode != 0:
            raise TestbedError(f"podman import failed: {imp.stderr}")
    log(f"image {image} built in {time.monotonic() - start:.0f}s")


def state_dir(args):
    return os.path.join(args.state_root, args.name)


def node_names(count, prefix):
    return [f"{prefix}{i}" for i in range(1, count + 1)]


def parse_groups(spec, names):
    """'k8s_control_plane=node1,node2;k8s_workers=node3' -> {group: [hosts]}; default: all in 'testbed'."""
    groups = {}
    if spec:
        for part in spec.split(";"):
            group, _sep, hosts = part.partition("=")
            members = [h for h in hosts.split(",") if h]
            unknown = sorted(set(members) - set(names))
            if not group or unknown:
                raise TestbedError(f"bad --groups entry {part!r}: unknown hosts {unknown}")
            groups[group] = members
    return groups


def node_suites(spec, count):
    """'' -> every node bookworm; 'bookworm,trixie' -> per node, by position (the last one repeats)."""
    wanted = [s for s in (spec or "bookworm").split(",") if s]
    unknown = sorted(set(wanted) - set(SUITES))
    if unknown:
        raise TestbedError(f"--suites: unknown Debian release(s) {unknown}; known: {', '.join(SUITES)}")
    return [wanted[min(i, len(wanted) - 1)] for i in range(count)]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TestbedError(f"timed out after {timeout}s waiting for {what}")


def write_inventory(sdir, nodes, groups, key, known_hosts, python, extra=None):
    lines = ["# Written by scripts/testbed.py; removed by 'testbed.py down'.", "all:", "  vars:",
             "    ansible_user: root",
             f"    ansible_ssh_private_key_file: {key}",
             f"    ansible_ssh_common_args: -o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes",
             f"    ansible_python_interpreter: {python}",
             "  hosts:"]
    for node in nodes:
        lines += [f"    {node['name']}:", f"      ansible_host: {node['ip']}"]
    if groups:
        # Every node is in the cluster group; the node-role groups come from --groups.
        lines += ["  children:", "    k8s_cluster:", "      hosts:"] + [f"        {n['name']}: {{}}" for n in nodes]
        for group, members in groups.items():
            lines += [f"    {group}:", "      hosts:"] + [f"        {m}: {{}}" for m in members]
    path = os.path.join(sdir, "inventory.yml")
    for target in [path] + ([extra] if extra else []):
        with open(target, "w") as f:
            f.write("\n".join(lines) + "\n")
    return extra or path


def leftovers(args):
    """What an earlier, failed or interrupted `up` of this name left behind (containers, network, state)."""
    containers = run(["podman", "ps", "-a", "--filter", f"label=aiinfra.testbed={args.name}",
                      "--format", "{{.Names}}"]).stdout.split()
    network = run(["podman", "network", "exists", f"aiinfra-{args.name}"], check=False).returncode == 0
    return containers, network, os.path.exists(state_dir(args))


def cmd_up(args):
    start = time.monotonic()
    suites = node_suites(args.suites, args.nodes)
    for suite in sorted(set(suites)):
        build_image(force=args.rebuild_image, suite=suite)
    boot_start = time.monotonic()
    sdir = state_dir(args)
    try:
        with open(os.path.join(sdir, "state.json")) as f:
            complete = json.load(f).get("complete", False)
    except (OSError, ValueError):
        complete = False
    if complete:
        raise TestbedError(f"test bed {args.name!r} exists already: run 'testbed.py down --name {args.name}' first")
    if any(leftovers(args)):
        # Never an interactive prompt (ssh-keygen's "Overwrite?") or a half-built test bed: start clean.
        log(f"removing what an earlier, unfinished 'up' of {args.name!r} left behind")
        cmd_down(args)
    try:
        return bring_up(args, sdir, start, boot_start)
    except (TestbedError, KeyboardInterrupt):
        log(f"'up' of {args.name!r} failed: removing its nodes, network and state")
        cmd_down(args)
        raise


def bring_up(args, sdir, start, boot_start):
    suites = node_suites(args.suites, args.nodes)
    os.makedirs(sdir, mode=0o700, exist_ok=True)
    net = ipaddress.ip_network(args.subnet)
    if not ipaddress.ip_network("198.18.0.0/15").supernet_of(net):
        raise TestbedError(f"--subnet {net} must lie inside 198.18.0.0/15 (addresses reserved for tests)")
    hosts = list(net.hosts())
    gateway, first = hosts[0], 10
    names = node_names(args.nodes, args.prefix)
    groups = parse_groups(args.groups, names)
    key = os.path.join(sdir, "id_ed25519")
    for stale in (key, key + ".pub"):
        if os.path.exists(stale):
            os.unlink(stale)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"aiinfra-testbed-{args.name}", "-f", key],
        stdin="")
    network = f"aiinfra-{args.name}"
    if run(["podman", "network", "exists", network], check=False).returncode != 0:
        run(["podman", "network", "create", "--subnet", str(net), "--gateway", str(gateway), network])
    nodes = []
    for i, name in enumerate(names):
        ip = str(hosts[first + i])
        cname = f"{args.name}-{name}"
        run(["podman", "run", "-d", "--name", cname, "--hostname", name, "--network", network, "--ip", ip,
             "--privileged", "--systemd=always", "--runtime", "runc",
             *(["--cgroupns", args.cgroupns] if args.cgroupns else []),
             "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768",
             "--label", f"aiinfra.testbed={args.name}",
             "-v", f"{cname}-containerd:/var/lib/containerd",
             "-v", f"{key}.pub:/root/.ssh/authorized_keys:ro,Z",
             image_name(suites[i]), "/sbin/init"])
        nodes.append({"name": name, "container": cname, "ip": ip, "suite": suites[i]})
    state = {"name": args.name, "network": network, "subnet": str(net), "gateway": str(gateway),
             "inventory": os.path.abspath(args.inventory) if args.inventory else None,
             "nodes": nodes, "key": key, "groups": groups}
    with open(os.path.join(sdir, "state.json"), "w") as f:
        json.dump(state, f, indent=2)
    known_hosts = os.path.join(sdir, "known_hosts")
    entries = []
    for node in nodes:
        def sshd_ready(node=node):
            proc = run(["podman", "exec", node["container"], "systemctl", "is-active", "ssh.service"], check=False)
            return proc.stdout.strip() == "active"
        wait_for(sshd_ready, 120, f"sshd on {node['name']}")
        # Pin each node's host key, read from inside the node (not trusted on first use over the network).
        pub = run(["podman", "exec", node["container"], "cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout.split()
        entries.append(f"{node['ip']} {pub[0]} {pub[1]}")
    with open(known_hosts, "w") as f:
        f.write("\n".join(entries) + "\n")
    inventory = write_inventory(sdir, nodes, groups, key, known_hosts, "/usr/bin/python3", args.inventory)
    for node in nodes:
        wait_for(lambda node=node: run(["ssh", "-i", key, "-o", f"UserKnownHostsFile={known_hosts}",
                                        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                                        "-o", "ConnectTimeout=3", f"root@{node['ip']}", "true"],
                                       check=False).returncode == 0, 60, f"ssh to {node['name']}")
    state["boot_seconds"] = round(time.monotonic() - boot_start, 1)
    state["complete"] = True
    with open(os.path.join(sdir, "state.json"), "w") as f:
        json.dump(state, f, indent=2)
    log(f"{len(nodes)} nodes up in {state['boot_seconds']}s (total with image {time.monotonic() - start:.0f}s); "
        f"inventory: {inventory}")
    print(inventory)


def cmd_down(args):
    sdir = state_dir(args)
    containers = run(["podman", "ps", "-a", "--filter", f"label=aiinfra.testbed={args.name}",
                      "--format", "{{.Names}}"]).stdout.split()
    if containers:
        run(["podman", "rm", "-f", "-t", "5"] + containers)
        run(["podman", "volume", "rm", "-f"] + [f"{c}-containerd" for c in containers], check=False)
    network = f"aiinfra-{args.name}"
    if run(["podman", "network", "exists", network], check=False).returncode == 0:
        run(["podman", "network", "rm", "-f", network])
    try:
        with open(os.path.join(sdir, "state.json")) as f:
            extra = json.load(f).get("inventory")
        if extra and os.path.exists(extra):
            os.unlink(extra)
    except (OSError, ValueError):
        pass
    shutil.rmtree(sdir, ignore_errors=True)
    log(f"test bed {args.name!r} removed ({len(containers)} nodes)")


def cmd_inventory(args):
    path = os.path.join(state_dir(args), "inventory.yml")
    if not os.path.exists(path):
        raise TestbedError(f"no test bed {args.name!r}: run 'testbed.py up --name {args.name}' first")
    print(path)


def cmd_state(args):
    with open(os.path.join(state_dir(args), "state.json")) as f:
        print(f.read())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-root", default=os.environ.get("AIINFRA_TESTBED_DIR", DEFAULT_STATE_ROOT))
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="create the nodes and write an inventory")
    up.add_argument("--name", default="lab")
    up.add_argument("--nodes", type=int, default=3)
    up.add_argument("--prefix", default="node")
    up.add_argument("--subnet", default="198.18.0.0/24")
    up.add_argument("--groups", default="", help="'group=h1,h2;group2=h3' written into the inventory")
    up.add_argument("--suites", default="bookworm",
                    help="Debian release per node by position, e.g. 'bookworm,trixie' (the last one repeats)")
    up.add_argument("--cgroupns", choices=("host", "private"),
                    help="the nodes' cgroup namespace (podman's default when unset). 'private' for nodes that run "
                         "a kubelet: runc then finds each container's cgroup under the node's own root")
    up.add_argument("--rebuild-image", action="store_true")
    up.add_argument("--inventory", help="also write the inventory here (e.g. inventories/testbed/hosts.yml)")
    for name, func in (("down", cmd_down), ("inventory", cmd_inventory), ("state", cmd_state)):
        p = sub.add_parser(name)
        p.add_argument("--name", default="lab")
        p.set_defaults(func=func)
    image = sub.add_parser("image", help="build (or rebuild) a node image only")
    image.add_argument("--suite", default="bookworm", choices=SUITES)
    image.set_defaults(func=lambda a: build_image(force=True, suite=a.suite))
    up.set_defaults(func=cmd_up)
    args = parser.parse_args(argv)
    if args.cmd == "up" and not 1 <= args.nodes <= 50:
        parser.error("--nodes must be between 1 and 50")
    try:
        args.func(args)
    except TestbedError as exc:
        print(f"testbed: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
