# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory validation for aiinfra.cluster: pure functions, no I/O.

``validate(hosts, settings)`` takes one small dict per host (built by the preflight role from the
inventory and gathered facts) and the cluster settings, and returns a list of problems, each a
sentence that names the host or setting at fault and what to do. An empty list means the inventory
is fit to build a cluster from.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

DISTRIBUTIONS = ("k3s", "kubeadm")

# kubeadm: plain Kubernetes release; k3s: the k3s release tag.
VERSION_PATTERNS = {
    "kubeadm": re.compile(r"^v?1\.(\d+)\.(\d+)$"),
    "k3s": re.compile(r"^v1\.(\d+)\.(\d+)\+k3s(\d+)$"),
}
VERSION_EXAMPLES = {"kubeadm": "1.31.4", "k3s": "v1.31.4+k3s1"}

DEFAULT_SUPPORTED_OS = {"Debian": ["12"], "Ubuntu": ["22.04", "24.04"]}

DEFAULT_MIN_RESOURCES = {
    # MemTotal reads a little under the nominal size: a 2 GiB VM reports ~1950 MiB.
    "control_plane": {"memory_mb": 1800, "disk_free_mb": 15000},
    "worker": {"memory_mb": 900, "disk_free_mb": 10000},
    "gpu": {"memory_mb": 7500, "disk_free_mb": 40000},
}

DEFAULT_GROUPS = {"control_plane": "k8s_control_plane", "worker": "k8s_workers", "gpu": "gpu_nodes"}

GPU_REQUIRED_VARS = ("gpu_mig_strategy", "gpu_time_slicing_replicas")
GPU_MIG_STRATEGIES = ("none", "single", "mixed")


def _names(hosts):
    return ", ".join(sorted(hosts))


def interface_network(host):
    """The IPv4 network of the interface that carries the host's node IP, or None."""
    for addr in host.get("ipv4") or []:
        if addr.get("address") == host.get("ip"):
            prefix = addr.get("prefix") or addr.get("netmask")
            try:
                return ipaddress.ip_interface("%s/%s" % (addr["address"], prefix)).network
            except ValueError:
                return None
    return None


def check_distribution(settings):
    dist = settings.get("distribution")
    if dist not in DISTRIBUTIONS:
        return ["k8s_distribution is %r: it must be one of %s." % (dist, ", ".join(DISTRIBUTIONS))]
    return []


def check_version(settings):
    dist, version = settings.get("distribution"), settings.get("kubernetes_version")
    if dist not in VERSION_PATTERNS:
        return []  # reported by check_distribution
    if not isinstance(version, str) or not VERSION_PATTERNS[dist].match(version):
        return ["k8s_version is %r: with k8s_distribution=%s it must look like %s." % (
            version, dist, VERSION_EXAMPLES[dist])]
    return []


def check_control_plane_count(hosts, groups):
    cps = [h["name"] for h in hosts if groups["control_plane"] in h.get("groups", [])]
    if not cps:
        return ["Group %s is empty: at least one control-plane host is needed (1, 3 or 5)." % groups["control_plane"]]
    if len(cps) % 2 == 0:
        return ["Group %s has %d hosts (%s): etcd needs an odd number of members for quorum; use 1, 3 or 5." % (
            groups["control_plane"], len(cps), _names(cps))]
    return []


def check_exclusive_groups(hosts, groups):
    problems = []
    cp, worker, gpu = groups["control_plane"], groups["worker"], groups["gpu"]
    for host in hosts:
        member = host.get("groups", [])
        if cp in member and worker in member:
            problems.append("Host %s is in both %s and %s: a host is either a control-plane node or a worker." % (
                host["name"], cp, worker))
        if gpu in member and worker not in member:
            problems.append("Host %s is in %s but not in %s: GPU nodes join as workers; add it to %s." % (
                host["name"], gpu, worker, worker))
    return problems


def check_duplicates(hosts):
    problems = []
    for key, label in (("ip", "node IP"), ("hostname", "hostname")):
        seen = {}
        for host in hosts:
            value = host.get(key)
            if value:
                seen.setdefault(value, []).append(host["name"])
        for value, names in sorted(seen.items()):
            if len(names) > 1:
                problems.append("Hosts %s share the %s %s: every node needs its own." % (_names(names), label, value))
    return problems


def check_vip(hosts, settings, groups):
    vip = settings.get("api_vip")
    cps = [h for h in hosts if groups["control_plane"] in h.get("groups", [])]
    if not vip:
        if len(cps) > 1:
            return ["k8s_api_vip is not set: with %d control-plane hosts the API needs a virtual IP "
                    "(a free address in the control-plane subnet)." % len(cps)]
        return []
    try:
        vip_addr = ipaddress.ip_address(vip)
    except ValueError:
        return ["k8s_api_vip %r is not an IP address." % vip]
    problems = []
    owners = [h["name"] for h in hosts if h.get("ip") == str(vip_addr)]
    if owners:
        problems.append("k8s_api_vip %s is the node IP of %s: the VIP must be a free address." % (vip, _names(owners)))
    for host in cps:
        net = interface_network(host)
        if net is None:
            problems.append("Host %s: could not find the subnet of its node IP %s to check k8s_api_vip against; "
                            "set k8s_node_ip to an address of one of its interfaces." % (host["name"], host.get("ip")))
        elif vip_addr not in net:
            problems.append("k8s_api_vip %s is not inside %s, the subnet of control-plane host %s (%s): "
                            "keepalived can only hold a VIP on the nodes' own subnet." % (
                                vip, net, host["name"], host.get("ip")))
    return problems


def check_os(hosts, settings):
    supported = settings.get("supported_os") or DEFAULT_SUPPORTED_OS
    problems = []
    for host in hosts:
        dist, version = host.get("distribution"), str(host.get("distribution_version", ""))
        allowed = supported.get(dist)
        ok = allowed is not None and any(version == v or version.startswith(v + ".") for v in allowed)
        if not ok:
            wanted = "; ".join("%s %s" % (d, "/".join(v)) for d, v in sorted(supported.items()))
            problems.append("Host %s runs %s %s, which is not supported: use %s." % (host["name"], dist, version, wanted))
    return problems


def host_roles(host, groups):
    member = host.get("groups", [])
    return [role for role in ("control_plane", "worker", "gpu") if groups[role] in member]


def check_resources(hosts, settings, groups):
    minimums = dict(DEFAULT_MIN_RESOURCES)
    minimums.update(settings.get("min_resources") or {})
    path = settings.get("disk_path", "/var/lib")
    problems = []
    for host in hosts:
        for role in host_roles(host, groups):
            need = minimums.get(role, {})
            mem = host.get("memory_mb")
            if mem is not None and mem < need.get("memory_mb", 0):
                problems.append("Host %s has %d MiB of memory; a %s node needs at least %d MiB." % (
                    host["name"], mem, role.replace("_", "-"), need["memory_mb"]))
            free_mb = host.get("disk_free_mb")
            if free_mb is None:
                problems.append("Host %s: the free disk on %s could not be read." % (host["name"], path))
            elif free_mb < need.get("disk_free_mb", 0):
                problems.append("Host %s has %d MiB free on %s; a %s node needs at least %d MiB." % (
                    host["name"], free_mb, path, role.replace("_", "-"), need["disk_free_mb"]))
    return problems


def check_gpu_vars(hosts, groups):
    problems = []
    for host in hosts:
        if groups["gpu"] not in host.get("groups", []):
            continue
        gpu = host.get("gpu") or {}
        missing = [v for v in GPU_REQUIRED_VARS if gpu.get(v) is None]
        if missing:
            problems.append("Host %s is in %s but lacks %s: define them in group_vars/%s.yml." % (
                host["name"], groups["gpu"], ", ".join(missing), groups["gpu"]))
            continue
        if gpu["gpu_mig_strategy"] not in GPU_MIG_STRATEGIES:
            problems.append("Host %s: gpu_mig_strategy is %r; it must be one of %s." % (
                host["name"], gpu["gpu_mig_strategy"], ", ".join(GPU_MIG_STRATEGIES)))
        replicas = gpu["gpu_time_slicing_replicas"]
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            problems.append("Host %s: gpu_time_slicing_replicas is %r; it must be a whole number >= 1 (1 = no sharing)." % (
                host["name"], replicas))
    return problems


NODE_PORT_RANGE = (30000, 32767)


def registry_endpoint(registry):
    """Where every node and pod reaches the platform registry (Harbor on a NodePort), computed once:
    {address: host:port as in image references and certs.d, scheme, external_url, host, node_port, tls};
    None when the registry layer is off. registry: enabled, host (the preflight role defaults it to the first
    control-plane node's address), node_port, tls."""
    if not registry or str(registry.get("enabled")).lower() not in ("true", "1", "yes", "on"):
        return None
    host = str(registry.get("host") or "")
    port = registry.get("node_port")
    tls = str(registry.get("tls")).lower() in ("true", "1", "yes", "on")
    scheme = "https" if tls else "http"
    address = "%s:%s" % (host, port)
    return {"address": address, "scheme": scheme, "external_url": "%s://%s" % (scheme, address), "host": host,
            "node_port": _as_port(port) if _as_port(port) is not None else port, "tls": tls}


def _as_port(value):
    if isinstance(value, bool):
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def check_registry(registry, endpoint):
    """The registry address must be a usable NodePort on a named host."""
    if endpoint is None:
        return []
    problems = []
    port = _as_port(endpoint["node_port"])
    if port is None or not NODE_PORT_RANGE[0] <= port <= NODE_PORT_RANGE[1]:
        problems.append("k8s_registry_node_port is %r; Harbor's NodePort must be a port in %d-%d (the Service "
                        "port is set equal to it, so the registry address is the same inside and outside the cluster)."
                        % (endpoint["node_port"], NODE_PORT_RANGE[0], NODE_PORT_RANGE[1]))
    if not endpoint["host"]:
        problems.append("The registry layer is on but its host is unknown: set k8s_registry_host (a node address or a "
                        "DNS name every node resolves), or give the first control-plane node an address.")
    elif not re.match(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", endpoint["host"]):
        problems.append("k8s_registry_host is %r; it must be a bare IPv4 address or DNS name (no scheme, port or path: "
                        "the address is built as <host>:<nodePort>)." % endpoint["host"])
    return problems


def check_node_ports(node_ports, range_checked=()):
    """Each enabled service's NodePort in range and used once: a clash fails the chart install half-way.
    range_checked: settings whose range another rule reports already (with more to say)."""
    problems, seen = [], {}
    for name in sorted(node_ports or {}):
        port = _as_port(node_ports[name])
        if port is None or not NODE_PORT_RANGE[0] <= port <= NODE_PORT_RANGE[1]:
            if name in range_checked:
                continue
            low, high = NODE_PORT_RANGE
            problems.append("%s is %r; a NodePort must be in %d-%d." % (name, node_ports[name], low, high))
            continue
        seen.setdefault(port, []).append(name)
    for port in sorted(seen):
        if len(seen[port]) > 1:
            problems.append("NodePort %d is given to %s; give each service its own port." % (
                port, " and ".join(seen[port])))
    return problems


def check_storage(storage, hosts):
    """Longhorn's replica count must fit on the storage nodes (each replica of a volume on a different node)."""
    if not storage or not storage.get("enabled"):
        return []
    group = storage.get("group") or "k8s_cluster"
    nodes = [h["name"] for h in hosts if group in (h.get("groups") or [])]
    replicas = storage.get("replicas")
    if isinstance(replicas, bool) or _as_port(replicas) is None or _as_port(replicas) < 1:
        return ["longhorn_replica_count is %r; it must be a whole number >= 1." % (replicas,)]
    if _as_port(replicas) > len(nodes):
        return ["longhorn_replica_count is %s but group %s has %d storage node(s) (%s): every replica of a volume "
                "needs its own node, so volumes would never become healthy. Lower longhorn_replica_count or add "
                "storage nodes." % (replicas, group, len(nodes), _names(nodes) or "none")]
    return []


def validate(hosts, settings):
    """All problems with this inventory, in a stable order; [] when it is fit to build from."""
    groups = dict(DEFAULT_GROUPS)
    groups.update(settings.get("groups") or {})
    problems = []
    problems += check_distribution(settings)
    problems += check_version(settings)
    problems += check_control_plane_count(hosts, groups)
    problems += check_exclusive_groups(hosts, groups)
    problems += check_duplicates(hosts)
    problems += check_vip(hosts, settings, groups)
    problems += check_os(hosts, settings)
    problems += check_resources(hosts, settings, groups)
    problems += check_gpu_vars(hosts, groups)
    endpoint = registry_endpoint(settings.get("registry"))
    problems += check_registry(settings.get("registry"), endpoint)
    problems += check_node_ports(settings.get("node_ports"), ("k8s_registry_node_port",) if endpoint else ())
    problems += check_storage(settings.get("storage"), hosts)
    return problems
