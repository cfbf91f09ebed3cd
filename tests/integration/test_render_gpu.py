"""Render of the GPU Operator and vLLM layers: the values and manifests that matter, valid for the
inventory's Kubernetes version, and bad settings refused before anything is written."""

import os

import pytest
import yaml

from ansible_env import ROOT, ansible_playbook, gpu_mixed, lab, needs_collection, yaml_docs

pytestmark = needs_collection


def render(inventory, out, *extra):
    return ansible_playbook("-i", inventory, "playbooks/render.yml", "-e", "render_dir=%s" % out, *extra)


def test_lab_defaults():
    tmp_path = lab().out
    values = yaml_docs(tmp_path / "gpu_operator/values/gpu-operator.yaml")[0]
    assert values["mig"] == {"strategy": "none"}
    assert values["devicePlugin"]["config"] == {"name": "time-slicing-config", "default": "replicas-1"}
    assert all(values[c]["enabled"] for c in ("nfd", "driver", "toolkit", "dcgmExporter", "gfd", "migManager"))
    deploy = [d for d in yaml_docs(tmp_path / "vllm/manifests.yaml") if d["kind"] == "Deployment"][0]
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert "--model=Qwen/Qwen2.5-3B-Instruct" in container["args"]
    assert container["image"] == "vllm/vllm-openai:v0.6.6.post1"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert not any(a.startswith("--quantization") for a in container["args"])
    assert not (tmp_path / "vllm/hf-token-secret.yaml").exists()
    assert lab().validation().returncode == 0


def test_mixed_mig_time_slicing_and_vllm_on_a_mig_slice():
    proc, tmp_path = gpu_mixed().proc, gpu_mixed().out
    assert "hf_test_token_not_real" not in proc.stdout  # the token is never logged
    cm = yaml_docs(tmp_path / "gpu_operator/time-slicing-configmap.yaml")[0]
    assert sorted(cm["data"]) == ["replicas-1", "replicas-2", "replicas-4"]
    four = yaml.safe_load(cm["data"]["replicas-4"])
    assert four == {"version": "v1", "flags": {"migStrategy": "mixed"},
                    "sharing": {"timeSlicing": {"resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}}}
    assert "sharing" not in yaml.safe_load(cm["data"]["replicas-1"])
    labels = {p["metadata"]["name"]: p["metadata"]["labels"]["nvidia.com/device-plugin.config"]
              for p in (yaml_docs(tmp_path / "gpu_operator/patches/node-g1.yaml") + yaml_docs(tmp_path / "gpu_operator/patches/node-g2.yaml"))}
    assert labels == {"g1": "replicas-4", "g2": "replicas-2"}
    values = yaml_docs(tmp_path / "gpu_operator/values/gpu-operator.yaml")[0]
    assert values["mig"]["strategy"] == "mixed"
    pod = yaml_docs(tmp_path / "gpu_operator/validation-pod.yaml")[0]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["spec"]["containers"][0]["command"] == ["nvidia-smi", "-L"]

    docs = {d["kind"]: d for d in yaml_docs(tmp_path / "vllm/manifests.yaml")}
    assert set(docs) == {"PersistentVolumeClaim", "Deployment", "Service", "HorizontalPodAutoscaler"}
    assert [d["kind"] for d in yaml_docs(tmp_path / "vllm/namespace.yaml")] == ["Namespace"]
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert "--quantization=awq" in container["args"] and "--max-model-len=8192" in container["args"]
    assert "--gpu-memory-utilization=0.9" in container["args"]
    assert container["resources"]["limits"]["nvidia.com/mig-3g.40gb"] == 1
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "vllm-hf-token", "key": "token"}}} in container["env"]
    assert docs["PersistentVolumeClaim"]["spec"]["storageClassName"] == "longhorn"
    assert docs["Service"]["spec"]["ports"][0]["nodePort"] == 30800
    assert docs["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["pods"]["metric"]["name"] == "vllm:num_requests_waiting"
    # The token Secret as applied (the render file is 0600, like the controller's credential files).
    secret = yaml_docs(tmp_path / "vllm/hf-token-secret.yaml")[0]
    assert secret["stringData"]["token"] == "hf_test_token_not_real"
    assert oct(os.stat(tmp_path / "vllm/hf-token-secret.yaml").st_mode & 0o777) == "0o600"
    result = gpu_mixed().validation()
    assert result.returncode == 0, result.stdout
    assert "against Kubernetes 1.32: 0 invalid" in result.stdout


@pytest.mark.parametrize("extra,message,layer", [
    (["-e", "k8s_serving_gpu_resource=nvidia.com/gpus"],
     "k8s_serving_gpu_resource must be nvidia.com/gpu or nvidia.com/mig-<profile>", "vllm"),
    (["-e", "k8s_serving_gpu_memory_utilization=1.5"], "0 < k8s_serving_gpu_memory_utilization <= 1 (is 1.5)", "vllm"),
    (["-e", "gpu_mig_strategy=auto"], "value of gpu_operator_mig_strategy must be one of: none, single, mixed, got: auto",
     "gpu_operator"),
])
def test_bad_settings_are_refused(tmp_path, extra, message, layer):
    proc = render("tests/integration/inventories/gpu-mixed", tmp_path, *extra)
    assert proc.returncode == 2
    assert message in proc.stdout + proc.stderr
    assert not (tmp_path / layer).exists()  # the refused layer wrote nothing


def test_nodes_with_different_mig_strategies_are_refused(tmp_path):
    inv = tmp_path / "inv"
    (inv / "group_vars").mkdir(parents=True)
    with open(os.path.join(ROOT, "tests/integration/inventories/gpu-mixed/hosts.yml")) as f:
        (inv / "hosts.yml").write_text(f.read().replace("gpu_time_slicing_replicas: 2,", "gpu_time_slicing_replicas: 2, gpu_mig_strategy: single,"))
    with open(os.path.join(ROOT, "tests/integration/inventories/gpu-mixed/group_vars/all.yml")) as f:
        (inv / "group_vars/all.yml").write_text(f.read())
    proc = render(str(inv), tmp_path / "out")
    assert proc.returncode == 2
    assert "the same on every GPU node (found mixed, single" in proc.stdout


@pytest.mark.parametrize("tag,roles", [("gpu", ["gpu_operator"]), ("serving", ["vllm"]), ("cni", ["cilium"]),
                                       ("storage", ["longhorn"]), ("registry", ["harbor"]), ("gitops", ["argocd"]),
                                       ("ci", ["gitea", "jenkins", "ci_pipeline"]), ("kserve", ["kserve"]),
                                       ("ollama", ["ollama"]), ("network_operator", ["network_operator"]),
                                       ("rook", ["rook"]), ("juicefs", ["juicefs"])])
def test_one_tag_runs_one_layer(tag, roles):
    proc = ansible_playbook("-i", "inventories/lab", "site.yml", "--tags", tag, "--list-tasks")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tasks = [line.strip() for line in proc.stdout.splitlines() if line.startswith("      ")]
    real = [t for t in tasks if "Validating arguments against arg spec" not in t]
    found = set(t.split(" : ")[0] for t in real)
    # the inventory is always validated first (and the hosts sorted into the layers by the facts layer) and the report
    # (controller only) always written last; otherwise only this layer's tasks run
    assert found == {"aiinfra.cluster.preflight", "aiinfra.cluster.k8s", "aiinfra.cluster.report"} | {
        "aiinfra.cluster.%s" % r for r in roles}, found
    for role in roles:
        assert len([t for t in real if t.startswith("aiinfra.cluster.%s" % role)]) >= 3, role
