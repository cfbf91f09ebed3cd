"""Live WireGuard mesh: real `cilium_wg0` interfaces (wireguard-go, UDP 51871) in network namespaces, full
mesh, checked by cilium_encryption_info in node mode on every "node"; then one peer is removed on one node
and the module must name exactly that node.

Each node is a network + mount + UTS namespace held open by a sleeping process: its own hostname, its own
/run/wireguard (wireguard-go's control sockets would collide otherwise), addresses in 198.18.2.0/24 on a
bridge in a switch namespace of its own. Nothing is configured in the host's namespaces.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import moduleproc

NODES = 4
PREFIX = "aiwg"

needs = [shutil.which(t) for t in ("wireguard-go", "wg", "ip", "nsenter", "unshare")]
pytestmark = pytest.mark.skipif(
    (None in needs or os.geteuid() != 0) and not os.environ.get("CI"),
    reason="needs root and wireguard-go, wireguard-tools, iproute2 (CI always runs it)")


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))


class Node:
    def __init__(self, index, workdir):
        self.index = index
        self.name = "node%d" % index
        self.netns = "%s-n%d" % (PREFIX, index)
        self.ip = "198.18.2.%d" % (10 + index)
        self.key_file = os.path.join(workdir, self.name + ".key")
        self.holder = None
        self.public_key = None

    def run(self, *args, check=True):
        return sh("nsenter", "-t", str(self.holder.pid), "-m", "-n", "-u", *args, check=check)


def teardown():
    for i in range(1, NODES + 1):
        ns = "%s-n%d" % (PREFIX, i)
        pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
        for pid in pids:
            sh("kill", "-9", pid, check=False)
        sh("ip", "netns", "del", ns, check=False)
    sh("ip", "netns", "del", PREFIX + "-sw", check=False)


@pytest.fixture(scope="module")
def mesh():
    teardown()
    workdir = tempfile.mkdtemp(prefix="aiwg-")
    os.makedirs("/run/wireguard", exist_ok=True)
    sw = PREFIX + "-sw"
    sh("ip", "netns", "add", sw)
    sh("ip", "-n", sw, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", sw, "link", "set", "br0", "up")
    nodes = [Node(i, workdir) for i in range(1, NODES + 1)]
    try:
        for node in nodes:
            sh("ip", "netns", "add", node.netns)
            sh("ip", "link", "add", "%s%da" % (PREFIX, node.index), "netns", node.netns, "type", "veth",
               "peer", "name", "%s%db" % (PREFIX, node.index), "netns", sw)
            sh("ip", "-n", sw, "link", "set", "%s%db" % (PREFIX, node.index), "master", "br0", "up")
            sh("ip", "-n", node.netns, "link", "set", "%s%da" % (PREFIX, node.index), "name", "eth0")
            sh("ip", "-n", node.netns, "addr", "add", node.ip + "/24", "dev", "eth0")
            sh("ip", "-n", node.netns, "link", "set", "eth0", "up")
            sh("ip", "-n", node.netns, "link", "set", "lo", "up")
            node.holder = subprocess.Popen(
                ["ip", "netns", "exec", node.netns, "unshare", "--mount", "--uts", "--propagation", "private",
                 "sh", "-c", "mount -t tmpfs tmpfs /run/wireguard && hostname %s && exec sleep 900" % node.name])
            deadline = time.time() + 10
            while node.run("hostname", check=False).stdout.strip() != node.name:
                assert time.time() < deadline, "namespace holder for %s did not start" % node.name
                time.sleep(0.1)
            private = sh("wg", "genkey").stdout.strip()
            with open(node.key_file, "w") as f:
                f.write(private + "\n")
            os.chmod(node.key_file, 0o600)
            node.public_key = subprocess.run(["wg", "pubkey"], input=private + "\n", capture_output=True,
                                             text=True, check=True).stdout.strip()
            node.run("wireguard-go", "cilium_wg0")
            node.run("wg", "set", "cilium_wg0", "listen-port", "51871", "private-key", node.key_file)
            node.run("ip", "addr", "add", "10.200.0.%d/24" % node.index, "dev", "cilium_wg0")
            node.run("ip", "link", "set", "cilium_wg0", "up")
        for node in nodes:
            for other in nodes:
                if other is not node:
                    node.run("wg", "set", "cilium_wg0", "peer", other.public_key, "endpoint", other.ip + ":51871",
                             "allowed-ips", "10.200.0.%d/32" % other.index, "persistent-keepalive", "1")
        # keepalives start the handshakes; wait until every peer on every node has one
        deadline = time.time() + 30
        while True:
            stamps = [int(line.split("\t")[1]) for n in nodes
                      for line in n.run("wg", "show", "cilium_wg0", "latest-handshakes").stdout.splitlines()]
            if stamps and all(stamps):
                break
            assert time.time() < deadline, "WireGuard handshakes did not complete: %s" % stamps
            time.sleep(0.5)
        yield nodes
    finally:
        for node in nodes:
            if node.holder:
                node.holder.kill()
        teardown()
        shutil.rmtree(workdir, ignore_errors=True)


def run_module(node, **args):
    return moduleproc.run_module("cilium_encryption_info", dict(mode="node", **args),
                                 prefix=["nsenter", "-t", str(node.holder.pid), "-m", "-n", "-u"])


def test_full_mesh_every_node_has_nodes_minus_one_peers(mesh):
    for node in mesh:
        rc, out = run_module(node, expected_peers=NODES - 1)
        assert rc == 0 and out["ok"] is True, out
        report = out["nodes"][node.name]
        assert report["mode"] == "wireguard"
        assert report["public_key"] == node.public_key
        assert report["listen_port"] == 51871 and report["port_listening"] is True
        assert report["peers"] == NODES - 1
        assert report["stale_handshakes"] == []
        assert sorted(report["peer_endpoints"]) == sorted("%s:51871" % o.ip for o in mesh if o is not node)
        assert out["api_calls"] == 0 and out["changed"] is False
        with open(node.key_file) as f:
            assert f.read().strip() not in json.dumps(out)  # the private key never leaves the node


def test_wrong_peer_count_expected_is_reported(mesh):
    rc, out = run_module(mesh[0], expected_peers=NODES)  # as if the cluster had one more node
    assert rc == 1 and out["failed"] is True
    assert out["failed_nodes"] == ["node1"]
    assert "node1: 3 WireGuard peers, expected 4 (nodes - 1)" in out["msg"]


def test_removed_peer_names_exactly_that_node(mesh):
    victim = mesh[1]
    victim.run("wg", "set", "cilium_wg0", "peer", mesh[2].public_key, "remove")
    results = {node.name: run_module(node, expected_peers=NODES - 1) for node in mesh}
    failed = sorted(name for name, (rc, out) in results.items() if rc != 0)
    assert failed == [victim.name]
    rc, out = results[victim.name]
    assert out["failed_nodes"] == [victim.name]
    assert out["msg"] == ("Transparent encryption is not as expected (wireguard, peers = nodes - 1 = 3) on 1 of 4 "
                          "nodes: node2: 2 WireGuard peers, expected 3 (nodes - 1)")
    assert out["nodes"][victim.name]["peers"] == 2


def test_stale_handshakes_can_fail_the_check(mesh):
    # with a zero threshold every peer counts as stale (its last handshake is at least a moment old)
    rc, out = run_module(mesh[2], expected_peers=NODES - 1, stale_handshake_seconds=0, fail_on_stale=True)
    assert rc == 1 and "peers without a recent handshake" in out["msg"]


def test_missing_interface_reads_as_disabled(mesh):
    node = mesh[3]
    rc, out = run_module(node, expected_peers=NODES - 1, interface="cilium_wg9")
    assert rc == 1
    assert out["nodes"][node.name]["mode"] == "disabled"
    assert "node4: encryption mode is disabled, expected wireguard" in out["msg"]
