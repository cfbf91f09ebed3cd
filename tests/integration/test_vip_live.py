"""Live control-plane VIP: the control_plane_vip role's rendered keepalived.conf and haproxy.cfg run for real
(keepalived 2.2, haproxy 2.6) on 3 "nodes" in network namespaces on a bridge, each with a stand-in API server
answering /healthz. The VIP answers through haproxy; stopping the master's keepalived moves it and it answers
again; failing a node's haproxy makes keepalived hand the VIP on."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
VIP = "198.18.6.10"
NODES = {"v1": "198.18.6.11", "v2": "198.18.6.12", "v3": "198.18.6.13"}
PREFIX = "aivip"

pytestmark = pytest.mark.skipif(
    (None in [shutil.which(t) for t in ("keepalived", "haproxy", "ip")] or os.geteuid() != 0) and not os.environ.get("CI"),
    reason="needs root, keepalived and haproxy (CI always runs it)")

APISERVER = r"""
import http.server, sys
name = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = name.encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("0.0.0.0", 6443), H).serve_forever()
"""


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check, env=dict(os.environ, LC_ALL="C"))


def ns(name):
    return "%s-%s" % (PREFIX, name)


def teardown():
    for name in list(NODES) + ["client", "sw"]:
        for pid in sh("ip", "netns", "pids", ns(name), check=False).stdout.split():
            sh("kill", "-9", pid, check=False)
        sh("ip", "netns", "del", ns(name), check=False)


def holder_of_vip():
    return sorted(n for n in NODES if VIP in sh("ip", "-n", ns(n), "-4", "addr", "show", "dev", "eth0").stdout)


def fetch_via_vip():
    code = ("import urllib.request; print(urllib.request.urlopen('http://%s:8443/healthz', timeout=2).read().decode())"
            % VIP)
    out = sh("ip", "netns", "exec", ns("client"), sys.executable, "-c", code, check=False)
    return out.stdout.strip() if out.returncode == 0 else None


def wait_for(predicate, timeout, what):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        value = predicate()
        if value:
            return value, time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


@pytest.fixture(scope="module")
def vip_nodes():
    teardown()
    work = tempfile.mkdtemp(prefix="aivip-")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"))
    render = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "tests/integration/inventories/vip",
                             "playbooks/render.yml", "-e", "render_dir=%s/render" % work], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)
    assert render.returncode == 0, render.stdout + render.stderr
    procs = {}

    def start_keepalived(name):
        return subprocess.Popen(
            ["ip", "netns", "exec", ns(name), "keepalived", "--dont-fork", "--log-console", "--vrrp",
             "-f", os.path.join(work, "render", "control_plane_vip", name, "keepalived.conf"),
             "-p", os.path.join(work, name + ".pid"), "-r", os.path.join(work, name + "-vrrp.pid")],
            stdout=open(os.path.join(work, name + "-keepalived.log"), "a"), stderr=subprocess.STDOUT)

    sh("ip", "netns", "add", ns("sw"))
    sh("ip", "-n", ns("sw"), "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", ns("sw"), "link", "set", "br0", "up")
    try:
        for i, (name, addr) in enumerate(list(NODES.items()) + [("client", "198.18.6.50")]):
            sh("ip", "netns", "add", ns(name))
            sh("ip", "link", "add", "%s%da" % (PREFIX, i), "netns", ns(name), "type", "veth", "peer", "name",
               "%s%db" % (PREFIX, i), "netns", ns("sw"))
            sh("ip", "-n", ns("sw"), "link", "set", "%s%db" % (PREFIX, i), "master", "br0", "up")
            sh("ip", "-n", ns(name), "link", "set", "%s%da" % (PREFIX, i), "name", "eth0")
            sh("ip", "-n", ns(name), "addr", "add", addr + "/24", "dev", "eth0")
            sh("ip", "-n", ns(name), "link", "set", "eth0", "up")
            sh("ip", "-n", ns(name), "link", "set", "lo", "up")
        for name in NODES:
            cfg = os.path.join(work, "render", "control_plane_vip", name)
            run = ["ip", "netns", "exec", ns(name)]
            procs[name, "api"] = subprocess.Popen(run + [sys.executable, "-c", APISERVER, name])
            procs[name, "haproxy"] = subprocess.Popen(run + ["haproxy", "-db", "-f", os.path.join(cfg, "haproxy.cfg")],
                                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs[name, "keepalived"] = start_keepalived(name)
        procs["work"] = work
        procs["start_keepalived"] = start_keepalived
        yield procs
    finally:
        for proc in procs.values():
            if isinstance(proc, subprocess.Popen):
                proc.kill()
        teardown()
        shutil.rmtree(work, ignore_errors=True)


def rogue_keepalived(work, name, config, src, priority, password):
    """A keepalived in namespace `name` with the role's config for `config` but its own source, priority and
    password: a speaker the cluster must not obey."""
    with open(os.path.join(work, "render", "control_plane_vip", config, "keepalived.conf")) as f:
        text = f.read()
    text = text.replace("unicast_src_ip %s" % NODES[config], "unicast_src_ip %s" % src)
    text = text.replace("priority %d" % (150 - 10 * list(NODES).index(config)), "priority %d" % priority)
    text = text.replace("auth_pass rendered", "auth_pass %s" % password)
    if src not in NODES.values():  # the foreign host speaks to every real node
        text = text.replace("unicast_peer {\n", "unicast_peer {\n    %s\n" % NODES[config])
    path = os.path.join(work, "%s-rogue.conf" % name)
    with open(path, "w") as f:
        f.write(text)
    return subprocess.Popen(["ip", "netns", "exec", ns(name), "keepalived", "--dont-fork", "--log-console", "--vrrp",
                             "-f", path, "-p", os.path.join(work, name + "-rogue.pid"),
                             "-r", os.path.join(work, name + "-rogue-vrrp.pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stays_with_v1(seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if "v1" not in holder_of_vip():
            return False
        time.sleep(0.2)
    return True


def rogue_cannot_take_the_vip(work, where, config, src, password, why):
    """A rogue speaker with the highest priority runs in namespace `where` for 5 s; v1 must keep the VIP."""
    rogue = rogue_keepalived(work, where, config, src, 254, password)
    try:
        assert stays_with_v1(5), why
    finally:
        rogue.terminate()
        rogue.wait()
        sh("ip", "-n", ns(where), "addr", "del", VIP + "/24", "dev", "eth0", check=False)


def test_foreign_vrrp_speakers_cannot_take_the_vip(vip_nodes):
    wait_for(lambda: holder_of_vip() if holder_of_vip() == ["v1"] else None, 20, "v1 to hold the VIP")
    work = vip_nodes["work"]
    rogue_cannot_take_the_vip(work, "client", "v2", "198.18.6.50", "rendered",
                              "a non-member with the right password and a higher priority took the VIP from v1")
    # a member (v3's address) with the wrong password
    vip_nodes["v3", "keepalived"].terminate()
    vip_nodes["v3", "keepalived"].wait()
    try:
        rogue_cannot_take_the_vip(work, "v3", "v3", NODES["v3"], "wrong-pw",
                                  "a node with the wrong VRRP password took the VIP from v1")
    finally:
        vip_nodes["v3", "keepalived"] = vip_nodes["start_keepalived"]("v3")


def test_vip_answers_and_moves(vip_nodes, capsys):
    # the highest priority (first control-plane node) ends up holding it, after preempting if it started last
    holders, elected = wait_for(lambda: holder_of_vip() if holder_of_vip() == ["v1"] else None, 20,
                                "v1 to hold the VIP")
    answer, _t = wait_for(fetch_via_vip, 20, "the API through the VIP")
    assert answer in NODES  # haproxy forwarded to one of the API servers

    vip_nodes["v1", "keepalived"].kill()
    vip_nodes["v1", "keepalived"].wait()
    start = time.monotonic()
    holders, moved = wait_for(lambda: [h for h in holder_of_vip() if h != "v1"] == ["v2"] and holder_of_vip(), 15,
                              "the VIP to move to v2")
    answer, answered = wait_for(fetch_via_vip, 15, "the API through the moved VIP")
    answered = time.monotonic() - start
    assert holders == ["v2"] and answer in NODES

    # a failed haproxy on the new master: keepalived's check lowers its priority and the VIP moves again
    vip_nodes["v2", "haproxy"].kill()
    start = time.monotonic()
    holders, _t = wait_for(lambda: holder_of_vip() if holder_of_vip() == ["v3"] else None, 20,
                           "the VIP to leave the node whose haproxy died")
    answer, _t = wait_for(fetch_via_vip, 15, "the API after the haproxy failover")
    haproxy_failover = time.monotonic() - start
    with capsys.disabled():
        print("\nVIP: elected in %.1fs; keepalived stop -> moved %.1fs, answering %.1fs; haproxy failure -> "
              "answering via v3 after %.1fs" % (elected, moved, answered, haproxy_failover))
