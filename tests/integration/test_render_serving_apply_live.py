"""The vllm role's main entry point against a real API server (kube-apiserver v1.20.2 on real etcd, TLS, RBAC; the
API-server tier of tests/integration/kube_api.py), the way site.yml runs cluster layers: a play on the controller with
`module_defaults` giving kubernetes.core its kubeconfig (the role has no delegate_to and no kubeconfig of its own).

The first run generates the API key once into the controller's credentials directory (0600) and stores it in the
Secret the Deployment reads VLLM_API_KEY from; a second run and a --check --diff run after it report changed=0; check
mode on an empty namespace creates neither the key file nor any object. The API server runs no controllers, so the
test marks the Deployment Available through its status subresource (what the Deployment controller would do) for the
role's wait; no server process runs and the smoke test is off (no node serves the NodePort here)."""

import base64
import json
import os
import re
import stat
import sys
import threading

import pytest
import yaml

import kube_api
from ansible_env import ansible_playbook, needs_collection

pytestmark = needs_collection

SLOT = 5
NAMESPACE = "ai-serving-live"


@pytest.fixture(scope="module")
def api():
    yield from kube_api.running_plane(SLOT, "aiinfra-kapi-serving-")


class MarkAvailable(threading.Thread):
    """Sets condition Available=True on the Deployment's status whenever it exists without it."""

    def __init__(self, plane, namespace, name):
        super().__init__(daemon=True)
        self.plane, self.path = plane, "/apis/apps/v1/namespaces/%s/deployments/%s" % (namespace, name)
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.5):
            status, body = self.plane.request("GET", self.path)
            if status != 200:
                continue
            conditions = (body.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Available" and c["status"] == "True" for c in conditions):
                continue
            self.plane.request("PATCH", self.path + "/status", {"status": {"conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "marked by the test"}]}}, content_type="application/merge-patch+json")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.join(5)


def run_role(plane, credentials, namespace=NAMESPACE, check=False):
    play = [{
        "name": "Serving layer on the controller", "hosts": "localhost", "connection": "local",
        "gather_facts": False,
        "module_defaults": {"group/kubernetes.core.k8s": {"kubeconfig": plane.kubeconfig()}},
        "tasks": [{"name": "vLLM", "ansible.builtin.include_role": {"name": "aiinfra.cluster.vllm"}}],
    }]
    playbook = os.path.join(plane.work, "serving.yml")
    with open(playbook, "w") as f:
        yaml.safe_dump(play, f, sort_keys=False)
    extra = {"ansible_python_interpreter": sys.executable, "k8s_credentials_dir": credentials,
             "k8s_serving_namespace": namespace, "vllm_rollout_timeout": 60, "vllm_smoke_test": False}
    return ansible_playbook("-i", "localhost,", playbook, "-e", json.dumps(extra),
                            *(["--check", "--diff"] if check else []))


def recap(proc):
    match = re.search(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", proc.stdout)
    assert match, proc.stdout[-3000:] + proc.stderr[-2000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups())))


@pytest.fixture(scope="module")
def converged(api):
    credentials = os.path.join(api.work, "credentials")
    with MarkAvailable(api, NAMESPACE, "vllm"):
        first = run_role(api, credentials)
    return credentials, first


def test_first_run_creates_the_key_once_and_the_server_reads_it(api, converged):
    credentials, proc = converged
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert recap(proc)["changed"] == 2  # the key file; the manifests (one task looping over the list)
    path = os.path.join(credentials, "vllm-api-key")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(credentials).st_mode) == 0o700
    with open(path) as f:
        key = f.read().strip()
    assert len(key) == 48
    status, secret = api.request("GET", "/api/v1/namespaces/%s/secrets/vllm-api-key" % NAMESPACE)
    assert status == 200, secret
    assert base64.b64decode(secret["data"]["api-key"]).decode() == key
    status, deploy = api.request("GET", "/apis/apps/v1/namespaces/%s/deployments/vllm" % NAMESPACE)
    assert status == 200, deploy
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "vllm-api-key", "key": "api-key"}}} \
        in container["env"]
    assert not any(key in a for a in container["args"])
    status, service = api.request("GET", "/api/v1/namespaces/%s/services/vllm" % NAMESPACE)
    assert status == 200 and service["spec"]["type"] == "NodePort" and service["spec"]["ports"][0]["nodePort"] == 30800
    assert key not in proc.stdout + proc.stderr


def test_second_run_changes_nothing_and_keeps_the_key(api, converged):
    credentials, _first = converged
    with open(os.path.join(credentials, "vllm-api-key")) as f:
        key = f.read()
    proc = run_role(api, credentials)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert recap(proc)["changed"] == 0, proc.stdout[-6000:]
    with open(os.path.join(credentials, "vllm-api-key")) as f:
        assert f.read() == key


def test_check_diff_after_converge_changes_nothing(api, converged):
    proc = run_role(api, converged[0], check=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert recap(proc)["changed"] == 0, proc.stdout[-6000:]


def test_check_mode_on_an_empty_namespace_writes_nothing(api, converged):
    credentials = os.path.join(api.work, "fresh-credentials")
    proc = run_role(api, credentials, namespace="ai-serving-check", check=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert recap(proc)["changed"] == 2  # what would be created is reported ...
    assert not os.path.exists(os.path.join(credentials, "vllm-api-key"))  # ... and nothing is
    status, _body = api.request("GET", "/api/v1/namespaces/ai-serving-check")
    assert status == 404
