#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_mig
short_description: Make NVIDIA GPUs match a wanted MIG layout, idempotently and safely
version_added: 0.1.0
description:
  - Declares the MIG layout per GPU the way operators write it (O(devices), O(mig_enabled), O(profiles) as
    profile name to count) and makes the GPUs match it with the smallest change. A GPU already as wanted is not touched.
  - Reads C(nvidia-smi --query-gpu=index,pci.bus_id,name,memory.total,mig.mode.current,mig.mode.pending),
    C(nvidia-smi mig -lgi), C(nvidia-smi mig -lci) and the compute processes, then validates the layout against
    a catalog of profiles per GPU model (A100-40GB, A100-80GB, H100-80GB, H100-94GB, H200-141GB, A30-24GB)
    before touching anything.
  - Refuses to change a GPU that runs compute processes unless O(force=true). Enabling MIG mode takes effect only
    after a GPU reset or reboot; the module reports RV(reset_required) and resets a GPU only with O(allow_reset=true).
  - With O(strategy=mig-manager) it only sets the node label C(nvidia.com/mig.config) for the GPU Operator's MIG
    manager and waits until C(nvidia.com/mig.config.state) is C(success) (fails on C(failed), times out on C(pending)).
author:
  - aiinfra.cluster contributors (@aiinfra)
requirements:
  - nvidia-smi on the host (strategy nvidia-smi)
  - the kubernetes Python library (strategy mig-manager)
options:
  strategy:
    description: Partition directly with nvidia-smi, or hand a named config to the GPU Operator's MIG manager.
    type: str
    choices: [nvidia-smi, mig-manager]
    default: nvidia-smi
  devices:
    description: GPU indexes to manage, or C(all).
    type: list
    elements: str
    default: [all]
  mig_enabled:
    description: Whether MIG mode must be on for these GPUs.
    type: bool
    default: true
  profiles:
    description: Wanted GPU instances per GPU, profile name to count, for example C(3g.40gb=1) and C(2g.20gb=2).
    type: dict
    default: {}
  force:
    description: Change GPUs even while compute processes run on them (they will lose their GPU).
    type: bool
    default: false
  allow_reset:
    description: Reset a GPU (C(nvidia-smi -r)) when a MIG mode change is pending. Never done otherwise.
    type: bool
    default: false
  node_name:
    description: Kubernetes node to label (strategy mig-manager).
    type: str
  mig_config:
    description: Name of the MIG manager config to apply, e.g. C(all-1g.10gb) (strategy mig-manager).
    type: str
  kubeconfig:
    description: Kubeconfig for strategy mig-manager.
    type: path
  timeout:
    description: Seconds to wait for the MIG manager (strategy mig-manager).
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    description: Reads the GPUs and returns the plan and diff; runs no command that changes anything.
  diff_mode:
    support: full
    description: Before and after per GPU (MIG mode and instance counts).
"""

EXAMPLES = r"""
- name: Seven 1g.10gb instances on every H100
  aiinfra.cluster.nvidia_mig:
    devices: all
    mig_enabled: true
    profiles:
      1g.10gb: 7

- name: A mixed layout on GPU 0, resetting it if the mode change is pending
  aiinfra.cluster.nvidia_mig:
    devices: ["0"]
    profiles:
      3g.40gb: 1
      2g.20gb: 2
    allow_reset: true

- name: Let the GPU Operator's MIG manager do it
  aiinfra.cluster.nvidia_mig:
    strategy: mig-manager
    node_name: "{{ inventory_hostname }}"
    mig_config: all-1g.10gb
    kubeconfig: "{{ k8s_kubeconfig }}"
  delegate_to: localhost
"""

RETURN = r"""
plan:
  description: Per GPU, C(index), C(bus_id), C(actions), C(commands) (argument lists), C(before), C(after), C(reset_required).
  returned: strategy nvidia-smi
  type: list
  elements: dict
reset_required:
  description: Whether a GPU needs a reset or reboot before its MIG mode takes effect.
  returned: strategy nvidia-smi
  type: bool
gpus:
  description: The GPUs as read after the run (index, bus_id, name, memory_mib, mig_current, mig_pending).
  returned: strategy nvidia-smi
  type: list
  elements: dict
instances:
  description: GPU instances after the run (gpu, profile, profile_id, gi, placement).
  returned: strategy nvidia-smi
  type: list
  elements: dict
state:
  description: The node's C(nvidia.com/mig.config.state) at the end (strategy mig-manager).
  returned: strategy mig-manager
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.aiinfra.cluster.plugins.module_utils.nvidia_mig import (
    MigError, parse_compute_apps, parse_lci, parse_lgi, parse_query_gpu, plan)

try:
    import kubernetes  # noqa: F401 pylint: disable=unused-import
    HAS_KUBERNETES = True
except ImportError:
    HAS_KUBERNETES = False

QUERY = ["nvidia-smi", "--query-gpu=index,pci.bus_id,name,memory.total,mig.mode.current,mig.mode.pending",
         "--format=csv,noheader,nounits"]
APPS = ["nvidia-smi", "--query-compute-apps=gpu_bus_id,pid,process_name", "--format=csv,noheader"]
ENV = {"LC_ALL": "C"}
LABEL = "nvidia.com/mig.config"
STATE = "nvidia.com/mig.config.state"


def run(module, cmd, ok_when=None):
    rc, out, err = module.run_command(cmd, environ_update=ENV)
    if rc != 0 and not (ok_when and ok_when in (out + err)):
        module.fail_json(msg="'%s' failed (rc=%d): %s" % (" ".join(cmd), rc, (err or out).strip()),
                         rc=rc, stdout=out, stderr=err, cmd=cmd)
    return out


def read_state(module):
    gpus = parse_query_gpu(run(module, QUERY))
    if not any(g["mig_current"] is not None for g in gpus):
        return gpus, [], [], parse_compute_apps(run(module, APPS))
    gis = parse_lgi(run(module, ["nvidia-smi", "mig", "-lgi"], ok_when="No GPU instances found"))
    cis = parse_lci(run(module, ["nvidia-smi", "mig", "-lci"], ok_when="No compute instances found"))
    return gpus, gis, cis, parse_compute_apps(run(module, APPS))


def with_nvidia_smi(module):
    p = module.params
    smi = module.get_bin_path("nvidia-smi")
    if smi is None:
        module.fail_json(msg="nvidia-smi is not installed on this host: install the NVIDIA driver (or use "
                             "strategy=mig-manager with the GPU Operator's driver)")
    gpus, gis, cis, busy = read_state(module)
    wanted = {"mig_enabled": p["mig_enabled"], "profiles": p["profiles"]}
    try:
        plans = plan(gpus, gis, cis, busy, wanted, p["devices"], p["force"], p["allow_reset"])
    except (MigError, ValueError) as exc:
        module.fail_json(msg="MIG layout refused, nothing was changed: %s" % exc, gpus=gpus)
    blocked = [pl["blocked"] for pl in plans if pl["blocked"]]
    if blocked:
        module.fail_json(msg="Refusing to change busy GPUs, nothing was changed: %s" % "; ".join(blocked), plan=plans)
    changed = any(pl["commands"] for pl in plans)
    result = dict(changed=changed, plan=plans, reset_required=any(pl["reset_required"] for pl in plans))
    if module._diff:
        result["diff"] = {"before": {"gpu%d" % pl["index"]: pl["before"] for pl in plans},
                          "after": {"gpu%d" % pl["index"]: pl["after"] for pl in plans}}
    if changed and not module.check_mode:
        for pl in plans:
            for cmd in pl["commands"]:
                run(module, [smi] + cmd[1:])
        gpus, gis, cis, busy = read_state(module)
        result["reset_required"] = any(g["mig_pending"] is not None and g["mig_pending"] != g["mig_current"]
                                       for g in gpus)
    result.update(gpus=gpus, instances=gis)
    module.exit_json(**result)


def with_mig_manager(module):
    p = module.params
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"))
    from kubernetes import client, config
    config.load_kube_config(config_file=p["kubeconfig"])
    core = client.CoreV1Api()

    def labels():
        return core.read_node(p["node_name"]).metadata.labels or {}

    current = labels()
    if current.get(LABEL) == p["mig_config"] and current.get(STATE) == "success":
        module.exit_json(changed=False, state="success")
    result = dict(changed=current.get(LABEL) != p["mig_config"],
                  diff={"before": {LABEL: current.get(LABEL)}, "after": {LABEL: p["mig_config"]}})
    if module.check_mode:
        module.exit_json(state=current.get(STATE), **result)
    if result["changed"]:
        core.patch_node(p["node_name"], {"metadata": {"labels": {LABEL: p["mig_config"]}}})
    deadline = time.time() + p["timeout"]
    state = current.get(STATE)
    while time.time() < deadline:
        state = labels().get(STATE)
        if state == "success":
            module.exit_json(state=state, **result)
        if state == "failed":
            module.fail_json(msg="The MIG manager failed to apply %s on node %s (%s=failed): see the "
                                 "nvidia-mig-manager pod's log" % (p["mig_config"], p["node_name"], STATE), **result)
        time.sleep(5)
    module.fail_json(msg="Timed out after %ds waiting for the MIG manager on node %s (%s=%s)" % (
        p["timeout"], p["node_name"], STATE, state), **result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            strategy=dict(type="str", choices=["nvidia-smi", "mig-manager"], default="nvidia-smi"),
            devices=dict(type="list", elements="str", default=["all"]),
            mig_enabled=dict(type="bool", default=True),
            profiles=dict(type="dict", default={}),
            force=dict(type="bool", default=False),
            allow_reset=dict(type="bool", default=False),
            node_name=dict(type="str"),
            mig_config=dict(type="str"),
            kubeconfig=dict(type="path"),
            timeout=dict(type="int", default=600),
        ),
        required_if=[("strategy", "mig-manager", ["node_name", "mig_config"])],
        supports_check_mode=True,
    )
    if module.params["strategy"] == "mig-manager":
        with_mig_manager(module)
    devices = module.params["devices"]
    module.params["devices"] = "all" if devices == ["all"] else devices
    with_nvidia_smi(module)


if __name__ == "__main__":
    main()
