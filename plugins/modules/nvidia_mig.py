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
  - Refuses to change a GPU that runs compute processes unless O(force=true).
  - Enabling MIG from scratch (mode off, where C(nvidia-smi mig -lgi) answers C(No MIG-enabled devices found.)) is
    planned whole, so check mode and diff show it all. Enabling takes effect after a GPU reset or reboot (some drivers
    reset the GPU themselves); the module re-reads the mode, resets a GPU still pending only with O(allow_reset=true),
    and creates the instances in the same run once the mode is active. Otherwise it reports RV(reset_required) and
    the instance creation left in RV(deferred), and creates them on the next run after the reset or reboot.
  - Reads both C(nvidia-smi mig -lci) formats (with and without the Placement column of newer drivers).
  - With O(strategy=mig-manager) it only sets the node label C(nvidia.com/mig.config) for the GPU Operator's MIG
    manager and waits for the transition that change causes, watching the node so no label write is missed. The
    C(nvidia.com/mig.config.state) read right after the change still shows the previous config's outcome, so a
    C(success) counts only after the manager was seen C(pending)/C(rebooting) (or the state changed). C(failed)
    fails with the manager's own error from its pod log; no transition within O(timeout) fails saying whether the
    manager ever picked the change up. A label already at O(mig_config) with state C(success) is left alone;
    one with state C(failed) fails at once (the manager retries only when the label changes). Reading the
    manager's log needs list access to pods and read access to pods/log; without it the message says so.
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
    description: Seconds to wait for the MIG manager to reach C(success) or C(failed) (strategy mig-manager).
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    description: Reads the GPUs (or the node labels) and returns the whole plan and diff; changes nothing and waits for nothing.
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

- name: MIG from scratch on every A100-80GB; when the mode waits for a reset, reboot and run again
  aiinfra.cluster.nvidia_mig:
    profiles:
      3g.40gb: 2
  register: mig

- name: Reboot so that the pending MIG mode takes effect
  ansible.builtin.reboot:
  when: mig.reset_required

- name: Create the instances now that the mode is active
  aiinfra.cluster.nvidia_mig:
    profiles:
      3g.40gb: 2
  when: mig.reset_required

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
  description:
    - Per GPU, C(index), C(bus_id), C(actions), C(commands) (argument lists, the whole plan in order), C(phases) (for
      each command C(now), C(if_mode_pending) (the GPU reset, run only while the mode change is still pending) or
      C(after_mode_active)), C(blocked), C(before), C(after), C(reset_required).
  returned: strategy nvidia-smi
  type: list
  elements: dict
reset_required:
  description: Whether a GPU needs a reset or reboot before its MIG mode takes effect.
  returned: strategy nvidia-smi
  type: bool
deferred:
  description:
    - Per GPU whose MIG mode is not active yet, C(index), C(bus_id), and the C(actions) and C(commands) (instance
      creation) left for the run after the reset or reboot. Empty when nothing waits.
  returned: strategy nvidia-smi
  type: list
  elements: dict
msg:
  description: What is left to do when RV(deferred) is not empty (also given as a warning).
  returned: when something waits for a GPU reset or reboot
  type: str
gpus:
  description: The GPUs as read at the end of the run (index, bus_id, name, memory_mib, mig_current, mig_pending).
  returned: strategy nvidia-smi
  type: list
  elements: dict
instances:
  description: GPU instances at the end of the run (gpu, profile, profile_id, gi, placement).
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
    CONFIG_LABEL, MODE_ACTIVE, RESET, STATE_LABEL, MigError, manager_log_excerpt, mig_manager_observe,
    mig_manager_start, mig_manager_timeout_reason, nothing_listed, parse_compute_apps, parse_lci, parse_lgi,
    parse_query_gpu, plan, runs_now, will_change)

try:
    from kubernetes import client, config, watch
    from kubernetes.client.rest import ApiException
    from kubernetes.config import ConfigException
    from urllib3.exceptions import HTTPError as TransportError
    HAS_KUBERNETES = True
except ImportError:
    HAS_KUBERNETES = False

QUERY = ["nvidia-smi", "--query-gpu=index,pci.bus_id,name,memory.total,mig.mode.current,mig.mode.pending",
         "--format=csv,noheader,nounits"]
APPS = ["nvidia-smi", "--query-compute-apps=gpu_bus_id,pid,process_name", "--format=csv,noheader"]
LGI = ["nvidia-smi", "mig", "-lgi"]
LCI = ["nvidia-smi", "mig", "-lci"]
ENV = {"LC_ALL": "C"}


def run(module, cmd, nothing_ok=False):
    """Run an argument list; with nothing_ok, nvidia-smi's 'nothing to list' messages count as empty output."""
    rc, out, err = module.run_command(cmd, environ_update=ENV)
    if nothing_ok and nothing_listed(out + "\n" + err):
        return ""
    if rc != 0:
        module.fail_json(msg="'%s' failed (rc=%d): %s" % (" ".join(cmd), rc, (err or out).strip()),
                         rc=rc, stdout=out, stderr=err, cmd=cmd)
    return out


def read_state(module, smi):
    """(gpus, gis, cis, busy) as nvidia-smi reports them; unreadable output fails with the text that broke."""
    out = run(module, [smi] + QUERY[1:])
    try:
        gpus = parse_query_gpu(out)
    except MigError as exc:
        module.fail_json(msg="Could not parse the GPUs that nvidia-smi --query-gpu reports on this host: %s; check the "
                             "NVIDIA driver with nvidia-smi -q" % exc, stdout=out, cmd=QUERY)
    gis, cis = [], []
    if any(g["mig_current"] is not None for g in gpus):
        # MIG-capable GPUs: with MIG mode off everywhere these answer 'No MIG-enabled devices found.', an empty list
        gis = parse_lgi(run(module, [smi] + LGI[1:], nothing_ok=True))
        cis = parse_lci(run(module, [smi] + LCI[1:], nothing_ok=True))
    return gpus, gis, cis, parse_compute_apps(run(module, [smi] + APPS[1:]))


def make_plans(module, state, devices, done="nothing was changed"):
    p = module.params
    gpus, gis, cis, busy = state
    wanted = {"mig_enabled": p["mig_enabled"], "profiles": p["profiles"]}
    try:
        plans = plan(gpus, gis, cis, busy, wanted, devices, p["force"], p["allow_reset"])
    except MigError as exc:
        module.fail_json(msg="MIG layout refused, %s: %s" % (done, exc), gpus=gpus)
    blocked = [pl["blocked"] for pl in plans if pl["blocked"]]
    if blocked:
        module.fail_json(msg="Refusing to change busy GPUs, %s: %s" % (done, "; ".join(blocked)), plan=plans)
    return plans


def _waiting(plans):
    return [pl for pl in plans if any(ph in (RESET, MODE_ACTIVE) for ph in pl["phases"])]


def apply(module, smi, plans):
    """Run the plans: first what runs now, then (MIG just enabled) reset if allowed and still pending, re-read, and
    create the instances on the GPUs whose MIG mode is active. Returns (ran, deferred plans)."""
    ran = []

    def do(cmd):
        run(module, [smi] + cmd[1:])
        ran.append(cmd)

    for pl in plans:
        for cmd in runs_now(pl):
            do(cmd)
    waiting = _waiting(plans)
    if not waiting:
        return ran, []
    gpus = dict((g["index"], g) for g in read_state(module, smi)[0])
    for pl in waiting:
        gpu = gpus.get(pl["index"])
        if gpu and not gpu["mig_current"] and gpu["mig_pending"] and RESET in pl["phases"]:
            do(pl["commands"][pl["phases"].index(RESET)])
    state = read_state(module, smi)
    active = [str(g["index"]) for g in state[0]
              if g["mig_current"] and g["index"] in set(pl["index"] for pl in waiting)]
    if active:
        for pl in make_plans(module, state, active, "MIG mode was enabled but no instance was created"):
            for cmd in runs_now(pl):
                do(cmd)
    return ran, [deferred_part(pl) for pl in waiting if str(pl["index"]) not in active]


def deferred_part(pl):
    """What of a plan waits for the MIG mode to become active (after a reset or reboot)."""
    keep = [i for i, ph in enumerate(pl["phases"]) if ph == MODE_ACTIVE]
    return {"index": pl["index"], "bus_id": pl["bus_id"], "actions": [pl["actions"][i] for i in keep],
            "commands": [pl["commands"][i] for i in keep]}


def _deferred_msg(deferred):
    return ("MIG mode on GPU %s is not active yet: it needs a GPU reset (nvidia-smi -r -i N, or allow_reset=true) or "
            "a reboot; run again afterwards to create the instances" % ", ".join(
                "%d (%s)" % (d["index"], d["bus_id"]) for d in deferred))


def with_nvidia_smi(module, devices):
    smi = module.get_bin_path("nvidia-smi")
    if smi is None:
        module.fail_json(msg="nvidia-smi is not installed on this host: install the NVIDIA driver (or use "
                             "strategy=mig-manager with the GPU Operator's driver)")
    state = read_state(module, smi)
    gpus, gis = state[:2]
    plans = make_plans(module, state, devices)
    deferred = [deferred_part(pl) for pl in plans if pl["reset_required"]]
    result = dict(changed=any(will_change(pl) for pl in plans), plan=plans,
                  reset_required=bool(deferred), deferred=deferred)
    if module._diff:
        result["diff"] = {"before": {"gpu%d" % pl["index"]: pl["before"] for pl in plans},
                          "after": {"gpu%d" % pl["index"]: pl["after"] for pl in plans}}
    if result["changed"] and not module.check_mode:
        ran, deferred = apply(module, smi, plans)
        gpus, gis = read_state(module, smi)[:2]
        selected = set(pl["index"] for pl in plans)
        result.update(changed=bool(ran), deferred=deferred, reset_required=bool(deferred) or any(
            g["mig_pending"] is not None and g["mig_pending"] != g["mig_current"]
            for g in gpus if g["index"] in selected))
    if result["deferred"]:
        result["msg"] = _deferred_msg(result["deferred"])
        module.warn(result["msg"])
    module.exit_json(gpus=gpus, instances=gis, **result)


def _labels(obj):
    return dict(obj.metadata.labels or {})


def manager_log(core, node):
    """The nvidia-mig-manager pod's own error on that node, for failure messages (never fails itself)."""
    try:
        pods = core.list_pod_for_all_namespaces(label_selector="app=nvidia-mig-manager",
                                                field_selector="spec.nodeName=%s" % node).items
        if not pods:
            return "no nvidia-mig-manager pod runs on node %s" % node
        pod = pods[0]
        names = [c.name for c in (pod.spec.containers or [])]
        text = core.read_namespaced_pod_log(pod.metadata.name, pod.metadata.namespace, tail_lines=50,
                                            container="nvidia-mig-manager" if "nvidia-mig-manager" in names else None)
        return "nvidia-mig-manager pod %s/%s says: %s" % (pod.metadata.namespace, pod.metadata.name,
                                                          manager_log_excerpt(text) or "(empty log)")
    except (ApiException, TransportError, OSError, ValueError, AttributeError) as exc:
        return "could not read the nvidia-mig-manager log on node %s: %s" % (node, exc)


def wait_for_manager(module, core, tracker, resource_version):
    """Watch the node from resource_version (so no label write is missed, however fast the manager is) until the
    state machine gives a verdict or the timeout passes. Returns (verdict, tracker)."""
    p = module.params
    deadline = time.time() + p["timeout"]
    while time.time() < deadline:
        try:
            events = watch.Watch().stream(core.list_node, field_selector="metadata.name=%s" % p["node_name"],
                                          resource_version=resource_version,
                                          timeout_seconds=max(1, int(deadline - time.time())))
            for event in events:
                if event["type"] == "DELETED":
                    module.fail_json(msg="Node %s was deleted while waiting for the MIG manager" % p["node_name"])
                resource_version = event["object"].metadata.resource_version
                verdict, tracker = mig_manager_observe(tracker, _labels(event["object"]))
                if verdict != "wait":
                    return verdict, tracker
                if time.time() >= deadline:
                    break
        except TransportError as exc:  # a dropped connection: watch again from the last resourceVersion seen
            module.warn("Watch on node %s interrupted (%s); watching again" % (p["node_name"], exc))
        except ApiException as exc:
            if exc.status != 410:
                module.fail_json(msg="Could not watch node %s for the MIG manager: %s" % (p["node_name"], exc),
                                 status=exc.status)
            # The watch history expired: read the node now and watch on from there.
            try:
                node = core.read_node(p["node_name"])
            except (ApiException, TransportError) as exc2:
                module.fail_json(msg="Could not read node %s while waiting for the MIG manager: %s" % (
                    p["node_name"], exc2), status=getattr(exc2, "status", None))
            resource_version = node.metadata.resource_version
            verdict, tracker = mig_manager_observe(tracker, _labels(node))
            if verdict != "wait":
                return verdict, tracker
        time.sleep(1)  # the stream ended (server timeout or a dropped connection): watch again
    return "timeout", tracker


def with_mig_manager(module):
    p = module.params
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"))
    node_name, desired = p["node_name"], p["mig_config"]
    try:
        config.load_kube_config(config_file=p["kubeconfig"])
        core = client.CoreV1Api()
        node = core.read_node(node_name)
    except (ApiException, ConfigException, TransportError) as exc:
        module.fail_json(msg="Could not read node %s to set %s (kubeconfig %s): %s" % (
            node_name, CONFIG_LABEL, p["kubeconfig"] or "default", exc), status=getattr(exc, "status", None))
    labels = _labels(node)
    verdict, tracker = mig_manager_start(labels, desired)
    result = dict(changed=verdict == "set", state=labels.get(STATE_LABEL),
                  diff={"before": {CONFIG_LABEL: labels.get(CONFIG_LABEL)}, "after": {CONFIG_LABEL: desired}})
    if verdict == "unchanged":
        module.exit_json(**result)
    if verdict == "failed":
        module.fail_json(msg="The MIG manager already failed to apply %s on node %s (%s=failed) and retries only when "
                             "%s changes: fix the cause, then set the label to another config and back. %s" % (
                                 desired, node_name, STATE_LABEL, CONFIG_LABEL, manager_log(core, node_name)),
                         **result)
    if module.check_mode:
        module.exit_json(**result)
    resource_version = node.metadata.resource_version
    if verdict == "set":
        try:
            patched = core.patch_node(node_name, {"metadata": {"labels": {CONFIG_LABEL: desired}}})
        except (ApiException, TransportError) as exc:
            module.fail_json(msg="Could not set %s=%s on node %s: %s" % (CONFIG_LABEL, desired, node_name, exc),
                             status=getattr(exc, "status", None))
        resource_version = patched.metadata.resource_version
    verdict, tracker = wait_for_manager(module, core, tracker, resource_version)
    result["state"] = tracker["state"]
    if verdict == "success":
        module.exit_json(**result)
    if verdict == "failed":
        module.fail_json(msg="The MIG manager failed to apply %s on node %s (%s=failed). %s" % (
            desired, node_name, STATE_LABEL, manager_log(core, node_name)), **result)
    if verdict == "overridden":
        module.fail_json(msg="%s on node %s was changed to %r by someone else while waiting for %s" % (
            CONFIG_LABEL, node_name, tracker.get("overridden_by"), desired), **result)
    module.fail_json(msg="Timed out after %ds waiting for the MIG manager to apply %s on node %s: %s. %s" % (
        p["timeout"], desired, node_name, mig_manager_timeout_reason(tracker), manager_log(core, node_name)), **result)


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
    with_nvidia_smi(module, "all" if devices == ["all"] else devices)


if __name__ == "__main__":
    main()
