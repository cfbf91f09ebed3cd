# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory validation for aiinfra.cluster: pure functions, no I/O.

``validate(hosts, settings, stage)`` takes one small dict per host (built by the preflight role) and the cluster
settings, and returns a list of problems, each a sentence that names the host or setting at fault and what to do.
An empty list means the inventory is fit to build a cluster from.

The rules come in two stages:

- ``inventory``: rules that read only the inventory (groups, variables, node addresses). The preflight role runs
  them on the controller before any host is contacted, so a bad inventory fails in seconds even when no host is
  reachable. Host dicts carry ``name``, ``ip`` (the node address: ``k8s_node_ip``, else ``ansible_host``, the
  rule of the ``node_address`` filter; empty when neither is set), ``groups``, ``gpu`` (the GPU variables) and
  ``variables`` (the names of the collection-looking variables set for the host).
- ``hosts``: rules that need gathered facts (OS, memory, free disk, the hostname, the subnet of each node's
  address). Host dicts add ``hostname``, ``distribution``, ``distribution_version``, ``memory_mb``,
  ``disk_free_mb`` and ``ipv4``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import ipaddress
import re

from ansible_collections.aiinfra.cluster.plugins.module_utils import address_pools, rdma, storage_choice
from ansible_collections.aiinfra.cluster.plugins.module_utils.nvidia_mig import CATALOG as MIG_CATALOG

STAGES = ("inventory", "hosts")

DISTRIBUTIONS = ("k3s", "kubeadm")

# kubeadm: plain Kubernetes release; k3s: the k3s release tag.
VERSION_PATTERNS = {
    "kubeadm": re.compile(r"^v?1\.(\d+)\.(\d+)$"),
    "k3s": re.compile(r"^v1\.(\d+)\.(\d+)\+k3s(\d+)$"),
}
VERSION_EXAMPLES = {"kubeadm": "1.31.4", "k3s": "v1.31.4+k3s1"}

DEFAULT_SUPPORTED_OS = {"Debian": ["12", "13"], "Ubuntu": ["22.04", "24.04"]}

DEFAULT_MIN_RESOURCES = {
    # MemTotal reads a little under the nominal size: a 2 GiB VM reports ~1950 MiB.
    "control_plane": {"memory_mb": 1800, "disk_free_mb": 15000},
    "worker": {"memory_mb": 900, "disk_free_mb": 10000},
    "gpu": {"memory_mb": 7500, "disk_free_mb": 40000},
}

DEFAULT_GROUPS = {"control_plane": "k8s_control_plane", "worker": "k8s_workers", "gpu": "gpu_nodes"}

GPU_REQUIRED_VARS = ("gpu_mig_strategy", "gpu_time_slicing_replicas")
GPU_MIG_STRATEGIES = ("none", "single", "mixed")

# Named MIG layouts, as the GPU Operator's default mig-parted config names them: all-disabled, all-enabled (MIG on,
# no slices), all-balanced and all-<profile> (as many slices of that profile as the GPU holds; a ".me" suffix asks
# for one slice with the media extensions).
MIG_BALANCED = {1: 2, 2: 1, 3: 1}  # compute slices of a profile -> count (the smallest memory size of each)
MIG_NAMED = ("all-disabled", "all-enabled", "all-balanced")


def _names(hosts):
    return ", ".join(sorted(hosts))


def _in(host, group):
    return group in (host.get("groups") or [])


def _truthy(value):
    """Booleans as Ansible may template them: True, "True", "yes", 1."""
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def _is_ip(value):
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


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


# --- inventory stage: cluster settings -------------------------------------------------------------------------

def check_distribution(hosts, settings, groups):
    dist = settings.get("distribution")
    if dist not in DISTRIBUTIONS:
        return ["k8s_distribution is %r: it must be one of %s." % (dist, ", ".join(DISTRIBUTIONS))]
    return []


def check_version(hosts, settings, groups):
    dist, version = settings.get("distribution"), settings.get("kubernetes_version")
    if dist not in VERSION_PATTERNS:
        return []  # reported by check_distribution
    if not isinstance(version, str) or not VERSION_PATTERNS[dist].match(version):
        return ["k8s_version is %r: with k8s_distribution=%s it must look like %s." % (
            version, dist, VERSION_EXAMPLES[dist])]
    return []


def check_control_plane_count(hosts, settings, groups):
    cps = [h["name"] for h in hosts if _in(h, groups["control_plane"])]
    if not cps:
        return ["Group %s is empty: at least one control-plane host is needed (1, 3 or 5)." % groups["control_plane"]]
    if len(cps) % 2 == 0:
        return ["Group %s has %d hosts (%s): etcd needs an odd number of members for quorum; use 1, 3 or 5." % (
            groups["control_plane"], len(cps), _names(cps))]
    return []


def check_exclusive_groups(hosts, settings, groups):
    problems = []
    cp, worker, gpu = groups["control_plane"], groups["worker"], groups["gpu"]
    for host in hosts:
        if _in(host, cp) and _in(host, worker):
            problems.append("Host %s is in both %s and %s: a host is either a control-plane node or a worker." % (
                host["name"], cp, worker))
        if _in(host, gpu) and not _in(host, worker):
            problems.append("Host %s is in %s but not in %s: GPU nodes join as workers; add it to %s." % (
                host["name"], gpu, worker, worker))
    return problems


def check_node_addresses(hosts, settings, groups):
    """Every node needs an IP address the others reach it on (k3s/kubeadm node IP, etcd peers, keepalived peers)."""
    problems = []
    for host in hosts:
        ip = host.get("ip")
        if not ip:
            problems.append("Host %s has neither k8s_node_ip nor ansible_host: set k8s_node_ip to the address the other "
                            "nodes reach it on." % host["name"])
        elif not _is_ip(ip):
            problems.append("Host %s: its node address %r (k8s_node_ip, else ansible_host) is not an IP address; the "
                            "node IP, etcd and keepalived need one: set k8s_node_ip." % (host["name"], ip))
    return problems


def check_duplicate_ips(hosts, settings, groups):
    return _duplicates(hosts, "ip", "node IP")


def check_vip(hosts, settings, groups):
    """The VIP is set for HA, is an IP and is no node's address (its subnet is checked with the host facts)."""
    vip = settings.get("api_vip")
    cps = [h for h in hosts if _in(h, groups["control_plane"])]
    if not vip:
        if len(cps) > 1:
            return ["k8s_api_vip is not set: with %d control-plane hosts the API needs a virtual IP "
                    "(a free address in the control-plane subnet)." % len(cps)]
        return []
    try:
        vip_addr = ipaddress.ip_address(vip)
    except ValueError:
        return ["k8s_api_vip %r is not an IP address." % vip]
    owners = [h["name"] for h in hosts if h.get("ip") == str(vip_addr)]
    if owners:
        return ["k8s_api_vip %s is the node IP of %s: the VIP must be a free address." % (vip, _names(owners))]
    return []


def check_gpu_vars(hosts, settings, groups):
    problems = []
    for host in hosts:
        if not _in(host, groups["gpu"]):
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


# --- inventory stage: MIG layout against the GPU model ----------------------------------------------------------

def _catalog_model(name):
    """The catalog key for an inventory gpu_model (case does not matter), or None."""
    for key in MIG_CATALOG:
        if str(name).strip().upper() == key.upper():
            return key
    return None


def _profile_name(name):
    name = str(name).strip()
    return name[4:].strip() if name.upper().startswith("MIG ") else name


def mig_allowed(model):
    """'1g.10gb (up to 7), 1g.20gb (up to 4), ...' for a catalog model."""
    return ", ".join("%s (up to %d)" % (name, spec[2]) for name, spec in MIG_CATALOG[model]["profiles"].items())


def mig_layout(gpu):
    """(variable name, layout) of a GPU node: gpu_mig_layout, else its older name gpu_mig_config; layout None when
    neither is set."""
    layout = gpu.get("gpu_mig_layout")
    if layout not in (None, "", {}):
        return "gpu_mig_layout", layout
    config = gpu.get("gpu_mig_config")
    if config not in (None, "", {}):
        return "gpu_mig_config", config
    return "gpu_mig_layout", None


def expand_mig_layout(layout, model):
    """Profile counts a layout gives one GPU of a catalog model: ({profile: count}, [problem fragments]).
    Named layouts follow the GPU Operator's default mig-parted config; counts are taken as written."""
    profiles = MIG_CATALOG[model]["profiles"]
    if isinstance(layout, dict):
        return dict((_profile_name(k), v) for k, v in layout.items()), []
    name = str(layout).strip()
    if name in ("all-disabled", "all-enabled"):
        return {}, []
    if name == "all-balanced":
        counts = {}
        for compute, count in sorted(MIG_BALANCED.items()):
            sizes = [(spec[1], prof) for prof, spec in profiles.items() if spec[0] == compute]
            if sizes:
                counts[min(sizes)[1]] = count
        return counts, []
    match = re.match(r"^all-(\d+g\.\d+gb)(\.me)?$", name)
    if match:
        prof = match.group(1)
        if prof not in profiles:
            return {}, ["%s asks for profile %s, which the %s does not have; allowed profiles: %s" % (
                name, prof, model, mig_allowed(model))]
        return {prof: 1 if match.group(2) else profiles[prof][2]}, []
    return {}, ["%r is not a layout name: use all-disabled, all-enabled, all-balanced or all-<profile>, or profile "
                "counts such as {%s: 1}; allowed profiles of the %s: %s" % (
                    name, next(iter(profiles)), model, mig_allowed(model))]


def mig_layout_problems(counts, model):
    """What keeps profile counts from fitting one GPU of a catalog model, one fragment each, naming the allowed
    profiles (the slice arithmetic of nvidia_mig's own check)."""
    cat = MIG_CATALOG[model]
    allowed = mig_allowed(model)
    problems, compute, memory = [], 0, 0
    for prof in sorted(counts):
        count = counts[prof]
        if prof not in cat["profiles"]:
            problems.append("asks for %s, which the %s does not have; allowed profiles: %s" % (prof, model, allowed))
            continue
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            problems.append("gives %s the count %r; it must be a whole number >= 0 (allowed profiles: %s)" % (
                prof, count, allowed))
            continue
        c, m, most = cat["profiles"][prof]
        if count > most:
            problems.append("asks for %d x %s; the %s holds at most %d (allowed profiles: %s)" % (
                count, prof, model, most, allowed))
        compute += c * count
        memory += m * count
    if not problems and (compute > cat["compute"] or memory > cat["memory"]):
        problems.append("needs %d compute and %d memory slices; the %s has %d and %d (allowed profiles: %s)" % (
            compute, memory, model, cat["compute"], cat["memory"], allowed))
    return problems


def check_mig_layout(hosts, settings, groups):
    """Each GPU node's MIG layout (gpu_mig_layout, or gpu_mig_config) fits its gpu_model, by nvidia_mig's catalog."""
    problems = []
    models = ", ".join(MIG_CATALOG)
    for host in hosts:
        if not _in(host, groups["gpu"]):
            continue
        gpu = host.get("gpu") or {}
        name = host["name"]
        var, layout = mig_layout(gpu)
        other = gpu.get("gpu_mig_config")
        if var == "gpu_mig_layout" and other not in (None, "", {}) and other != layout:
            problems.append("Host %s sets gpu_mig_layout %r and gpu_mig_config %r: keep one (gpu_mig_config is the "
                            "older name of gpu_mig_layout)." % (name, layout, other))
        if layout is None:
            continue
        if not isinstance(layout, (str, dict)):
            problems.append("Host %s: %s is %r; it must be a layout name (all-1g.10gb, all-balanced, ...) or profile "
                            "counts such as {1g.10gb: 7}." % (name, var, layout))
            continue
        if layout == "all-disabled":
            continue
        label = "%s %s" % (var, layout if isinstance(layout, str) else "{%s}" % ", ".join(
            "%s: %s" % (k, layout[k]) for k in sorted(layout)))
        if gpu.get("gpu_mig_strategy") == "none":
            problems.append("Host %s: %s is set but gpu_mig_strategy is none, so the GPU Operator never applies it: "
                            "set gpu_mig_strategy to single or mixed, or remove the layout." % (name, label))
        raw_model = gpu.get("gpu_model")
        if raw_model in (None, ""):
            problems.append("Host %s: %s is set but gpu_model is not: state the GPU model (one of %s) so the layout "
                            "is checked before anything changes." % (name, label, models))
            continue
        model = _catalog_model(raw_model)
        if model is None:
            problems.append("Host %s: gpu_model %r has no MIG profiles in the catalog: use one of %s (a GPU "
                            "without MIG takes no %s)." % (name, raw_model, models, var))
            continue
        counts, named = expand_mig_layout(layout, model)
        for fragment in named:
            problems.append("Host %s: %s %s." % (name, var, fragment))
        if named:
            continue
        fit = mig_layout_problems(counts, model)
        for fragment in fit:
            problems.append("Host %s: %s %s." % (name, label, fragment))
        if isinstance(layout, dict) and not fit:
            problems.append("Host %s: %s fits the %s, but the GPU Operator's MIG manager (the gpu_operator role) "
                            "applies named layouts only: use all-disabled, all-enabled, all-balanced or "
                            "all-<profile>, or partition the node yourself with aiinfra.cluster.nvidia_mig "
                            "(strategy nvidia-smi, profiles)." % (name, label, model))
        used = sorted(p for p, n in counts.items() if n)
        if gpu.get("gpu_mig_strategy") == "single" and len(used) > 1:
            problems.append("Host %s: with gpu_mig_strategy single every MIG slice of a node must be one profile, but "
                            "%s gives %s: use gpu_mig_strategy mixed or an all-<profile> layout." % (
                                name, label, ", ".join(used)))
    return problems


# --- inventory stage: MetalLB pools ----------------------------------------------------------------------------

def check_metallb_pools(hosts, settings, groups):
    """MetalLB's pools inside the node subnet, clear of every node address and the API VIP, and of each other."""
    metallb = settings.get("metallb") or {}
    if not _truthy(metallb.get("enabled")):
        return []
    pools = metallb.get("pools")
    if not pools:
        return ["MetalLB is on (k8s_network_enabled, k8s_metallb_enabled) but k8s_metallb_pools is empty: "
                "give it at least one pool of free addresses in the node subnet."]
    if not isinstance(pools, list) or not all(isinstance(p, dict) for p in pools):
        return ["k8s_metallb_pools is %r; it must be a list of pools, each {name, addresses: [first-last or "
                "CIDR, ...]}." % (pools,)]
    reserved = [(h["ip"], "node %s" % h["name"]) for h in hosts if h.get("ip")]
    if settings.get("api_vip"):
        reserved.append((settings["api_vip"], "the API VIP k8s_api_vip"))
    problems = []
    for problem in address_pools.check_pools(pools, metallb.get("subnet"), reserved):
        if not problem.startswith("MetalLB"):
            problem = "MetalLB pools: " + problem
        problems.append(problem if problem.endswith(".") else problem + ".")
    return problems


# --- inventory stage: variables no role knows -----------------------------------------------------------------

VARIABLE_SOURCE_SUFFIXES = (".yml", ".yaml", ".j2")


def names_read(texts, prefixes):
    """Every name starting with one of the prefixes that occurs in the texts (the collection's roles and playbooks:
    role defaults, argument specs, tasks and templates), as a set."""
    prefixes = tuple(prefixes or ())
    if not prefixes:
        return set()
    pattern = re.compile(r"(?<![A-Za-z0-9_])((?:%s)[A-Za-z0-9_]*[A-Za-z0-9])" % "|".join(re.escape(p) for p in prefixes))
    names = set()
    for text in texts:
        names.update(pattern.findall(text))
    return names


# Variables the facts layer (role k8s) took over: an inventory that still sets the old name is told the new one.
RENAMED_VARIABLES = {
    "cilium_hubble_ui_node_port": "k8s_hubble_ui_node_port",
    "longhorn_ui_node_port": "k8s_longhorn_ui_node_port",
    "observability_grafana_node_port": "k8s_grafana_node_port",
    "vllm_node_port": "k8s_vllm_node_port",
    "gitea_http_node_port": "k8s_gitea_http_node_port",
    "gitea_ssh_node_port": "k8s_gitea_ssh_node_port",
    "jenkins_node_port": "k8s_jenkins_node_port",
    "argocd_http_node_port": "k8s_argocd_http_node_port",
    "argocd_https_node_port": "k8s_argocd_https_node_port",
    "network_ingress_http_node_port": "k8s_ingress_http_node_port",
    "network_ingress_https_node_port": "k8s_ingress_https_node_port",
    "network_ingress_service_type": "k8s_ingress_service_type",
    "network_metallb_pools": "k8s_metallb_pools",
    "network_metallb_enabled": "k8s_metallb_enabled",
    "mirrors_pypi_node_port": "k8s_pypi_mirror_node_port",
    "mirrors_conda_node_port": "k8s_conda_mirror_node_port",
    "harbor_http_redirect_node_port": "k8s_registry_redirect_node_port",
    "harbor_registry_secret_name": "k8s_registry_pull_secret_name",
    "security_baseline_tenants": "k8s_tenants",
    "security_baseline_gpu_taint_key": "k8s_gpu_taint_key",
    "longhorn_replica_count": "k8s_storage_replicas",
    "longhorn_storage_group": "k8s_storage_group",
    "gitea_admin_username": "k8s_gitea_admin_username",
    "jenkins_admin_username": "k8s_jenkins_admin_username",
    "training_gpu_taint_key": "k8s_gpu_taint_key",
    "network_node_subnet": "k8s_node_subnet",
    "cilium_distribution": "k8s_distribution",
    "mirrors_credentials_dir": "k8s_credentials_dir",
    "observability_credentials_dir": "k8s_credentials_dir",
    "observability_grafana_admin_file": "k8s_grafana_admin_password_file",
    "longhorn_default_class": "k8s_longhorn_default_class",
    "vllm_model": "k8s_serving_model",
    "vllm_served_model_name": "k8s_serving_served_model_name",
    "vllm_quantization": "k8s_serving_quantization",
    "vllm_gpu_resource": "k8s_serving_gpu_resource",
    "vllm_gpu_count": "k8s_serving_gpu_count",
    "vllm_hf_token": "k8s_serving_hf_token",
    "vllm_image": "k8s_serving_image",
    "vllm_namespace": "k8s_serving_namespace",
    "etcd_restore_snapshot": "etcd_backup_restore_snapshot",
}
# Per-role kubeconfig variables: the cluster layers now take k8s_kubeconfig once, through module_defaults.
REMOVED_VARIABLES = dict(
    [("%s_kubeconfig" % role, "the cluster layers take k8s_kubeconfig (one kubeconfig, given once by site.yml)")
     for role in ("cilium", "network", "longhorn", "security_baseline", "observability", "harbor", "gitea", "jenkins",
                  "ci_pipeline", "argocd", "gpu_operator", "vllm", "mirrors", "training", "k3s", "kubeadm")]
    + [("longhorn_ui_enabled", "set k8s_longhorn_ui_node_port to expose the Longhorn UI on the nodes")])


def unknown_variables(hosts, known, prefixes):
    """One sentence per variable that looks like the collection's (one of the prefixes) but that no role reads,
    with the closest known name."""
    if not known:
        return []
    known = set(known)
    prefixes = tuple(prefixes or ())
    seen = {}
    for host in hosts:
        for name in host.get("variables") or []:
            if name.startswith(prefixes) and name not in known:
                seen.setdefault(name, []).append(host["name"])
    everyone = set(h["name"] for h in hosts)
    problems = []
    for name in sorted(seen):
        where = "all hosts" if set(seen[name]) == everyone and len(everyone) > 1 else "host %s" % _names(seen[name])
        if len(seen[name]) > 1 and where != "all hosts":
            where = "hosts %s" % _names(seen[name])
        if name in REMOVED_VARIABLES:
            problems.append("%s (set for %s): no longer read; %s." % (name, where, REMOVED_VARIABLES[name]))
            continue
        if RENAMED_VARIABLES.get(name) in known:
            problems.append("%s (set for %s): renamed to %s, the facts layer's name (roles/k8s/defaults/main.yml); "
                            "set that instead." % (name, where, RENAMED_VARIABLES[name]))
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
        hint = "did you mean %s?" % close[0] if close else (
            "check its spelling (or set preflight_unknown_variables: warn to keep variables of your own).")
        problems.append("%s (set for %s): no role of aiinfra.cluster reads it; %s" % (name, where, hint))
    return problems


def check_unknown_variables(hosts, settings, groups):
    """Unknown collection-looking variables are problems unless preflight_unknown_variables says warn."""
    if settings.get("unknown_variables", "error") != "error":
        return []
    return unknown_variables(hosts, settings.get("known_variables"), settings.get("variable_prefixes"))


# --- inventory stage: platform services -----------------------------------------------------------------------

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


def check_registry(hosts, settings, groups):
    """The registry address must be a usable NodePort on a named host."""
    endpoint = registry_endpoint(settings.get("registry"))
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


def check_node_ports(hosts, settings, groups):
    """Each enabled service's NodePort in range and used once: a clash fails the chart install half-way. The
    registry's port range is reported by check_registry (with more to say) when the registry is on."""
    node_ports = settings.get("node_ports")
    range_checked = ("k8s_registry_node_port",) if registry_endpoint(settings.get("registry")) else ()
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


def check_storage(hosts, settings, groups):
    """Longhorn's replica count must fit on the storage nodes (each replica of a volume on a different node)."""
    storage = settings.get("storage")
    if not storage or not storage.get("enabled"):
        return []
    group = storage.get("group") or "k8s_cluster"
    nodes = [h["name"] for h in hosts if group in (h.get("groups") or [])]
    replicas = storage.get("replicas")
    if isinstance(replicas, bool) or _as_port(replicas) is None or _as_port(replicas) < 1:
        return ["k8s_storage_replicas is %r; it must be a whole number >= 1." % (replicas,)]
    if _as_port(replicas) > len(nodes):
        return ["k8s_storage_replicas is %s but group %s has %d storage node(s) (%s): every replica of a volume "
                "needs its own node, so volumes would never become healthy. Lower k8s_storage_replicas or add "
                "storage nodes." % (replicas, group, len(nodes), _names(nodes) or "none")]
    return []


# --- hosts stage: gathered facts --------------------------------------------------------------------------------

def _duplicates(hosts, key, label):
    seen = {}
    for host in hosts:
        value = host.get(key)
        if value:
            seen.setdefault(value, []).append(host["name"])
    return ["Hosts %s share the %s %s: every node needs its own." % (_names(names), label, value)
            for value, names in sorted(seen.items()) if len(names) > 1]


def check_duplicate_hostnames(hosts, settings, groups):
    return _duplicates(hosts, "hostname", "hostname")


def check_vip_subnet(hosts, settings, groups):
    """The VIP must be inside the subnet of every control-plane node's address (keepalived holds it there)."""
    try:
        vip_addr = ipaddress.ip_address(settings.get("api_vip") or "")
    except ValueError:
        return []  # not set or not an IP: reported by check_vip
    problems = []
    for host in hosts:
        if not _in(host, groups["control_plane"]):
            continue
        net = interface_network(host)
        if net is None:
            problems.append("Host %s: could not find the subnet of its node IP %s to check k8s_api_vip against; "
                            "set k8s_node_ip to an address of one of its interfaces." % (host["name"], host.get("ip")))
        elif vip_addr not in net:
            problems.append("k8s_api_vip %s is not inside %s, the subnet of control-plane host %s (%s): "
                            "keepalived can only hold a VIP on the nodes' own subnet." % (
                                vip_addr, net, host["name"], host.get("ip")))
    return problems


def check_os(hosts, settings, groups):
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
    return [role for role in ("control_plane", "worker", "gpu") if _in(host, groups[role])]


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


# Every rule, in report order, with the stage that runs it: "inventory" rules read only the inventory (run on the
# controller before any host is contacted), "hosts" rules need gathered facts.
def check_data_services(hosts, settings, groups):
    """Rook's devices and host count, one default StorageClass, JuiceFS' metadata engine layer on
    (storage_choice.py), from settings["data"] and each host's rook_devices."""
    return storage_choice.data_service_problems(hosts, settings.get("data"))


def check_rdma(hosts, settings, groups):
    """The Network Operator layer's RDMA group against the GPU nodes and the hosts' rdma_interfaces
    (plugins/module_utils/rdma.py; the network_operator role runs the same rules with its resources)."""
    conf = dict(settings.get("rdma") or {"enabled": False})
    conf.update(gpu_group=groups["gpu"], gpu_hosts=[h["name"] for h in hosts if _in(h, groups["gpu"])])
    return rdma.problems(conf)


RULES = (
    ("inventory", check_distribution),
    ("inventory", check_version),
    ("inventory", check_control_plane_count),
    ("inventory", check_exclusive_groups),
    ("inventory", check_node_addresses),
    ("inventory", check_duplicate_ips),
    ("inventory", check_vip),
    ("inventory", check_gpu_vars),
    ("inventory", check_mig_layout),
    ("inventory", check_registry),
    ("inventory", check_node_ports),
    ("inventory", check_storage),
    ("inventory", check_rdma),
    ("inventory", check_data_services),
    ("inventory", check_metallb_pools),
    ("inventory", check_unknown_variables),
    ("hosts", check_duplicate_hostnames),
    ("hosts", check_vip_subnet),
    ("hosts", check_os),
    ("hosts", check_resources),
)


def validate(hosts, settings, stage="all"):
    """All problems with this inventory for one stage (inventory, hosts, or all), in a stable order; [] when it is
    fit to build from."""
    if stage not in STAGES + ("all",):
        raise ValueError("stage must be one of inventory, hosts, all, not %r" % (stage,))
    groups = dict(DEFAULT_GROUPS)
    groups.update(settings.get("groups") or {})
    problems = []
    for rule_stage, rule in RULES:
        if stage in ("all", rule_stage):
            problems += rule(hosts, settings, groups)
    return problems
