"""Issue 13 item 5, live: playbooks/tasks/upgrade_node.yml (the per-node part of playbooks/upgrade.yml) against a
real kube-apiserver v1.20.2 (tests/integration/kube_api.py) holding the Node objects, in the states an
interrupted upgrade leaves. The Node objects are real API objects whose status (kubelet version, Ready) the test
writes, since no kubelet runs here.

Stand-in, and the only one: the installed kubeadm binary. upgrade_node.yml reads it with `kubeadm version -o
short` (the kubeadm role's `version` entry point); kubeadm is not installable here, so a script on PATH prints the
release the test says is installed. Only paths that need no package change run: finishing an interrupted upgrade
(Ready wait, uncordon, unmark) and leaving nodes alone; the upgrade itself (apt, kubeadm upgrade) does not.
Before the fix, upgrade_node.yml decided from the binary alone: the 'interrupted' node below was left cordoned
(test_interrupted_upgrade_is_finished failed against git HEAD's file)."""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

import kube_api
from ansible_env import ENV as ANSIBLE_ENV, ROOT, needs_collection

pytestmark = needs_collection
WANTED = "v1.20.2"
MARKER = "aiinfra.io/upgrading-to"


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    p = kube_api.ControlPlane(slot=7).start()
    work = tmp_path_factory.mktemp("upgrade")
    bindir = work / "bin"
    bindir.mkdir()
    kubeadm = bindir / "kubeadm"  # STAND-IN for the installed binary's version output (see the module docstring)
    kubeadm.write_text("#!/bin/sh\necho %s\n" % WANTED)
    kubeadm.chmod(0o755)
    p.work, p.bindir = work, bindir
    p.admin = p.kubeconfig(str(work / "admin.kubeconfig"))
    yield p
    p.stop()


def make_node(plane, name, version, cordoned, ready, annotations=None):
    status, body = plane.request("POST", "/api/v1/nodes", {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": annotations or {}}, "spec": {"unschedulable": cordoned}})
    assert status == 201, body
    status, body = plane.request("PATCH", "/api/v1/nodes/%s/status" % name, {"status": {
        "nodeInfo": {"kubeletVersion": version, "kubeProxyVersion": version, "machineID": "m", "systemUUID": "s",
                     "bootID": "b", "kernelVersion": "k", "osImage": "o", "containerRuntimeVersion": "c",
                     "operatingSystem": "linux", "architecture": "amd64"},
        "conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "test",
                        "lastHeartbeatTime": "2026-12-01T00:00:00Z", "lastTransitionTime": "2026-12-01T00:00:00Z"}]}},
        content_type="application/merge-patch+json")
    assert status == 200, body


def node(plane, name):
    status, body = plane.request("GET", "/api/v1/nodes/%s" % name)
    assert status == 200, body
    return body


def upgrade_node(plane, host, tasks_file=None):
    """upgrade_node.yml for one host (connection local) through ansible-playbook; (rc, output, changed count)."""
    playbook = [{"name": "One node of playbooks/upgrade.yml", "hosts": host, "gather_facts": False, "tasks": [{
        "name": "Upgrade this node", "ansible.builtin.include_tasks": tasks_file or os.path.join(
            ROOT, "playbooks", "tasks", "upgrade_node.yml")}]}]
    pb = plane.work / ("%s.yml" % host)
    pb.write_text(yaml.safe_dump(playbook, sort_keys=False))
    inv = plane.work / "hosts.yml"
    inv.write_text(json.dumps({"all": {"hosts": {h: {"ansible_connection": "local"} for h in (
        "interrupted", "operator-cordon", "notready", "current")}}}))
    env = dict(ANSIBLE_ENV, PATH="%s:%s" % (plane.bindir, os.environ["PATH"]))
    extra = {"k8s_distribution": "kubeadm", "k8s_version": WANTED, "k8s_kubeconfig": plane.admin,
             "upgrade_node_role": "agent", "ansible_python_interpreter": sys.executable, "upgrade_ready_timeout": 5}
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inv), str(pb),
                           "-e", json.dumps(extra)], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    m = re.search(r"%s\s+: ok=\d+\s+changed=(\d+)" % re.escape(host), out)
    return proc.returncode, out, int(m.group(1)) if m else None


def test_interrupted_upgrade_is_finished(plane):
    # kubeadm and the kubelet are on the release, the run stopped at the Ready wait: cordoned, marked
    make_node(plane, "interrupted", WANTED, cordoned=True, ready=True, annotations={MARKER: WANTED})
    rc, out, changed = upgrade_node(plane, "interrupted")
    assert rc == 0, out
    n = node(plane, "interrupted")
    assert not n["spec"].get("unschedulable"), out  # git HEAD's upgrade_node.yml: still cordoned, changed=0
    assert MARKER not in (n["metadata"].get("annotations") or {}), n
    assert "interrupted: finish" in out and changed == 2, out  # uncordon, unmark
    rc, out, changed = upgrade_node(plane, "interrupted")  # and then nothing is left to do
    assert rc == 0 and changed == 0 and "interrupted: none" in out, out


def test_operators_cordon_is_left_alone(plane):
    make_node(plane, "operator-cordon", WANTED, cordoned=True, ready=True)
    rc, out, changed = upgrade_node(plane, "operator-cordon")
    assert rc == 0 and changed == 0 and "left cordoned" in out, out
    assert node(plane, "operator-cordon")["spec"]["unschedulable"] is True


def test_notready_node_stops_the_run(plane):
    # on the release but NotReady: the run must not go on to take the next node down
    make_node(plane, "notready", WANTED, cordoned=False, ready=False)
    rc, out, _changed = upgrade_node(plane, "notready")
    assert rc != 0 and "notready: finish" in out and "Wait until the node is Ready" in out, out


def test_current_node_is_left_alone(plane):
    make_node(plane, "current", WANTED, cordoned=False, ready=True)
    rc, out, changed = upgrade_node(plane, "current")
    assert rc == 0 and changed == 0 and "current: none" in out, out
