"""Prove the install steps on a fresh Debian 12: README's `scripts/setup.sh`, then the unit suite, inside a new
test-bed node (the debootstrap image: only Debian's own packages and its own python3, no pyenv, no iptables).

    python3 scripts/fresh_debian_check.py [--source DIR] [--keep]

The checkout's files (tracked and untracked-but-not-ignored; no .venv, no caches) are copied into the node, then
`scripts/setup.sh` runs there as root and `python -m pytest tests/unit` runs in the venv it made. It fails on a
missing package or interpreter. The node gets this workplace's CA bundle (the machine's network trust, needed to
reach PyPI from here) and nothing else of the host. Prints the time of each step; exit 1 on any failure.
"""

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "fresh-debian"
SUBNET = "198.18.12.0/24"
CONTAINER = NAME + "-node1"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def log(msg):
    print("fresh-debian: " + msg, flush=True)


def run(args, **kwargs):
    return subprocess.run(args, check=False, text=True, **kwargs)


def in_node(command, timeout):
    """A bash command in the node as root, output streamed; the exit status."""
    env = ["env", "LC_ALL=C.UTF-8", "DEBIAN_FRONTEND=noninteractive", "PIP_CERT=/etc/aiinfra-workplace-ca.crt",
           "REQUESTS_CA_BUNDLE=/etc/aiinfra-workplace-ca.crt", "PIP_DISABLE_PIP_VERSION_CHECK=1",
           "PIP_DEFAULT_TIMEOUT=180"]
    try:
        return run(["podman", "exec", CONTAINER, *env, "bash", "-c", command], timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        log("timed out after %ds: %s" % (timeout, command))
        return 124


def files_of(source):
    proc = run(["git", "-C", source, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
               capture_output=True)
    if proc.returncode != 0:  # not a git checkout (a copy): every file but the local and generated ones
        skip = (".venv", ".collections", ".git", "render", "__pycache__", ".pytest_cache")
        names = []
        for top, dirs, files in os.walk(source):
            dirs[:] = [d for d in dirs if d not in skip]
            names += [os.path.relpath(os.path.join(top, f), source) for f in files]
        return names
    return [n for n in proc.stdout.split("\0") if n and os.path.exists(os.path.join(source, n))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=ROOT, help="the checkout to copy into the node (default: this one)")
    parser.add_argument("--keep", action="store_true", help="leave the node running afterwards")
    args = parser.parse_args(argv)
    testbed = [sys.executable, os.path.join(ROOT, "scripts", "testbed.py")]
    times = {}
    start = time.monotonic()
    run(testbed + ["down", "--name", NAME], capture_output=True)
    up = run(testbed + ["up", "--name", NAME, "--nodes", "1", "--subnet", SUBNET], capture_output=True)
    if up.returncode != 0:
        log("the test-bed node did not start:\n" + up.stderr)
        return 1
    times["node up"] = time.monotonic() - start
    rc = 1
    try:
        # The node is the bare image: prove it before trusting the result.
        bare = run(["podman", "exec", CONTAINER, "bash", "-c",
                    "! command -v iptables && ! command -v python3.12 && ! test -d /root/.pyenv && python3 -V"],
                   capture_output=True)
        if bare.returncode != 0:
            log("the node is not a fresh Debian (iptables, python3.12 or pyenv present): " + bare.stdout + bare.stderr)
            return 1
        log("node: fresh Debian 12, " + bare.stdout.strip())
        if run(["podman", "cp", CA_BUNDLE, CONTAINER + ":/etc/aiinfra-workplace-ca.crt"]).returncode != 0:
            log("copying the CA bundle into the node failed")
            return 1
        names = files_of(args.source)
        tar = subprocess.Popen(["tar", "-C", args.source, "--null", "-T", "-", "-cf", "-"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE)
        untar = subprocess.Popen(["podman", "exec", "-i", CONTAINER, "bash", "-c",
                                  "mkdir -p /opt/aiinfra && tar -C /opt/aiinfra -xf -"], stdin=tar.stdout)
        tar.stdout.close()
        tar.communicate(("\0".join(names)).encode())
        if untar.wait() != 0 or tar.returncode != 0:
            log("copying the checkout into the node failed")
            return 1
        log("copied %d files" % len(names))
        for step, command, timeout in (
                # the kube-apiserver build serves the live API-server tier, not the unit suite: CI builds it
                # on the machine itself (15-20 minutes more here)
                ("setup.sh", "cd /opt/aiinfra && AIINFRA_SKIP_KUBE_BUILD=1 scripts/setup.sh", 1500),
                ("unit suite", "cd /opt/aiinfra && . .venv/bin/activate && python -V && "
                               "python -m pytest -q -p no:cacheprovider tests/unit", 1200)):
            step_start = time.monotonic()
            log("--- %s" % step)
            rc = in_node(command, timeout)
            times[step] = time.monotonic() - step_start
            if rc != 0:
                log("%s FAILED (rc=%d) in %.0fs" % (step, rc, times[step]))
                return 1
        rc = 0
        return 0
    finally:
        if not args.keep:
            run(testbed + ["down", "--name", NAME], capture_output=True)
        times["total"] = time.monotonic() - start
        log("times: " + ", ".join("%s %.0fs" % kv for kv in times.items()) + ("" if rc == 0 else " (failed)"))


if __name__ == "__main__":
    sys.exit(main())
