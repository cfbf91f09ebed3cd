#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cilium_encryption_info
short_description: Prove Cilium transparent encryption on every node
version_added: 0.1.0
description:
  - Reports, per node, the encryption mode, the WireGuard interface, its public key and peers, and fails
    (unless O(fail_on_mismatch=false)) when the mode is not O(expected_mode) or a node does not have
    nodes - 1 peers, naming the nodes that are wrong.
  - O(mode=node) runs on each host and reads the WireGuard interface directly (C(wg show IFACE dump) and
    C(/proc/net/udp)); it needs C(wg) (wireguard-tools) on the host and no Kubernetes access.
  - O(mode=cluster) reads every cilium agent's C(cilium-dbg encrypt status -o json) (the text form when the
    JSON form is refused) through the Kubernetes API - one node list, one pod list, then one exec per agent
    pod in bounded parallel (O(exec_concurrency)). The number of API calls made is returned.
  - The WireGuard private key is never read into the result.
  - Options are checked before anything is read (an interface name Linux accepts, numbers in range); output of
    C(wg) or C(cilium-dbg) that is not what they print (a field that is not a number, a number out of range, a line
    with the wrong number of fields) fails with one message naming the field, or, in cluster mode, marks that node
    as failed with the reason.
author:
  - aiinfra.cluster contributors (@aiinfra)
requirements:
  - wireguard-tools on the host for O(mode=node)
  - the kubernetes Python library for O(mode=cluster)
options:
  mode:
    description: Where to read the state from.
    type: str
    choices: [node, cluster]
    required: true
  expected_mode:
    description: The encryption mode every node must have.
    type: str
    choices: [wireguard, ipsec, disabled]
    default: wireguard
  expected_peers:
    description:
      - WireGuard peers this node must have (number of nodes - 1, 0 to 100000). Required with O(mode=node).
      - In cluster mode it is computed from the node list.
    type: int
  interface:
    description: The WireGuard interface Cilium creates (1 to 15 characters, no C(/), C(:) or spaces).
    type: str
    default: cilium_wg0
  listen_port:
    description: The UDP port the interface must listen on (node mode), 1 to 65535.
    type: int
    default: 51871
  stale_handshake_seconds:
    description: A peer whose latest handshake is older than this (or never happened) is reported as stale (0 to 10^9).
    type: int
    default: 300
  fail_on_stale:
    description: Also fail when a peer is stale (idle peers have no recent handshake, so off by default).
    type: bool
    default: false
  fail_on_mismatch:
    description: Fail when any node is wrong. With C(false) the verdict is only returned.
    type: bool
    default: true
  kubeconfig:
    description: Kubeconfig for cluster mode; default the in-cluster config, then C(~/.kube/config).
    type: path
  context:
    description: Kubeconfig context for cluster mode.
    type: str
  namespace:
    description: Namespace of the cilium agents.
    type: str
    default: kube-system
  agent_selector:
    description: Label selector of the cilium agent pods.
    type: str
    default: k8s-app=cilium
  agent_container:
    description: Container of the agent pod to exec in.
    type: str
    default: cilium-agent
  exec_concurrency:
    description: How many agent pods are queried at once in cluster mode, 1 to 1000.
    type: int
    default: 10
extends_documentation_fragment:
  - aiinfra.cluster.attributes.info_module
"""

EXAMPLES = r"""
- name: Prove WireGuard on this node (peers = nodes - 1)
  aiinfra.cluster.cilium_encryption_info:
    mode: node
    expected_peers: "{{ groups['k8s_cluster'] | length - 1 }}"

- name: Prove encryption through every cilium agent
  aiinfra.cluster.cilium_encryption_info:
    mode: cluster
    kubeconfig: "{{ k8s_kubeconfig }}"
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
ok:
  description: Whether every node passed.
  returned: always
  type: bool
nodes:
  description:
    - Per node name, C(mode), C(interface_present), C(public_key), C(peers), and in node mode C(listen_port),
      C(port_listening), C(stale_handshakes) (public keys), C(peer_endpoints); in cluster mode C(pod) and C(ipsec);
      C(problems) lists what is wrong.
  returned: always
  type: dict
  sample: {"m1": {"mode": "wireguard", "public_key": "GsIG...xho=", "peers": 4, "problems": []}}
failed_nodes:
  description: Names of the nodes that are wrong.
  returned: always
  type: list
  elements: str
  sample: ["w2"]
node_count:
  description: Nodes considered (cluster mode, from the API; node mode, expected_peers + 1).
  returned: always
  type: int
api_calls:
  description: Kubernetes API calls made (cluster mode; 0 in node mode).
  returned: always
  type: int
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.aiinfra.cluster.plugins.module_utils.cilium_encryption import (
    KubernetesAgentAPI, ParseError, check_module_params, collect_cluster, node_report_from_wg, parse_wg_dump,
    udp_port_listening, verdict)

try:
    import kubernetes  # noqa: F401 pylint: disable=unused-import
    HAS_KUBERNETES = True
except ImportError:
    HAS_KUBERNETES = False


def read_node(module, p):
    """This host's report; fails the module only for a problem with the tools, not with the node's state."""
    wg = module.get_bin_path("wg")
    if wg is None:
        module.fail_json(msg="wg (wireguard-tools) is not installed on %s: install it to read %s" % (
            os.uname()[1], p["interface"]))
    rc, out, err = module.run_command([wg, "show", p["interface"], "dump"], environ_update={"LC_ALL": "C"})
    if rc != 0:
        if "No such device" in err or "Unable to access interface" in err:
            return {"mode": "disabled", "interface_present": False, "peers": 0}
        module.fail_json(msg="'wg show %s dump' failed on %s: %s" % (p["interface"], os.uname()[1], err.strip()),
                         rc=rc, stderr=err)
    try:
        dump = parse_wg_dump(out)
    except ParseError as exc:
        module.fail_json(msg="could not parse 'wg show %s dump' on %s: %s" % (p["interface"], os.uname()[1], exc),
                         rc=rc, stderr=err)
    texts = []
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        if os.path.exists(path):
            with open(path) as f:
                texts.append(f.read())
    return node_report_from_wg(dump, udp_port_listening(texts, dump["listen_port"]), p["listen_port"],
                               int(time.time()), p["stale_handshake_seconds"])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mode=dict(type="str", choices=["node", "cluster"], required=True),
            expected_mode=dict(type="str", choices=["wireguard", "ipsec", "disabled"], default="wireguard"),
            expected_peers=dict(type="int"),
            interface=dict(type="str", default="cilium_wg0"),
            listen_port=dict(type="int", default=51871),
            stale_handshake_seconds=dict(type="int", default=300),
            fail_on_stale=dict(type="bool", default=False),
            fail_on_mismatch=dict(type="bool", default=True),
            kubeconfig=dict(type="path"),
            context=dict(type="str"),
            namespace=dict(type="str", default="kube-system"),
            agent_selector=dict(type="str", default="k8s-app=cilium"),
            agent_container=dict(type="str", default="cilium-agent"),
            exec_concurrency=dict(type="int", default=10),
        ),
        required_if=[("mode", "node", ["expected_peers"])],
        supports_check_mode=True,
    )
    p = module.params
    try:
        check_module_params(p)
    except ValueError as exc:
        module.fail_json(msg="cilium_encryption_info (%s mode) on %s: %s" % (p["mode"], os.uname()[1], exc))
    if p["mode"] == "node":
        name = os.uname()[1]
        reports = {name: read_node(module, p)}
        result = verdict(reports, p["expected_mode"], p["expected_peers"], p["listen_port"], p["fail_on_stale"])
        node_count, api_calls = p["expected_peers"] + 1, 0
    else:
        if not HAS_KUBERNETES:
            module.fail_json(msg=missing_required_lib("kubernetes"))
        try:
            api = KubernetesAgentAPI(p["kubeconfig"], p["context"], p["namespace"], p["agent_selector"],
                                     p["agent_container"])
            reports, nodes, api_calls = collect_cluster(api, p["interface"], p["exec_concurrency"])
        except Exception as exc:  # pylint: disable=broad-except
            module.fail_json(msg="Could not read cilium agents through the Kubernetes API (kubeconfig %s, "
                                 "namespace %s, selector %s): %s" % (p["kubeconfig"] or "default", p["namespace"],
                                                                     p["agent_selector"], exc))
        node_count = len(nodes)
        result = verdict(reports, p["expected_mode"], node_count - 1, None, p["fail_on_stale"])
    for node, report in reports.items():
        report["problems"] = result["problems"].get(node, [])
    out = dict(changed=False, ok=result["ok"], nodes=reports, failed_nodes=result["failed_nodes"],
               node_count=node_count, api_calls=api_calls)
    if not result["ok"] and p["fail_on_mismatch"]:
        detail = "; ".join("%s: %s" % (n, ", ".join(result["problems"][n])) for n in result["failed_nodes"])
        module.fail_json(msg="Transparent encryption is not as expected (%s, peers = nodes - 1 = %d) on %d of %d "
                             "nodes: %s" % (p["expected_mode"], node_count - 1, len(result["failed_nodes"]),
                                            node_count, detail), **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
