# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proof of Cilium transparent encryption: parsers and verdicts (pure), plus the cluster collector.

Node mode reads the WireGuard interface on the host (``wg show cilium_wg0 dump``, /proc/net/udp);
cluster mode reads every cilium agent's ``cilium-dbg encrypt status`` through the Kubernetes API.
Both end in the same verdict: the mode is the expected one, and every node has nodes - 1 peers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor

MODES = ("wireguard", "ipsec", "disabled")
_MODE_NAMES = {"wireguard": "wireguard", "ipsec": "ipsec", "disabled": "disabled"}


class ParseError(ValueError):
    pass


def _number(value, what, low=0, high=2 ** 64 - 1):
    """An int from tool output, or ParseError naming the field (the output is not what the parser knows)."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ParseError("%s is %r, not a number" % (what, value))
    if not low <= number <= high:
        raise ParseError("%s is %d, outside %d..%d" % (what, number, low, high))
    return number


def _mode(value):
    mode = str(value or "").strip().lower()
    if mode not in _MODE_NAMES:
        raise ParseError("unknown encryption mode %r" % value)
    return _MODE_NAMES[mode]


def parse_encrypt_status(text):
    """``cilium-dbg encrypt status`` in its JSON (-o json) or text form -> dict.

    {mode, interfaces: [{name, public_key, peer_count}], ipsec: {keys_in_use, error_count, ...} or None}
    The text form pads the mode with trailing spaces ("Encryption: Wireguard" + 17 spaces).
    """
    text = (text or "").strip()
    if not text:
        raise ParseError("empty encryption status")
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ParseError("encryption status is not valid JSON: %s" % exc)
        wg = doc.get("wireguard") or {}
        ipsec = doc.get("ipsec")
        interfaces = (wg.get("interfaces") or []) if isinstance(wg, dict) else None
        if not isinstance(interfaces, list) or not all(isinstance(i, dict) for i in interfaces):
            raise ParseError("encryption status JSON has no list of WireGuard interfaces")
        if ipsec is not None and not isinstance(ipsec, dict):
            raise ParseError("encryption status JSON has an ipsec entry that is not an object")
        return {
            "mode": _mode(doc.get("mode") or "disabled"),
            "interfaces": [{"name": str(i.get("name", "")), "public_key": str(i.get("public-key", "")),
                            "peer_count": _number(i.get("peer-count", 0) or 0, "peer-count")}
                           for i in interfaces],
            "ipsec": None if ipsec is None else {
                "keys_in_use": _number(ipsec.get("keys-in-use", 0) or 0, "keys-in-use"),
                "error_count": _number(ipsec.get("error-count", 0) or 0, "error-count"),
                "max_seq_number": ipsec.get("max-seq-number", ""),
                "decrypt_interfaces": list(ipsec.get("decrypt-interfaces") or []),
            },
        }
    match = re.search(r"^\s*Encryption:\s*(\S+)\s*$", text, re.M)
    if not match:
        raise ParseError("no 'Encryption:' line in encryption status")
    mode = _mode(match.group(1))
    interfaces = []
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "interface":
            interfaces.append({"name": value, "public_key": "", "peer_count": 0})
        elif key == "public key" and interfaces:
            interfaces[-1]["public_key"] = value
        elif key == "number of peers" and interfaces:
            interfaces[-1]["peer_count"] = _number(value, "Number of peers")
    ipsec = None
    if mode == "ipsec":
        keys = re.search(r"^\s*Keys in use:\s*(\d+)", text, re.M)
        errors = re.search(r"^\s*Errors:\s*(\d+)", text, re.M)
        seq = re.search(r"^\s*Max Seq\. Number:\s*(\S+)", text, re.M)
        dec = re.search(r"^\s*Decryption interface\(s\):\s*(.*)$", text, re.M)
        ipsec = {
            "keys_in_use": int(keys.group(1)) if keys else 0,
            "error_count": int(errors.group(1)) if errors else 0,
            "max_seq_number": seq.group(1) if seq else "",
            "decrypt_interfaces": [d.strip() for d in dec.group(1).split(",") if d.strip()] if dec else [],
        }
    return {"mode": mode, "interfaces": interfaces, "ipsec": ipsec}


def parse_wg_dump(text):
    """``wg show IFACE dump`` -> {public_key, listen_port, fwmark, peers: [...]}; the private key is dropped.

    First line: private-key, public-key, listen-port, fwmark. Then one line per peer: public-key,
    preshared-key, endpoint, allowed-ips, latest-handshake (epoch, 0 = never), rx, tx, persistent-keepalive.
    """
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines:
        raise ParseError("empty wg dump")
    head = lines[0].split("\t")
    if len(head) != 4:
        raise ParseError("wg dump interface line has %d fields, expected 4" % len(head))
    peers = []
    for number, line in enumerate(lines[1:], start=2):
        f = line.split("\t")
        if len(f) != 8:
            raise ParseError("wg dump peer line has %d fields, expected 8 (line %d)" % (len(f), number))
        where = "wg dump line %d: " % number
        peers.append({
            "public_key": f[0],
            "endpoint": None if f[2] == "(none)" else f[2],
            "allowed_ips": [] if f[3] == "(none)" else f[3].split(","),
            "latest_handshake": _number(f[4], where + "latest-handshake"),
            "rx_bytes": _number(f[5], where + "transfer-rx"),
            "tx_bytes": _number(f[6], where + "transfer-tx"),
            "persistent_keepalive": None if f[7] == "off" else _number(f[7], where + "persistent-keepalive", 0, 65535),
        })
    return {"public_key": head[1], "listen_port": _number(head[2], "wg dump line 1: listen-port", 0, 65535),
            "fwmark": None if head[3] == "off" else head[3], "peers": peers}


IFNAME_RE = re.compile(r"^[^/\s:]{1,15}$")  # Linux interface names: at most 15 bytes, no '/', ':' or space
INT_LIMITS = {  # option: (lowest, highest, what it means)
    "expected_peers": (0, 100000, "the number of nodes minus one"),
    "listen_port": (1, 65535, "a UDP port"),
    "stale_handshake_seconds": (0, 10 ** 9, "seconds (0: every peer counts as stale)"),
    "exec_concurrency": (1, 1000, "parallel execs"),
}


def check_module_params(params):
    """ValueError naming the first option of cilium_encryption_info that cannot work (checked before any read)."""
    interface = params.get("interface")
    if not isinstance(interface, str) or not IFNAME_RE.match(interface) or interface in (".", ".."):
        raise ValueError("interface %r is not a network interface name (1 to 15 characters, no '/', ':' or spaces)"
                         % (interface,))
    for option, (low, high, meaning) in sorted(INT_LIMITS.items()):
        value = params.get(option)
        if value is not None and not low <= value <= high:
            raise ValueError("%s %d is out of range: give %s, %d to %d" % (option, value, meaning, low, high))
    for option in ("namespace", "agent_selector", "agent_container", "context"):
        value = params.get(option)
        if value is not None and not value.strip():
            raise ValueError("%s is empty: give a value or leave the option out" % option)


def udp_port_listening(proc_net_udp_texts, port):
    """True when any /proc/net/udp{,6} text has a socket bound to ``port``."""
    want = "%04X" % int(port)
    for text in proc_net_udp_texts:
        for line in (text or "").splitlines()[1:]:
            fields = line.split()
            if len(fields) > 1 and fields[1].rsplit(":", 1)[-1].upper() == want:
                return True
    return False


def stale_peers(peers, now, stale_after):
    """Public keys of peers that never completed a handshake or not within ``stale_after`` seconds."""
    return [p["public_key"] for p in peers
            if not p["latest_handshake"] or now - p["latest_handshake"] > stale_after]


def node_report_from_wg(dump, listening, expected_port, now, stale_after):
    return {
        "mode": "wireguard",
        "interface_present": True,
        "public_key": dump["public_key"],
        "listen_port": dump["listen_port"],
        "port_listening": listening and dump["listen_port"] == expected_port,
        "peers": len(dump["peers"]),
        "stale_handshakes": stale_peers(dump["peers"], now, stale_after),
        "peer_endpoints": sorted(p["endpoint"] for p in dump["peers"] if p["endpoint"]),
    }


def node_report_from_agent(status, interface):
    wg = [i for i in status["interfaces"] if i["name"] == interface]
    return {
        "mode": status["mode"],
        "interface_present": bool(wg),
        "public_key": wg[0]["public_key"] if wg else None,
        "peers": wg[0]["peer_count"] if wg else 0,
        "ipsec": status.get("ipsec"),
    }


def node_problems(report, expected_mode, expected_peers, expected_port=None, fail_on_stale=False):
    """Reasons one node fails the check (empty list = good)."""
    problems = []
    if report.get("error"):
        return [report["error"]]
    if report["mode"] != expected_mode:
        problems.append("encryption mode is %s, expected %s" % (report["mode"], expected_mode))
        return problems
    if expected_mode == "wireguard":
        if not report.get("interface_present"):
            problems.append("no WireGuard interface")
            return problems
        if report["peers"] != expected_peers:
            problems.append("%d WireGuard peers, expected %d (nodes - 1)" % (report["peers"], expected_peers))
        if expected_port is not None and not report.get("port_listening", True):
            problems.append("not listening on UDP %d (listen port %s)" % (expected_port, report.get("listen_port")))
        if fail_on_stale and report.get("stale_handshakes"):
            problems.append("%d peers without a recent handshake" % len(report["stale_handshakes"]))
    return problems


def verdict(reports, expected_mode, expected_peers, expected_port=None, fail_on_stale=False):
    """{ok, failed_nodes, problems: {node: [..]}} over {node: report}; expected_peers may be a dict per node."""
    problems = {}
    for node in sorted(reports):
        peers = expected_peers[node] if isinstance(expected_peers, dict) else expected_peers
        found = node_problems(reports[node], expected_mode, peers, expected_port, fail_on_stale)
        if found:
            problems[node] = found
    return {"ok": not problems, "failed_nodes": sorted(problems), "problems": problems}


class CountingAPI(object):
    """Wraps a cluster API (list_nodes, list_agent_pods, exec_in_pod) and counts the calls made."""

    def __init__(self, api):
        self._api = api
        self._lock = threading.Lock()
        self.calls = 0

    def __getattr__(self, name):
        func = getattr(self._api, name)

        def counted(*args, **kwargs):
            with self._lock:
                self.calls += 1
            return func(*args, **kwargs)
        return counted


STATUS_JSON = ["cilium-dbg", "encrypt", "status", "-o", "json"]
STATUS_TEXT = ["cilium-dbg", "encrypt", "status"]


def _agent_status(api, pod):
    """One agent's status: JSON first, the text form when the JSON form is refused (older agents)."""
    rc, out, err = api.exec_in_pod(pod, STATUS_JSON)
    if rc == 0:
        try:
            return parse_encrypt_status(out), None
        except ParseError:
            pass
    rc, out, err = api.exec_in_pod(pod, STATUS_TEXT)
    if rc != 0:
        return None, "cilium-dbg encrypt status failed in pod %s (rc=%s): %s" % (pod["name"], rc, (err or out).strip())
    try:
        return parse_encrypt_status(out), None
    except ParseError as exc:
        return None, "could not read encryption status of pod %s: %s" % (pod["name"], exc)


def collect_cluster(api, interface, concurrency=10):
    """Reports per node from one node list, one agent pod list and one exec per agent (bounded parallel).

    Returns (reports, node_names, api_calls). Nodes without a running agent get an error report.
    """
    counting = CountingAPI(api)
    nodes = counting.list_nodes()
    pods = [p for p in counting.list_agent_pods() if p.get("phase", "Running") == "Running"]
    by_node = {}
    for pod in pods:
        by_node.setdefault(pod["node"], pod)
    reports = {}
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(by_node) or 1))) as pool:
        results = dict(zip(by_node, pool.map(lambda n: _agent_status(counting, by_node[n]), list(by_node))))
    for node in nodes:
        if node not in results:
            reports[node] = {"error": "no running cilium agent pod on this node"}
            continue
        status, error = results[node]
        if error:
            reports[node] = {"error": error}
        else:
            report = node_report_from_agent(status, interface)
            report["pod"] = by_node[node]["name"]
            reports[node] = report
    return reports, nodes, counting.calls


class KubernetesAgentAPI(object):
    """The cluster API over the kubernetes Python client: one call per method invocation."""

    def __init__(self, kubeconfig=None, context=None, namespace="kube-system", selector="k8s-app=cilium",
                 container="cilium-agent", timeout=30):
        from kubernetes import client, config  # imported here so node mode needs no kubernetes library
        if kubeconfig or context:
            config.load_kube_config(config_file=kubeconfig, context=context)
        else:
            try:
                config.load_incluster_config()
            except config.ConfigException:
                config.load_kube_config()
        self._core = client.CoreV1Api()
        self._namespace, self._selector, self._container, self._timeout = namespace, selector, container, timeout

    def list_nodes(self):
        return [n.metadata.name for n in self._core.list_node(_request_timeout=self._timeout).items]

    def list_agent_pods(self):
        pods = self._core.list_namespaced_pod(self._namespace, label_selector=self._selector,
                                              _request_timeout=self._timeout).items
        return [{"name": p.metadata.name, "node": p.spec.node_name, "phase": p.status.phase} for p in pods]

    def exec_in_pod(self, pod, command):
        from kubernetes.stream import stream
        resp = stream(self._core.connect_get_namespaced_pod_exec, pod["name"], self._namespace,
                      container=self._container, command=command, stderr=True, stdin=False, stdout=True,
                      tty=False, _preload_content=False, _request_timeout=self._timeout)
        resp.run_forever(timeout=self._timeout)
        out, err = resp.read_stdout(), resp.read_stderr()
        rc = resp.returncode
        resp.close()
        return (rc if rc is not None else 1), out, err
