#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cluster_preflight
short_description: Validate a cluster inventory before anything is changed
version_added: 0.1.0
description:
  - Checks the whole inventory at once and reports every problem, one sentence each, naming the host or
    setting at fault and what to do.
  - The rules run in two stages (O(stage)). C(inventory) rules read only the inventory, so the
    C(aiinfra.cluster.preflight) role runs them on the controller before any host is contacted; they are the
    distribution (k3s or kubeadm) and the Kubernetes version format, the control-plane count (odd, not zero),
    hosts in exclusive groups, GPU nodes that are not workers, each node's address (C(k8s_node_ip), else
    C(ansible_host) - set, an IP, not shared), the API VIP (set for HA, an IP, not a node address), the GPU group
    variables, each GPU node's MIG layout against its GPU model (nvidia_mig's profile catalog), the platform
    registry, the services' NodePorts, Longhorn's replica count, the MetalLB pools (inside the node subnet, clear
    of the node addresses, the VIP and each other) and variables that look like the collection's but that no
    role reads.
  - C(hosts) rules need gathered facts; they are supported operating systems, memory and free disk per node
    role, duplicate hostnames and the API VIP inside every control-plane node's subnet.
  - Reads only its arguments and the files under O(variable_sources); it changes nothing anywhere. Run it once per
    play (C(run_once)).
author:
  - aiinfra.cluster contributors (@aiinfra)
options:
  stage:
    description:
      - Which rules to run. C(inventory) needs only the inventory (no facts), C(hosts) the gathered facts, C(all)
        both.
    type: str
    choices: [inventory, hosts, all]
    default: all
  hosts:
    description:
      - One entry per inventory host, as built by the C(aiinfra.cluster.preflight) role.
      - Keys of the C(inventory) stage are C(name), C(ip) (the node address, C(k8s_node_ip) else C(ansible_host);
        empty when neither is set), C(groups), C(gpu) (a dict of the GPU variables C(gpu_mig_strategy),
        C(gpu_time_slicing_replicas), C(gpu_model), C(gpu_mig_layout), C(gpu_mig_config)) and C(variables) (names
        of the host's variables that start with one of O(variable_prefixes)).
      - The C(hosts) stage adds C(hostname), C(distribution), C(distribution_version), C(memory_mb),
        C(disk_free_mb) (MiB free on O(disk_path)) and C(ipv4) (list of C(address), C(prefix) or C(netmask)).
    type: list
    elements: dict
    required: true
  distribution:
    description: Kubernetes distribution, the inventory's C(k8s_distribution); required unless O(stage=hosts).
    type: str
  kubernetes_version:
    description: Kubernetes release to install, the inventory's C(k8s_version); required unless O(stage=hosts).
    type: str
  api_vip:
    description: Virtual IP of the Kubernetes API; required when there is more than one control-plane host.
    type: str
  groups:
    description: Inventory group names for the node roles.
    type: dict
    default: {control_plane: k8s_control_plane, worker: k8s_workers, gpu: gpu_nodes}
  min_resources:
    description:
      - Minimum C(memory_mb) and C(disk_free_mb) per node role (C(control_plane), C(worker), C(gpu)).
      - Roles not given keep the built-in minimums (control plane 1800 MiB / 15000 MiB, worker 900 MiB /
        10000 MiB, GPU 7500 MiB / 40000 MiB).
    type: dict
  disk_path:
    description: The path whose free disk C(disk_free_mb) measures (container images and etcd live below it).
    type: str
    default: /var/lib
  supported_os:
    description: Distribution name to list of supported versions; default Debian 12, Ubuntu 22.04 and 24.04.
    type: dict
  registry:
    description:
      - The platform registry (Harbor on a NodePort), keys C(enabled), C(host) (the preflight role defaults it to
        the first control-plane node's address), C(node_port) and C(tls).
      - Its address (computed by the same function as the C(aiinfra.cluster.registry_endpoint) filter, which the
        preflight role uses to share it) must be a usable NodePort on a named host.
    type: dict
  node_ports:
    description: Setting name to NodePort for every exposed service that is enabled; each must be in 30000-32767
      and used once.
    type: dict
  storage:
    description:
      - Longhorn storage, keys C(enabled), C(replicas) (volume replica count) and C(group) (the inventory group of the storage
        nodes, default C(k8s_cluster)). The replica count must not exceed the number of storage nodes.
    type: dict
  rdma:
    description:
      - Network Operator layer, keys C(enabled), C(gpu_enabled), C(group), C(hosts) (null when the group is missing) and
        C(interfaces) (host to its C(rdma_interfaces)). The group must be a non-empty subset of the GPU group.
    type: dict
  data:
    description:
      - Storage and data alternatives, keys C(rook) (C(enabled), C(replicas); each host's C(rook_devices) absolute
        C(/dev/) paths, on at least C(replicas) hosts), C(default_classes) (list of C(name), C(setting), C(enabled),
        C(default); at most one default StorageClass), C(metrics_stacks) (list of C(name), C(setting), C(enabled); at
        most one) and C(juicefs) (C(enabled), C(meta_engine), C(engines); the engine's layer must be on).
    type: dict
  metallb:
    description:
      - MetalLB, keys C(enabled), C(pools) (each C(name) and C(addresses), ranges C(first-last) or CIDRs) and
        C(subnet) (the nodes' L2 subnet). Every range must be inside the subnet, hold no node address and not the
        API VIP, and overlap no other range.
    type: dict
  known_variables:
    description:
      - Variable names known besides those found in O(variable_sources).
    type: list
    elements: str
  variable_sources:
    description:
      - Directories whose C(.yml), C(.yaml) and C(.j2) files (searched recursively) name every variable the
        collection reads; the C(aiinfra.cluster.preflight) role passes the collection's C(roles) and C(playbooks)
        directories, read on the controller (the module is delegated to localhost).
      - A name with one of O(variable_prefixes) found there (role defaults, argument specs, tasks, templates) is
        known. With neither O(variable_sources) nor O(known_variables) the unknown-variable rule is skipped.
    type: list
    elements: path
  variable_prefixes:
    description:
      - Name prefixes that mark a variable as the collection's (C(k8s_), C(gpu_)).
      - C(<role>_) is added for every role found directly under one of O(variable_sources).
    type: list
    elements: str
  unknown_variables:
    description:
      - What a variable with one of O(variable_prefixes) that is not known is. C(error) reports it as
        a problem, C(warn) as a warning, C(ignore) not at all. Either way it comes back in RV(unknown_variables).
    type: str
    choices: [error, warn, ignore]
    default: error
  fail_on_problems:
    description: Fail when any problem is found. With C(false) the problems are only returned.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: The module only reads its arguments; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is no diff.
"""

EXAMPLES = r"""
- name: Validate what the inventory alone says, on the controller (no host is contacted)
  aiinfra.cluster.cluster_preflight:
    stage: inventory
    hosts:
      - {name: m1, ip: 192.168.56.11, groups: [k8s_cluster, k8s_control_plane]}
      - name: g1
        ip: 192.168.56.31
        groups: [k8s_cluster, k8s_workers, gpu_nodes]
        gpu: {gpu_mig_strategy: single, gpu_time_slicing_replicas: 1, gpu_model: H100-80GB,
              gpu_mig_layout: {1g.10gb: 7}}
    distribution: "{{ k8s_distribution }}"
    kubernetes_version: "{{ k8s_version }}"
    metallb:
      enabled: true
      subnet: 192.168.56.0/24
      pools: [{name: lab, addresses: [192.168.56.200-192.168.56.220]}]
  delegate_to: localhost
  run_once: true

- name: Validate the hosts' facts
  aiinfra.cluster.cluster_preflight:
    stage: hosts
    hosts: "{{ ansible_play_hosts_all | map('extract', hostvars, 'preflight_host') | list }}"
    api_vip: "{{ k8s_api_vip | default(omit) }}"
  run_once: true
"""

RETURN = r"""
problems:
  description: Every problem found, one sentence each; empty when the inventory is valid.
  returned: always
  type: list
  elements: str
  sample: ["Group k8s_control_plane has 2 hosts (m1, m2): etcd needs an odd number of members for quorum; use 1, 3 or 5."]
unknown_variables:
  description: Variables that look like the collection's but that no role reads, one sentence each with the closest
    known name; empty unless O(stage) is C(inventory) or C(all).
  returned: always
  type: list
  elements: str
  sample: ["k8s_distrubution (set for all hosts): no role of aiinfra.cluster reads it; did you mean k8s_distribution?"]
hosts_checked:
  description: Number of hosts validated.
  returned: always
  type: int
  sample: 5
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aiinfra.cluster.plugins.module_utils.preflight import (
    VARIABLE_SOURCE_SUFFIXES, names_read, unknown_variables, validate)


def read_sources(module, directories):
    """The text of every .yml, .yaml and .j2 file under the directories."""
    texts = []
    for directory in directories or []:
        if not os.path.isdir(directory):
            module.fail_json(msg="variable_sources: %s is not a directory on the controller; pass the collection's "
                                 "roles and playbooks directories" % directory)
        for root, dirs, files in os.walk(directory):
            dirs.sort()
            for name in sorted(files):
                if name.endswith(VARIABLE_SOURCE_SUFFIXES):
                    with open(os.path.join(root, name), "rb") as f:
                        texts.append(f.read().decode("utf-8", "replace"))
    return texts


def role_prefixes(directories):
    """'<role>_' for every role (a directory with meta/main.yml) directly under one of the directories."""
    found = []
    for directory in directories or []:
        if os.path.isdir(directory):
            for name in sorted(os.listdir(directory)):
                if os.path.isfile(os.path.join(directory, name, "meta", "main.yml")):
                    found.append(name + "_")
    return found


def main():
    module = AnsibleModule(
        argument_spec=dict(
            stage=dict(type="str", choices=["inventory", "hosts", "all"], default="all"),
            hosts=dict(type="list", elements="dict", required=True),
            distribution=dict(type="str"),
            kubernetes_version=dict(type="str"),
            api_vip=dict(type="str"),
            groups=dict(type="dict", default={"control_plane": "k8s_control_plane", "worker": "k8s_workers",
                                              "gpu": "gpu_nodes"}),
            min_resources=dict(type="dict"),
            disk_path=dict(type="str", default="/var/lib"),
            supported_os=dict(type="dict"),
            registry=dict(type="dict"),
            node_ports=dict(type="dict"),
            storage=dict(type="dict"),
            metallb=dict(type="dict"),
            rdma=dict(type="dict"),
            data=dict(type="dict"),
            known_variables=dict(type="list", elements="str"),
            variable_sources=dict(type="list", elements="path"),
            variable_prefixes=dict(type="list", elements="str"),
            unknown_variables=dict(type="str", choices=["error", "warn", "ignore"], default="error"),
            fail_on_problems=dict(type="bool", default=True),
        ),
        required_if=[("stage", "inventory", ["distribution", "kubernetes_version"]),
                     ("stage", "all", ["distribution", "kubernetes_version"])],
        supports_check_mode=True,
    )
    p = module.params
    p["variable_prefixes"] = sorted(set((p["variable_prefixes"] or []) + role_prefixes(p["variable_sources"])))
    settings = dict((key, p[key]) for key in (
        "distribution", "kubernetes_version", "api_vip", "groups", "min_resources", "disk_path", "supported_os",
        "registry", "node_ports", "storage", "metallb", "rdma", "data", "variable_prefixes", "unknown_variables"))
    known = set(p["known_variables"] or [])
    if p["stage"] != "hosts":
        known |= names_read(read_sources(module, p["variable_sources"]), p["variable_prefixes"])
    settings["known_variables"] = sorted(known)
    problems = validate(p["hosts"], settings, p["stage"])
    unknown = []
    if p["stage"] != "hosts":
        unknown = unknown_variables(p["hosts"], settings["known_variables"], p["variable_prefixes"])
    if p["unknown_variables"] == "warn":
        for line in unknown:
            module.warn(line)
    result = dict(changed=False, problems=problems, unknown_variables=unknown, hosts_checked=len(p["hosts"]))
    if problems and p["fail_on_problems"]:
        module.fail_json(msg="The inventory has %d problem(s); nothing was changed. Fix them and run again:\n- %s" % (
            len(problems), "\n- ".join(problems)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
