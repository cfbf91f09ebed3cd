"""The GPU layer in check mode (issue #13 item 8): the ClusterPolicy wait and the validation handler report what they
would do instead of polling for minutes and then failing. Runs the role's own task files with ansible-playbook
against an in-memory Kubernetes API (fake_kube_api.py); the same files run for real against it too, so the waits
still wait and the validation still validates outside check mode.
"""

import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from .fake_kube_api import FakeKubeApi

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
POLICY = "/apis/nvidia.com/v1/clusterpolicies/cluster-policy"
POD = "/api/v1/namespaces/gpu-operator/pods/aiinfra-gpu-validation"

pytestmark = pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, ".collections")), reason="run scripts/setup.sh first")


def _run(tmp_path, api, *args, timeout=30):
    play = [{"name": "GPU layer waits", "hosts": "localhost", "gather_facts": False,
             "vars": {"ansible_python_interpreter": sys.executable, "ansible_connection": "local",
                      "gpu_operator_rollout_timeout": timeout, "gpu_operator_validation_timeout": timeout},
             "module_defaults": {"group/kubernetes.core.k8s": {"kubeconfig": str(api.kubeconfig(tmp_path / "kubeconfig"))}},
             "tasks": [{"name": "ClusterPolicy wait", "ansible.builtin.include_role": {
                 "name": "aiinfra.cluster.gpu_operator", "tasks_from": "wait_policy"}},
                 {"name": "Validation", "ansible.builtin.include_role": {
                     "name": "aiinfra.cluster.gpu_operator", "tasks_from": "validate"}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), HOME=str(tmp_path))
    started = time.monotonic()
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                          str(tmp_path / "play.yml"), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=False)
    return run, time.monotonic() - started


def test_check_mode_reports_instead_of_waiting(tmp_path):
    """Nothing installed yet: no ClusterPolicy, no pod. Before the fix this polled 3 x 10 s and failed."""
    with FakeKubeApi() as api:
        run, seconds = _run(tmp_path, api, "--check")
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-2000:]
    assert seconds < 25, seconds  # no 10-second retry happened
    assert "Check mode: would wait up to 30 s for ClusterPolicy cluster-policy to be ready; it is absent now." in out
    assert ("Check mode: would wait up to 30 s for pod gpu-operator/aiinfra-gpu-validation (runtime class nvidia, "
            "nvidia.com/gpu 1") in out
    assert api.writes == []  # check mode wrote nothing
    assert ("GET", POLICY) in [(m, p) for m, p, _q in api.requests]  # the policy was read, once
    assert "changed=1" in out  # the pod it would start is reported as a change


def test_check_mode_reports_the_current_state(tmp_path):
    with FakeKubeApi() as api:
        api.objects[POLICY] = {"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy",
                               "metadata": {"name": "cluster-policy"}, "status": {"state": "notReady"}}
        run, _seconds = _run(tmp_path, api, "--check")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "ClusterPolicy cluster-policy to be ready; it is notReady now." in run.stdout


def test_outside_check_mode_the_validation_runs_the_pod(tmp_path):
    """The same files for real: the policy is ready, the pod is created, seen Succeeded, its log read, then deleted."""
    def succeed(path, obj):
        obj["status"] = {"phase": "Succeeded"}
        obj["spec"]["nodeName"] = "g1"
        api.logs[path] = "GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-0f1e2d3c-0000-1111-2222-333344445555)\n"

    with FakeKubeApi() as api:
        api.objects[POLICY] = {"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy",
                               "metadata": {"name": "cluster-policy"}, "status": {"state": "ready"}}
        api.on_create = succeed
        run, _seconds = _run(tmp_path, api)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert ("POST", "/api/v1/namespaces/gpu-operator/pods") in api.writes
    assert ("DELETE", POD) in api.writes
    assert POD not in api.objects
    assert "GPU 0: NVIDIA A100-SXM4-80GB" in run.stdout


def test_outside_check_mode_a_policy_that_never_gets_ready_fails(tmp_path):
    with FakeKubeApi() as api:
        api.objects[POLICY] = {"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy",
                               "metadata": {"name": "cluster-policy"}, "status": {"state": "notReady"}}
        run, seconds = _run(tmp_path, api, timeout=10)
    assert run.returncode != 0
    assert "Read the ClusterPolicy until it is ready" in run.stdout and "FAILED - RETRYING" in run.stdout
    assert seconds >= 10  # it really waited (one retry after 10 s)
    assert json.dumps("POST") not in str(api.writes)  # it failed before the validation pod
