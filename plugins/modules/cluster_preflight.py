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
  - Rules are control-plane count (odd, not zero), hosts in exclusive groups, GPU nodes that are not workers,
    duplicate node IPs and hostnames, the API VIP (set for HA, an IP, inside every control-plane node's
    subnet, not a node IP), supported operating systems, memory and free disk per node role, the
    distribution (k3s or kubeadm), the Kubernetes version format, and the GPU group variables.
  - Reads only its arguments; it changes nothing anywhere. Run it once per play (C(run_once)).
author:
  - aiinfra.cluster contributors (@aiinfra)
options:
  hosts:
    description:
      - One entry per inventory host, as built by the C(aiinfra.cluster.preflight) role from the inventory and
        gathered facts.
      - Keys used are C(name), C(ip), C(hostname), C(groups), C(distribution), C(distribution_version),
        C(memory_mb), C(disk_free_mb) (MiB free on O(disk_path)), C(ipv4) (list of C(address),
        C(prefix) or C(netmask)) and C(gpu) (a dict of the GPU group variables).
    type: list
    elements: dict
    required: true
  distribution:
    description: Kubernetes distribution, the inventory's C(k8s_distribution).
    type: str
    required: true
  kubernetes_version:
    description: Kubernetes release to install, the inventory's C(k8s_version).
    type: str
    required: true
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
- name: Validate the inventory
  aiinfra.cluster.cluster_preflight:
    hosts: "{{ ansible_play_hosts_all | map('extract', hostvars, 'preflight_host') | list }}"
    distribution: "{{ k8s_distribution }}"
    kubernetes_version: "{{ k8s_version }}"
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
hosts_checked:
  description: Number of hosts validated.
  returned: always
  type: int
  sample: 5
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aiinfra.cluster.plugins.module_utils.preflight import validate


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type="list", elements="dict", required=True),
            distribution=dict(type="str", required=True),
            kubernetes_version=dict(type="str", required=True),
            api_vip=dict(type="str"),
            groups=dict(type="dict", default={"control_plane": "k8s_control_plane", "worker": "k8s_workers",
                                              "gpu": "gpu_nodes"}),
            min_resources=dict(type="dict"),
            disk_path=dict(type="str", default="/var/lib"),
            supported_os=dict(type="dict"),
            registry=dict(type="dict"),
            node_ports=dict(type="dict"),
            storage=dict(type="dict"),
            fail_on_problems=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    settings = {
        "distribution": p["distribution"],
        "kubernetes_version": p["kubernetes_version"],
        "api_vip": p["api_vip"],
        "groups": p["groups"],
        "min_resources": p["min_resources"],
        "disk_path": p["disk_path"],
        "supported_os": p["supported_os"],
        "registry": p["registry"],
        "node_ports": p["node_ports"],
        "storage": p["storage"],
    }
    problems = validate(p["hosts"], settings)
    result = dict(changed=False, problems=problems, hosts_checked=len(p["hosts"]))
    if problems and p["fail_on_problems"]:
        module.fail_json(msg="The inventory has %d problem(s); nothing was changed. Fix them and run again:\n- %s" % (
            len(problems), "\n- ".join(problems)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
