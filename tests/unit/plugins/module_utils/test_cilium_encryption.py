import os
import threading
import time

import pytest

from ansible_collections.aiinfra.cluster.plugins.module_utils import cilium_encryption as ce

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "cilium")


def fixture(name):
    with open(os.path.join(FIX, name)) as f:
        return f.read()


@pytest.mark.parametrize("name", ["encrypt_status_wireguard.txt", "encrypt_status_wireguard.json"])
def test_wireguard_status_text_and_json_agree(name):
    status = ce.parse_encrypt_status(fixture(name))
    assert status["mode"] == "wireguard"
    assert status["interfaces"] == [{"name": "cilium_wg0", "public_key": "4HkgIC24OP5xCS1RCFTbnr/4CvxRgKYZ5MAE5WI1x18=",
                                     "peer_count": 3}]


def test_text_mode_has_trailing_spaces_and_still_parses():
    text = fixture("encrypt_status_wireguard.txt")
    assert text.splitlines()[0].endswith("Wireguard" + " " * 17)
    assert ce.parse_encrypt_status(text)["mode"] == "wireguard"


def test_json_omits_zero_peer_count():
    status = ce.parse_encrypt_status(fixture("encrypt_status_wireguard_no_peers.json"))
    assert status["interfaces"][0]["peer_count"] == 0


@pytest.mark.parametrize("name", ["encrypt_status_disabled.txt", "encrypt_status_disabled.json"])
def test_disabled(name):
    status = ce.parse_encrypt_status(fixture(name))
    assert status["mode"] == "disabled" and status["interfaces"] == []


def test_ipsec_text():
    status = ce.parse_encrypt_status(fixture("encrypt_status_ipsec.txt"))
    assert status["mode"] == "ipsec"
    assert status["ipsec"] == {"keys_in_use": 2, "error_count": 12, "max_seq_number": "0x1f4/0xffffffff",
                               "decrypt_interfaces": ["eth0", "cilium_vxlan"]}


def test_ipsec_json():
    status = ce.parse_encrypt_status(fixture("encrypt_status_ipsec.json"))
    assert status["mode"] == "ipsec" and status["ipsec"]["keys_in_use"] == 2


@pytest.mark.parametrize("text,message", [
    ("", "empty encryption status"),
    ("{not json", "not valid JSON"),
    ("Interface: cilium_wg0\n", "no 'Encryption:' line"),
    ("Encryption: Quantum\n", "unknown encryption mode 'Quantum'"),
])
def test_bad_status(text, message):
    with pytest.raises(ce.ParseError, match=message):
        ce.parse_encrypt_status(text)


def test_wg_dump_real_output():
    dump = ce.parse_wg_dump(fixture("wg_dump_full.txt"))
    assert dump["public_key"] == "4HkgIC24OP5xCS1RCFTbnr/4CvxRgKYZ5MAE5WI1x18="
    assert dump["listen_port"] == 51871 and dump["fwmark"] is None
    assert [p["endpoint"] for p in dump["peers"]] == ["198.18.2.12:51871", "198.18.2.13:51871", "198.18.2.14:51871"]
    assert all(p["latest_handshake"] == 1795398706 and p["persistent_keepalive"] == 1 for p in dump["peers"])
    assert "PRIVATE" not in str(dump)


def test_wg_dump_peer_that_never_handshook():
    dump = ce.parse_wg_dump(fixture("wg_dump_never.txt"))
    never = dump["peers"][-1]
    assert never["endpoint"] is None and never["latest_handshake"] == 0 and never["persistent_keepalive"] is None
    assert ce.stale_peers(dump["peers"], now=1795398710, stale_after=300) == [never["public_key"]]
    assert len(ce.stale_peers(dump["peers"], now=1795398706 + 301, stale_after=300)) == 4


@pytest.mark.parametrize("text,message", [
    ("", "empty wg dump"), ("a\tb\tc\n", "interface line has 3 fields"), ("a\tb\t1\toff\nx\ty\n", "peer line has 2 fields")])
def test_bad_wg_dump(text, message):
    with pytest.raises(ce.ParseError, match=message):
        ce.parse_wg_dump(text)


def test_udp_listening_from_real_proc_net_udp():
    texts = [fixture("proc_net_udp.txt"), fixture("proc_net_udp6.txt")]
    assert ce.udp_port_listening(texts, 51871) is True
    assert ce.udp_port_listening(texts, 51872) is False
    assert ce.udp_port_listening([fixture("proc_net_udp6.txt")], 51871) is True


def test_node_verdicts():
    good = {"mode": "wireguard", "interface_present": True, "peers": 4, "port_listening": True, "listen_port": 51871,
            "stale_handshakes": []}
    reports = {"a": good, "b": dict(good, peers=3), "c": dict(good, mode="disabled"),
               "d": dict(good, port_listening=False, listen_port=51999), "e": {"error": "no running cilium agent"},
               "f": dict(good, interface_present=False)}
    out = ce.verdict(reports, "wireguard", 4, 51871)
    assert out["failed_nodes"] == ["b", "c", "d", "e", "f"]
    assert out["problems"]["b"] == ["3 WireGuard peers, expected 4 (nodes - 1)"]
    assert out["problems"]["c"] == ["encryption mode is disabled, expected wireguard"]
    assert out["problems"]["d"] == ["not listening on UDP 51871 (listen port 51999)"]
    assert out["problems"]["e"] == ["no running cilium agent"]
    assert out["problems"]["f"] == ["no WireGuard interface"]


def test_ipsec_expected_ignores_peers():
    assert ce.verdict({"a": {"mode": "ipsec", "peers": 0}}, "ipsec", 5)["ok"] is True


class FakeCluster:
    """list_nodes / list_agent_pods / exec_in_pod shaped like the real API layer; records concurrency."""

    def __init__(self, n, json_supported=True, broken=None, missing_agent=None, wrong_peers=None):
        self.nodes = ["node%04d" % i for i in range(n)]
        self.json_supported = json_supported
        self.broken, self.missing_agent, self.wrong_peers = broken, missing_agent, wrong_peers or {}
        self.active = self.max_active = 0
        self.lock = threading.Lock()

    def list_nodes(self):
        return list(self.nodes)

    def list_agent_pods(self):
        return [{"name": "cilium-%s" % n, "node": n, "phase": "Running"} for n in self.nodes if n != self.missing_agent]

    def exec_in_pod(self, pod, command):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(0.001)
            node = pod["node"]
            if node == self.broken:
                return 1, "", "error: unable to upgrade connection: container not found"
            peers = self.wrong_peers.get(node, len(self.nodes) - 1)
            if command[-2:] == ["-o", "json"]:
                if not self.json_supported:
                    return 1, "", "Error: unknown shorthand flag: 'o' in -o"
                return 0, ('{"mode": "Wireguard", "wireguard": {"interfaces": [{"name": "cilium_wg0", '
                           '"public-key": "k-%s", "peer-count": %d}]}}' % (node, peers)), ""
            return 0, ("Encryption: %-26s\nInterface: cilium_wg0\n\tPublic key: k-%s\n\tNumber of peers: %d\n"
                       % ("Wireguard", node, peers)), ""
        finally:
            with self.lock:
                self.active -= 1


@pytest.mark.parametrize("n", [3, 100, 1000])
def test_cluster_all_good_costs_two_lists_plus_one_exec_per_agent(n):
    api = FakeCluster(n)
    reports, nodes, calls = ce.collect_cluster(api, "cilium_wg0", concurrency=10)
    out = ce.verdict(reports, "wireguard", len(nodes) - 1)
    assert out["ok"] is True and len(reports) == n
    assert calls == 2 + n
    assert api.max_active <= 10
    assert reports["node0000"]["public_key"] == "k-node0000" and reports["node0000"]["pod"] == "cilium-node0000"


@pytest.mark.parametrize("n", [3, 100, 1000])
def test_cluster_wrong_nodes_are_named(n):
    api = FakeCluster(n, broken="node0001", missing_agent="node0002", wrong_peers={nodes: n - 3 for nodes in ["node0000"]})
    reports, nodes, calls = ce.collect_cluster(api, "cilium_wg0", concurrency=8)
    out = ce.verdict(reports, "wireguard", len(nodes) - 1)
    assert out["failed_nodes"] == ["node0000", "node0001", "node0002"]
    assert out["problems"]["node0000"] == ["%d WireGuard peers, expected %d (nodes - 1)" % (n - 3, n - 1)]
    assert "rc=1" in out["problems"]["node0001"][0] and "container not found" in out["problems"]["node0001"][0]
    assert out["problems"]["node0002"] == ["no running cilium agent pod on this node"]
    # one pod fewer; the broken one is also tried in its text form
    assert calls == 2 + (n - 1) + 1
    assert api.max_active <= 8


def test_cluster_falls_back_to_text_form_for_old_agents():
    api = FakeCluster(5, json_supported=False)
    reports, _nodes, calls = ce.collect_cluster(api, "cilium_wg0")
    assert all(r["peers"] == 4 for r in reports.values())
    assert calls == 2 + 2 * 5


# --- malformed output and options (issue 16: one clear error, never a traceback) --------------------------------------

def corrupt(line_no, field, value):
    """The real dump (fixtures/cilium/wg_dump_full.txt) with one tab-separated field replaced."""
    lines = fixture("wg_dump_full.txt").splitlines()
    fields = lines[line_no].split("\t")
    fields[field] = value
    lines[line_no] = "\t".join(fields)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("line,field,value,message", [
    (0, 2, "port", "line 1: listen-port is 'port', not a number"),
    (0, 2, "70000", "line 1: listen-port is 70000, outside 0..65535"),
    (0, 2, "", "listen-port is '', not a number"),
    (1, 4, "never", "line 2: latest-handshake is 'never', not a number"),
    (1, 4, "1.5e9", "latest-handshake is '1.5e9', not a number"),
    (2, 5, "-1", "line 3: transfer-rx is -1, outside"),
    (2, 6, "9" * 40, "line 3: transfer-tx is 9999"),
    (3, 7, "soon", "line 4: persistent-keepalive is 'soon', not a number"),
    (3, 7, "99999", "persistent-keepalive is 99999, outside 0..65535"),
])
def test_wg_dump_bad_fields(line, field, value, message):
    with pytest.raises(ce.ParseError, match=message):
        ce.parse_wg_dump(corrupt(line, field, value))


@pytest.mark.parametrize("text,message", [
    ("[1, 2]", "no 'Encryption:' line"),
    ('{"mode": "Wireguard", "wireguard": {"interfaces": {"name": "x"}}}', "no list of WireGuard interfaces"),
    ('{"mode": "Wireguard", "wireguard": {"interfaces": ["cilium_wg0"]}}', "no list of WireGuard interfaces"),
    ('{"mode": "Wireguard", "wireguard": {"interfaces": [{"name": "cilium_wg0", "peer-count": "four"}]}}',
     "peer-count is 'four', not a number"),
    ('{"mode": "IPsec", "ipsec": "on"}', "ipsec entry that is not an object"),
    ('{"mode": "IPsec", "ipsec": {"keys-in-use": -2}}', "keys-in-use is -2"),
    ("Encryption: Wireguard\nInterface: cilium_wg0\n\tNumber of peers: many\n", "Number of peers is 'many'"),
])
def test_bad_status_shapes(text, message):
    with pytest.raises(ce.ParseError, match=message):
        ce.parse_encrypt_status(text)


GOOD_PARAMS = {"interface": "cilium_wg0", "expected_peers": 4, "listen_port": 51871, "stale_handshake_seconds": 300,
               "exec_concurrency": 10, "namespace": "kube-system", "agent_selector": "k8s-app=cilium",
               "agent_container": "cilium-agent", "context": None}


@pytest.mark.parametrize("change,message", [
    ({"interface": ""}, "interface '' is not a network interface name"),
    ({"interface": "a/b"}, "is not a network interface name"),
    ({"interface": "wg 0"}, "is not a network interface name"),
    ({"interface": "x" * 16}, "is not a network interface name"),
    ({"interface": ".."}, "is not a network interface name"),
    ({"expected_peers": -1}, "expected_peers -1 is out of range: give the number of nodes minus one, 0 to 100000"),
    ({"expected_peers": 10 ** 12}, "expected_peers 1000000000000 is out of range"),
    ({"listen_port": 0}, "listen_port 0 is out of range: give a UDP port, 1 to 65535"),
    ({"listen_port": 65536}, "listen_port 65536 is out of range"),
    ({"stale_handshake_seconds": -1}, "stale_handshake_seconds -1 is out of range"),
    ({"stale_handshake_seconds": 10 ** 10}, "stale_handshake_seconds 10000000000 is out of range"),
    ({"exec_concurrency": 0}, "exec_concurrency 0 is out of range"),
    ({"namespace": " "}, "namespace is empty"),
    ({"agent_selector": ""}, "agent_selector is empty"),
])
def test_module_params_refused(change, message):
    with pytest.raises(ValueError, match=message):
        ce.check_module_params(dict(GOOD_PARAMS, **change))


def test_module_params_accepted():
    ce.check_module_params(GOOD_PARAMS)
    ce.check_module_params(dict(GOOD_PARAMS, expected_peers=None, interface="x" * 15))
