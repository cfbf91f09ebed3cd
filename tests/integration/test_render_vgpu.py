"""vGPU guests (issue #19 item 7): the GPU Operator with the licensed vGPU guest driver and its NVIDIA License System
configuration. The client token comes from ansible-vault; it reaches the licensing ConfigMap on the API server and
nowhere else (not the log, not the Helm values, not the render directory, where a placeholder takes its place).

- Rendered from the real gpu-operator v24.9.2 chart: the ClusterPolicy's driver names the licensing ConfigMap the role
  renders, and the driver image; every value the role sets is one the chart reads; all objects validate.
- Applied (the role's own task files) to an in-memory Kubernetes API through module_defaults, as the controller play
  runs it: the ConfigMap holds the decrypted token; check mode writes nothing; the output never shows the token.
- Off by default; refused before anything is written when the driver image or the token is missing.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_env import BIN, ENV, ROOT, ansible_playbook, needs_collection, only_roles, render_charts, \
    validate_manifests, yaml_docs
from tests.unit.roles.fake_kube_api import FakeKubeApi

pytestmark = needs_collection

TOKEN = "eyJhbGciOiJOTFMtdGVzdCJ9.vgpu-client-token-not-real.c2lnbmF0dXJl"
VAULT_PASSWORD = "render-test-vault-password"
GPU_MIXED = os.path.join(ROOT, "tests", "integration", "inventories", "gpu-mixed")
VGPU = {"gpu_operator_vgpu_enabled": True, "gpu_operator_vgpu_driver_repository": "registry.lab.example/nvaie",
        "gpu_operator_vgpu_driver_image": "vgpu-guest-driver", "gpu_operator_vgpu_driver_version": "550.127.05",
        "gpu_operator_vgpu_driver_image_pull_secrets": ["ngc-secret"], "gpu_operator_vgpu_feature_type": 4}
CONFIGMAP = "/api/v1/namespaces/gpu-operator/configmaps/licensing-config"


def vault_encrypt(tmp, value):
    """A vault-encrypted YAML scalar (as `ansible-vault encrypt_string` writes it) and the password file."""
    password = tmp / "vault-password"
    password.write_text(VAULT_PASSWORD + "\n")
    proc = subprocess.run([os.path.join(BIN, "ansible-vault"), "encrypt_string", "--vault-password-file",
                           str(password), value, "--name", "gpu_operator_vgpu_license_token"],
                          env=ENV, capture_output=True, text=True, check=True)
    return "---\n" + proc.stdout, password


def vgpu_inventory(tmp, settings, token=TOKEN):
    """gpu-mixed (two GPU workers) with the vGPU settings in group_vars/all/main.yml and the token, vault-encrypted, in
    group_vars/all/vault.yml; (inventory dir, vault password file)."""
    inv = tmp / "inv"
    (inv / "group_vars" / "all").mkdir(parents=True)
    with open(os.path.join(GPU_MIXED, "hosts.yml")) as f:
        (inv / "hosts.yml").write_text(f.read())
    with open(os.path.join(GPU_MIXED, "group_vars", "all.yml")) as f:
        base = yaml.safe_load(f)
    base.update(settings)
    (inv / "group_vars" / "all" / "main.yml").write_text(yaml.safe_dump(base))
    password = None
    if token is not None:
        vaulted, password = vault_encrypt(tmp, token)
        (inv / "group_vars" / "all" / "vault.yml").write_text(vaulted)
    return inv, password


def render(tmp, settings, token=TOKEN, *extra):
    inv, password = vgpu_inventory(tmp, settings, token)
    out = tmp / "render"
    args = ["-i", inv, "playbooks/render.yml", "-e", "render_dir=%s" % out, "-v", *only_roles("gpu_operator"), *extra]
    if password:
        args += ["--vault-password-file", password]
    return ansible_playbook(*args), out, inv


@pytest.fixture(scope="module")
def vgpu(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vgpu")
    proc, out, inv = render(tmp, VGPU)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    results, problems = render_charts.render_tree(str(out))
    assert problems == [], problems  # the chart read every value the role set
    return proc, out, inv, {r.release.name: r for r in results}


def cluster_policy(release):
    found = [o for _t, o in release.objects if o.get("kind") == "ClusterPolicy"]
    assert len(found) == 1, found
    return found[0]


def test_the_token_is_vaulted_in_the_inventory(vgpu):
    _proc, _out, inv, _releases = vgpu
    text = (inv / "group_vars" / "all" / "vault.yml").read_text()
    assert "$ANSIBLE_VAULT;1.1;AES256" in text and TOKEN not in text


def test_licensing_configmap_is_rendered_with_a_placeholder(vgpu):
    _proc, out, _inv, _releases = vgpu
    cm = yaml_docs(out / "gpu_operator" / "vgpu-licensing-configmap.yaml")
    assert len(cm) == 1
    cm = cm[0]
    assert (cm["kind"], cm["metadata"]["name"], cm["metadata"]["namespace"]) == ("ConfigMap", "licensing-config",
                                                                                 "gpu-operator")
    assert sorted(cm["data"]) == ["client_configuration_token.tok", "gridd.conf"]
    assert "FeatureType=4" in cm["data"]["gridd.conf"].splitlines()
    assert cm["data"]["client_configuration_token.tok"] == "rendered-placeholder"


def test_chart_driver_uses_the_licensing_configmap_and_the_guest_driver(vgpu):
    _proc, out, _inv, releases = vgpu
    cm_name = yaml_docs(out / "gpu_operator" / "vgpu-licensing-configmap.yaml")[0]["metadata"]["name"]
    driver = cluster_policy(releases["gpu-operator"])["spec"]["driver"]
    assert driver["licensingConfig"] == {"configMapName": cm_name, "nlsEnabled": True}
    assert (driver["repository"], driver["image"], driver["version"]) == (
        "registry.lab.example/nvaie", "vgpu-guest-driver", "550.127.05")
    assert driver["imagePullSecrets"] == ["ngc-secret"]
    assert driver["enabled"] is True
    values = yaml_docs(out / "gpu_operator" / "values" / "gpu-operator.yaml")[0]
    assert values["driver"]["licensingConfig"]["configMapName"] == cm_name
    # the ConfigMap is applied before the chart, in the chart's namespace
    namespace = yaml_docs(out / "gpu_operator" / "namespace.yaml")[0]["metadata"]["name"]
    assert namespace == releases["gpu-operator"].release.namespace == "gpu-operator"


def test_every_object_validates(vgpu):
    _proc, out, _inv, _releases = vgpu
    result = validate_manifests(out)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "against Kubernetes 1.32: 0 invalid" in result.stdout


def test_the_token_never_appears_in_the_log_or_the_render(vgpu):
    proc, out, _inv, _releases = vgpu
    assert TOKEN not in proc.stdout + proc.stderr
    files = [os.path.join(base, name) for base, _dirs, names in os.walk(out) for name in names]
    assert len(files) > 20  # the chart's objects are there too
    for path in files:
        with open(path, errors="replace") as f:
            assert TOKEN not in f.read(), path


def test_off_by_default(tmp_path):
    proc, out, _inv = render(tmp_path, {}, None)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert not (out / "gpu_operator" / "vgpu-licensing-configmap.yaml").exists()
    values = yaml_docs(out / "gpu_operator" / "values" / "gpu-operator.yaml")[0]
    assert set(values["driver"]) == {"enabled"}  # the chart's own driver image, no licensing
    releases, problems = render_charts.render_tree(str(out))
    assert problems == []
    driver = cluster_policy(releases[0])["spec"]["driver"]
    assert driver["licensingConfig"]["configMapName"] == ""
    assert (driver["repository"], driver["image"]) == ("nvcr.io/nvidia", "driver")


@pytest.mark.parametrize("settings,token,message", [
    (VGPU, None, "configuration token in gpu_operator_vgpu_license_token (empty"),
    ({**VGPU, "gpu_operator_vgpu_driver_repository": ""}, TOKEN, "gpu_operator_vgpu_driver_repository (empty)"),
    ({**VGPU, "gpu_operator_vgpu_driver_version": ""}, TOKEN, "gpu_operator_vgpu_driver_version (empty)"),
    ({**VGPU, "gpu_operator_driver_enabled": False}, TOKEN, "needs gpu_operator_driver_enabled true (is False"),
    ({**VGPU, "gpu_operator_vgpu_feature_type": 3}, TOKEN,
     "value of gpu_operator_vgpu_feature_type must be one of: 0, 1, 2, 4, got: 3"),
])
def test_incomplete_vgpu_settings_are_refused_before_anything_is_written(tmp_path, settings, token, message):
    proc, out, _inv = render(tmp_path, settings, token)
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert message in proc.stdout + proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    assert not (out / "gpu_operator").exists()


# --- the apply path: the role's own task files against an API server ---

def apply(tmp_path, api, *args):
    """values.yml then manifests.yml (what tasks/main.yml runs before the chart) on the controller, kubeconfig set once
    through module_defaults as the cluster plays do; -v so a leaked token would show."""
    inv, password = vgpu_inventory(tmp_path, VGPU)
    kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
    # on the first control-plane host with connection local, as the cluster plays run (its inventory_dir is set)
    play = [{"name": "GPU layer objects", "hosts": "cp1", "gather_facts": False,
             "vars": {"ansible_python_interpreter": sys.executable, "ansible_connection": "local"},
             "vars_files": [str(inv / "group_vars" / "all" / "vault.yml")],
             "module_defaults": {"group/kubernetes.core.k8s": {"kubeconfig": str(kubeconfig)}},
             "tasks": [{"name": "Values", "ansible.builtin.include_role": {
                 "name": "aiinfra.cluster.gpu_operator", "tasks_from": "values"}},
                 {"name": "Objects before the chart", "ansible.builtin.include_role": {
                     "name": "aiinfra.cluster.gpu_operator", "tasks_from": "manifests"}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    return ansible_playbook("-i", inv, "--vault-password-file", password, "-v", tmp_path / "play.yml", *args)


def test_apply_puts_the_decrypted_token_in_the_configmap_and_nowhere_else(tmp_path):
    with FakeKubeApi() as api:
        run = apply(tmp_path, api)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    cm = api.objects[CONFIGMAP]
    assert cm["data"]["client_configuration_token.tok"] == TOKEN
    assert "FeatureType=4" in cm["data"]["gridd.conf"]
    assert ("POST", "/api/v1/namespaces") in api.writes
    assert ("POST", "/api/v1/namespaces/gpu-operator/configmaps") in api.writes
    assert "/api/v1/namespaces/gpu-operator/configmaps/time-slicing-config" in api.objects
    assert TOKEN not in out
    # the other objects are still reported; only the licensing item is censored
    assert "time-slicing-configmap.yaml.j2" in out
    assert "the output has been hidden due to the fact that 'no_log: true'" in out


def test_apply_in_check_mode_writes_nothing_and_shows_no_token(tmp_path):
    with FakeKubeApi() as api:
        run = apply(tmp_path, api, "--check", "--diff")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert api.writes == []
    assert CONFIGMAP not in api.objects
    assert TOKEN not in out
    assert json.dumps(TOKEN) not in out
