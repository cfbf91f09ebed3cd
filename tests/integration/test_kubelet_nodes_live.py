"""Issue 20: the collection's lifecycle code against real nodes - kubelets v1.20.2 on the test-bed nodes, on the
containerd the node layer configured, under a real control plane (tests/integration/kubelet_nodes.py says what is
real and what stands in). Pods really run: rollout waits wait for readiness probes, drains evict, a PDB holds a
drain, a stopped kubelet makes its node NotReady and its pods move.

Measured times are printed (pytest -s, or the `kubelet tier:` lines of a failing run) and written to
$AIINFRA_KUBELET_TIER_TIMES (default: the tier directory's times.json, removed with it).
"""

import json
import os
import re
import time

import pytest
import yaml

import kube_api
from ansible_env import needs_collection
from kubelet_nodes import IMAGES, NodeTier, deployment, log, wait_for

pytestmark = [needs_collection, pytest.mark.skipif(
    kube_api.cached_binary("kubelet") is None and not os.environ.get(kube_api.REQUIRE_ENV),
    reason="kubelet v1.20.2 is not built (scripts/build_kubernetes.sh --node) and %s is unset" % kube_api.REQUIRE_ENV)]

NS = "tier"


@pytest.fixture(scope="module")
def tier():
    t = NodeTier().start()
    t.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}])
    yield t
    path = os.environ.get("AIINFRA_KUBELET_TIER_TIMES") or os.path.join(t.dir, "times.json")
    with open(path, "w") as f:
        json.dump(t.times, f, indent=1)
    for key, value in t.times.items():
        log("%s: %s" % (key, value))
    t.stop()


def recap(output):
    """{host: {ok, changed, failed, ...}} from a PLAY RECAP."""
    found = {}
    for line in output.splitlines():
        m = re.match(r"^(\S+)\s+:\s+(.*)$", line)
        if m and "ok=" in m.group(2):
            found[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return found


def changed(output):
    return sum(h.get("changed", 0) for h in recap(output).values())


def playbook(tier, name, plays):
    path = os.path.join(tier.dir, name + ".yml")
    with open(path, "w") as f:
        yaml.safe_dump(plays, f, sort_keys=False)
    return path


def test_nodes_ready_on_the_node_layers_containerd_and_pods_pass_their_probes(tier):
    """Three kubelets registered Ready on node_baseline's containerd; a Deployment applied and waited for with
    kubernetes.core.k8s (wait: true, as the roles' rollout waits) becomes Available only when the readiness probes
    of pods pulled through each node's certs.d pass; exec into a pod works (kubernetes.core.k8s_exec); a second
    apply changes nothing."""
    for name in tier.joined:
        node = tier.node(name)
        info = node["status"]["nodeInfo"]
        assert info["kubeletVersion"] == "v1.20.2"
        assert info["containerRuntimeVersion"].startswith("containerd://1.6"), info
        addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
        assert addresses["InternalIP"] == tier.ips[name]
    apply = {"name": "kubernetes.core.k8s with a rollout wait, exec", "hosts": "localhost", "gather_facts": False,
             "tasks": [
                 {"name": "Apply and wait", "kubernetes.core.k8s": {
                     "kubeconfig": tier.kubeconfig, "state": "present", "wait": True, "wait_timeout": 180,
                     "wait_condition": {"type": "Available", "status": "True"},
                     "definition": deployment("web", NS, replicas=3)}},
                 {"name": "A pod", "kubernetes.core.k8s_info": {
                     "kubeconfig": tier.kubeconfig, "kind": "Pod", "namespace": NS, "label_selectors": ["app=web"]},
                  "register": "pods"},
                 {"name": "Exec", "kubernetes.core.k8s_exec": {
                     "kubeconfig": tier.kubeconfig, "namespace": NS, "pod": "{{ pods.resources[0].metadata.name }}",
                     "command": "wget -q -O - http://127.0.0.1:8080/index.html"},
                  "register": "exec", "changed_when": False},
                 {"name": "Exec output", "ansible.builtin.assert": {"that": ["exec.stdout | trim == 'ok'"]}}]}
    path = playbook(tier, "web", [apply])
    t0 = time.monotonic()
    first = tier.ansible(path, check=True)
    tier.times["Deployment (3 replicas) applied and Available s"] = round(time.monotonic() - t0, 1)
    pods = tier.pods(NS, "app=web")
    assert len(pods) == 3
    assert all(p["status"]["phase"] == "Running" for p in pods)
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {IMAGES["busybox"]}
    assert changed(first.stdout) == 1, first.stdout[-3000:]
    second = tier.ansible(path, check=True)
    assert changed(second.stdout) == 0, second.stdout[-3000:]
