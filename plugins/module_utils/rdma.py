# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules for the RDMA layer (NVIDIA Network Operator): pure functions over plain data, no I/O.

Each function returns a list of problems, each a sentence naming the host, group or setting at fault and what to do;
an empty list means the settings are sound. The preflight runs ``problems()`` on the inventory before anything
changes (group and host variables only); the network_operator role runs it again with its own settings (the device
plugin resources) through the ``aiinfra.cluster.rdma_problems`` filter, so the role run alone refuses the same input.

- ``rdma_group_problems(rdma_hosts, gpu_hosts, group, gpu_group)``: the RDMA group is not empty and every host in it
  is a GPU node (GPUDirect RDMA pairs the GPU with the NIC of the same host; the NicClusterPolicy runs only there).
- ``interface_problems(interfaces)``: per-host ``rdma_interfaces`` are lists of Linux interface names.
- ``resource_problems(resources, kind)``: the device plugins' resources have distinct, valid names and PCI IDs.
- ``problems(settings)``: all of them for one dict of settings (what the preflight and the role pass), and that the
  GPU layer is on (its Node Feature Discovery labels the NICs the operator's components select).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Linux interface names: at most 15 characters (IFNAMSIZ - 1), no "/", no whitespace.
IFNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}$")
# A device plugin's resource name (the part after <prefix>/): what the kubelet accepts in an extended resource name.
RESOURCE_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
# PCI vendor and device IDs as the device plugins' selectors take them: four hex digits, no 0x.
PCI_ID = re.compile(r"^[0-9a-fA-F]{4}$")
DEFAULT_GROUP = "rdma_nodes"
DEFAULT_GPU_GROUP = "gpu_nodes"


def _names(hosts):
    return ", ".join(hosts)


def _truthy(value):
    """Booleans as Ansible may template them: True, "True", "yes", 1."""
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def rdma_group_problems(rdma_hosts, gpu_hosts, group=DEFAULT_GROUP, gpu_group=DEFAULT_GPU_GROUP):
    """rdma_hosts: the hosts of the RDMA group (None when the group does not exist); gpu_hosts: the GPU nodes."""
    if not rdma_hosts:
        return ["The Network Operator layer is on but group %s is %s: put the hosts with RDMA NICs (a subset of %s) "
                "in it, or turn the layer off." % (group, "missing" if rdma_hosts is None else "empty", gpu_group)]
    gpu = set(gpu_hosts or [])
    outside = sorted(set(h for h in rdma_hosts if h not in gpu))
    if outside:
        return ["Host%s %s %s in %s but not in %s: the Network Operator's RDMA device plugin runs only on GPU nodes "
                "(GPUDirect RDMA pairs a GPU with the NIC of the same host). Add %s to %s or remove %s from %s." % (
                    "s" if len(outside) > 1 else "", _names(outside), "are" if len(outside) > 1 else "is", group,
                    gpu_group, "them" if len(outside) > 1 else "it", gpu_group,
                    "them" if len(outside) > 1 else "it", group)]
    return []


def interface_problems(interfaces):
    """interfaces: {host: the host's rdma_interfaces} (hosts that do not set it may be left out)."""
    problems = []
    for host in sorted(interfaces):
        names = interfaces[host]
        if not isinstance(names, (list, tuple)):
            problems.append("Host %s: rdma_interfaces is %r; it must be a list of interface names such as "
                            "[ens1f0np0]." % (host, names))
            continue
        bad = [n for n in names if not isinstance(n, str) or not IFNAME.match(n)]
        if bad:
            problems.append("Host %s: rdma_interfaces has %s, not a Linux interface name (at most 15 characters: "
                            "letters, digits, _ . : @ -)." % (host, ", ".join(repr(b) for b in bad)))
        dupes = sorted(set(n for n in names if isinstance(n, str) and list(names).count(n) > 1))
        if dupes:
            problems.append("Host %s: rdma_interfaces lists %s more than once." % (host, ", ".join(dupes)))
    return problems


def resource_problems(resources, kind):
    """resources: the list of resources of one device plugin (kind names its variable in the messages). Each has a
    distinct name; vendors and device_ids (if given) are lists of four-hex-digit PCI IDs."""
    if not isinstance(resources, (list, tuple)) or not resources:
        return ["%s must list at least one resource (got %r)." % (kind, resources)]
    problems = []
    seen = []
    for index, res in enumerate(resources):
        if not isinstance(res, dict):
            problems.append("%s[%d] is %r; each resource is a mapping with a name." % (kind, index, res))
            continue
        name = res.get("name")
        if not isinstance(name, str) or not RESOURCE_NAME.match(name):
            problems.append("%s[%d]: name %r is not a valid resource name (letters, digits, - _ . ; at most 63 "
                            "characters, starting and ending with a letter or digit)." % (kind, index, name))
        elif name in seen:
            problems.append("%s: resource %s is defined twice; give each resource its own name." % (kind, name))
        else:
            seen.append(name)
        for key in ("vendors", "device_ids"):
            ids = res.get(key, [])
            if not isinstance(ids, (list, tuple)):
                problems.append("%s[%d] (%s): %s is %r; it must be a list of PCI IDs such as [\"15b3\"]." % (
                    kind, index, name, key, ids))
                continue
            bad = [i for i in ids if not isinstance(i, str) or not PCI_ID.match(i)]
            if bad:
                problems.append("%s[%d] (%s): %s has %s; PCI IDs are four hex digits without 0x, e.g. \"15b3\"." % (
                    kind, index, name, key, ", ".join(repr(b) for b in bad)))
    return problems


def problems(settings):
    """All problems for one dict of settings: enabled (default true; false: no problems), gpu_enabled (the GPU layer
    is on; default true), group, hosts (the RDMA group's hosts, None when it does not exist), gpu_group, gpu_hosts,
    interfaces ({host: rdma_interfaces}), and, from the role, shared_devices and sriov_resources (None: not checked;
    sriov_resources only when sriov_enabled)."""
    if not _truthy(settings.get("enabled", True)):
        return []
    group = settings.get("group") or DEFAULT_GROUP
    found = []
    if not _truthy(settings.get("gpu_enabled", True)):
        found.append("The Network Operator layer is on but the GPU layer is off: its Node Feature Discovery labels the "
                     "RDMA NICs (feature.node.kubernetes.io/pci-15b3.present) that the operator's components select, "
                     "and %s must be GPU nodes. Turn on k8s_gpu_enabled or turn off "
                     "k8s_network_operator_enabled." % group)
    found += rdma_group_problems(settings.get("hosts"), settings.get("gpu_hosts"), group,
                                 settings.get("gpu_group") or DEFAULT_GPU_GROUP)
    found += interface_problems(settings.get("interfaces") or {})
    if settings.get("shared_devices") is not None:
        found += resource_problems(settings["shared_devices"], "network_operator_rdma_shared_devices")
    if _truthy(settings.get("sriov_enabled", False)) and settings.get("sriov_resources") is not None:
        found += resource_problems(settings["sriov_resources"], "network_operator_sriov_resources")
    return found
