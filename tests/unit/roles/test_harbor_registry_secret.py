"""The harbor role's registry Secret (issue #16): when the robot's secret file is missing or empty the role fails
with a message naming the file and how to recover, and writes nothing, instead of skipping the Secret as it used to
(``when: harbor_robot_secret | length > 0``) and leaving Kaniko and the tenant without a pull credential. Runs the
role's own task file (tasks_from: registry_secret) with ansible-playbook against the in-memory Kubernetes API.
"""

import base64
import json
import os
import subprocess
import sys

import pytest
import yaml

from . import fake_kube_api
from .fake_kube_api import FakeKubeApi

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ADDRESS = "10.0.0.11:30002"
SECRETS = "/api/v1/namespaces/jenkins/secrets"

pytestmark = pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, ".collections")), reason="run scripts/setup.sh first")

if ("secrets", "Secret", True) not in fake_kube_api.CORE:
    fake_kube_api.CORE.append(("secrets", "Secret", True))


def _run(tmp_path, api, robot_secret=None, robot_changed=False, check=False):
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700, exist_ok=True)
    if robot_secret is not None:
        (credentials / "harbor-robot-platform-ci").write_text(robot_secret)
    kubeconfig = str(api.kubeconfig(tmp_path / "kubeconfig"))
    play = [{"name": "Harbor registry Secret", "hosts": "localhost", "gather_facts": False,
             "vars": {"ansible_python_interpreter": sys.executable, "ansible_connection": "local",
                      "k8s_registry_enabled": True, "k8s_registry_host": ADDRESS.split(":", maxsplit=1)[0],
                      "k8s_registry_node_port": int(ADDRESS.split(":")[1]), "k8s_credentials_dir": str(credentials),
                      "k8s_kubeconfig": kubeconfig, "harbor_registry_secret_namespaces": ["jenkins"],
                      "harbor_robot_results": {"changed": robot_changed}},
             "module_defaults": {"group/kubernetes.core.k8s": {"kubeconfig": kubeconfig}},
             "tasks": [{"name": "Registry Secret", "ansible.builtin.include_role": {
                 "name": "aiinfra.cluster.harbor", "tasks_from": "registry_secret"}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), HOME=str(tmp_path))
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           str(tmp_path / "play.yml")] + (["--check"] if check else []),
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("content", [None, "", "  \n"], ids=["missing", "empty", "blank"])
def test_missing_robot_secret_fails_clearly_and_writes_nothing(tmp_path, content):
    with FakeKubeApi() as api:
        run = _run(tmp_path, api, robot_secret=content)
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert "The registry Secret harbor-registry for jenkins needs the secret of robot robot$platform+ci" in out, out[-3000:]
    assert str(tmp_path / "credentials" / "harbor-robot-platform-ci") + " is missing or empty" in out
    assert api.writes == []
    assert "Traceback" not in out


def test_robot_secret_becomes_the_registry_secret(tmp_path):
    with FakeKubeApi() as api:
        run = _run(tmp_path, api, robot_secret="s3cr3t\n")
        stored = api.objects.get(SECRETS + "/harbor-registry")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert ("POST", SECRETS) in api.writes
    assert stored["type"] == "kubernetes.io/dockerconfigjson"
    config = json.loads(base64.b64decode(stored["data"][".dockerconfigjson"]))
    assert config == {"auths": {ADDRESS: {"username": "robot$platform+ci", "password": "s3cr3t",
                                          "auth": base64.b64encode(b"robot$platform+ci:s3cr3t").decode()}}}
    assert "s3cr3t" not in run.stdout  # never logged


def test_check_mode_with_a_robot_about_to_be_created_passes_and_writes_nothing(tmp_path):
    """In check mode harbor_robot only reports that it would create the robot: no file yet, and that is fine."""
    with FakeKubeApi() as api:
        run = _run(tmp_path, api, robot_secret=None, robot_changed=True, check=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert api.writes == []


def test_check_mode_without_a_robot_change_still_fails(tmp_path):
    with FakeKubeApi() as api:
        run = _run(tmp_path, api, robot_secret=None, robot_changed=False, check=True)
    assert run.returncode != 0 and "is missing or empty" in run.stdout
    assert api.writes == []
