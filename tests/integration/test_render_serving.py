"""Render of the serving family (playbooks/render.yml on the lab inventory, the layers turned on here): vLLM behind a
generated API key, KServe serving the same model on vLLM in a tenant namespace within its quota, Ollama with Open
WebUI without anonymous access. The Helm releases are rendered from the real charts (kserve-crd/kserve v0.16.0,
knative-operator 1.20.1, ollama 1.36.0, open-webui 8.22.0) with the values the roles pass; every value they pass must
be read by the chart, every object (ours and the charts') must validate against the lab's Kubernetes version and the
custom resources against the CRDs the charts ship."""

import atexit
import copy
import os
import shutil
import stat
import sys
import tempfile

import pytest
import yaml

from ansible_env import ROOT, ansible_playbook, needs_collection, only_roles, shared_render, yaml_docs

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import render_charts  # noqa: E402  pylint: disable=wrong-import-position
import validate_manifests  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = needs_collection

# The renders generate their credentials here, never in the inventory's credentials directory.
CREDENTIALS = tempfile.mkdtemp(prefix="aiinfra-serving-credentials-")
atexit.register(shutil.rmtree, CREDENTIALS, True)
LAYERS_ON = ("-e", "k8s_kserve_enabled=true", "-e", "k8s_ollama_enabled=true",
             "-e", "k8s_credentials_dir=%s" % CREDENTIALS)
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def serving():
    """The lab with the serving family on."""
    return shared_render("serving", "inventories/lab", *LAYERS_ON, roles=("vllm", "kserve", "ollama"))


def exposure():
    """vLLM without a NodePort, Open WebUI on one (opt-in)."""
    return shared_render("serving-exposure", "inventories/lab", *LAYERS_ON, "-e", "k8s_vllm_node_port=0",
                         "-e", "k8s_open_webui_node_port=30081", roles=("vllm", "ollama"))


def knative():
    """KServe in Knative mode (the Knative Operator and a KnativeServing with Kourier)."""
    return shared_render("serving-knative", "inventories/lab", *LAYERS_ON, "-e", "kserve_deployment_mode=Knative",
                         roles=("kserve",))


def mig():
    """Every server on a MIG slice: the one GPU setting changes all three."""
    return shared_render("serving-mig", "inventories/lab", *LAYERS_ON,
                         "-e", "k8s_serving_gpu_resource=nvidia.com/mig-3g.40gb", roles=("vllm", "kserve", "ollama"))


def lab_tenants():
    with open(os.path.join(ROOT, "inventories", "lab", "group_vars", "all.yml")) as f:
        inventory = yaml.safe_load(f)
    return {t["name"]: t for t in inventory["k8s_tenants"]}


def docs(render, path):
    return yaml_docs(render.out / path)


def by_kind(objects):
    found = {}
    for obj in objects:
        found.setdefault(obj["kind"], []).append(obj)
    return found


def one(objects, kind):
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, "%d %s in %s" % (len(found), kind, [o["kind"] for o in objects])
    return found[0]


def secret_file(name):
    path = os.path.join(CREDENTIALS, name)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert stat.S_IMODE(os.stat(CREDENTIALS).st_mode) == 0o700
    with open(path) as f:
        return f.read().strip()


def env_of(container):
    return {e["name"]: e for e in container.get("env") or []}


def vllm_container(render):
    deploy = one(docs(render, "vllm/manifests.yaml"), "Deployment")
    return deploy, deploy["spec"]["template"]["spec"]["containers"][0]


def isvc_parts(render):
    objects = docs(render, "kserve/inference-service.yaml")
    return one(objects, "InferenceService"), one(objects, "ServingRuntime"), objects


def crd_catalogue(render, *releases):
    crds = [("%s chart" % r, obj) for r in releases for obj in render.objects(r, "CustomResourceDefinition")]
    return validate_manifests.crd_catalogue(crds)


def k8s_minor(render):
    with open(render.out / "_render.json") as f:
        return validate_manifests.minor_version(yaml.safe_load(f)["kubernetes_version"])


# The kserve chart issues its webhook certificate with cert-manager, which the network layer installs (its chart is
# rendered in that layer's tests). Here those two objects are checked against cert-manager's own CRDs, from the
# cert-manager chart the network role pins, and every other object by the validator.
CERT_MANAGER_KINDS = {"Certificate", "Issuer"}


def cert_manager_crds(tmp_dir):
    values = os.path.join(tmp_dir, "cert-manager.yaml")
    with open(values, "w") as f:
        yaml.safe_dump({"crds": {"enabled": True}}, f)
    release = render_charts.Release("network", "cert-manager", "v1.16.2", "cert-manager", "cert-manager", values)
    rendered = render_charts.render_release(release)
    return validate_manifests.crd_catalogue([("cert-manager chart", o) for _t, o in rendered.objects
                                             if o.get("kind") == "CustomResourceDefinition"])


def test_every_release_renders_reads_every_value_and_validates(tmp_path):
    cert_manager = cert_manager_crds(str(tmp_path))
    for render in (serving(), exposure(), knative(), mig()):
        _releases, problems = render.charts()
        assert problems == [], render.name
        proc = render.validation()
        invalid = [line for line in proc.stdout.splitlines() if line.startswith("INVALID")]
        # Only the cert-manager objects of the kserve chart lack a schema in this tree ...
        assert all("kserve/helm/kserve/" in line and "no schema for cert-manager.io/v1" in line for line in invalid), \
            "\n".join(invalid)
        # ... and against cert-manager's CRDs they are valid.
        issuers = [o for o in render.objects("kserve") if o["kind"] in CERT_MANAGER_KINDS] if "kserve" in \
            render.charts()[0] else []
        assert len(invalid) == len(issuers), render.name
        for obj in issuers:
            assert validate_manifests.validate_object(obj, k8s_minor(render), crds=cert_manager) == [], obj
    releases, _problems = serving().charts()
    assert {(r.release.chart, r.release.version) for r in releases.values()} >= {
        ("kserve-crd", "v0.16.0"), ("kserve", "v0.16.0"), ("ollama", "1.36.0"), ("open-webui", "8.22.0")}
    assert ("knative-operator", "1.20.1") in {(r.release.chart, r.release.version)
                                              for r in knative().charts()[0].values()}
    assert "knative-operator" not in releases  # opt-in only
    assert {o["kind"] for o in serving().objects("kserve") if o["kind"] in CERT_MANAGER_KINDS} == CERT_MANAGER_KINDS


# --- vLLM: an API key from a generated Secret ------------------------------------------------------------------------

def test_vllm_requires_the_api_key_from_its_secret():
    render = serving()
    key = secret_file("vllm-api-key")
    assert len(key) == 48 and key.isalnum()
    deploy, container = vllm_container(render)
    assert env_of(container)["VLLM_API_KEY"] == {
        "name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "vllm-api-key", "key": "api-key"}}}
    secret = one(docs(render, "vllm/api-key-secret.yaml"), "Secret")
    assert secret["metadata"]["namespace"] == deploy["metadata"]["namespace"]
    assert secret["stringData"] == {"api-key": key}
    # The key is read from the environment, never on the command line (visible in the pod spec and /proc).
    assert not any("api-key" in a or key in a for a in container["args"])
    # Probes use /health, which vLLM leaves open; everything under /v1 needs the key.
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert key not in render.proc.stdout + render.proc.stderr


def test_a_second_render_keeps_the_key():
    before = secret_file("vllm-api-key")
    serving()
    proc = ansible_playbook("-i", "inventories/lab", "playbooks/render.yml", "-e",
                            "render_dir=%s" % os.path.join(CREDENTIALS, "again"), *LAYERS_ON, *only_roles("vllm"))
    assert proc.returncode == 0, proc.stdout
    assert secret_file("vllm-api-key") == before
    again = yaml_docs(os.path.join(CREDENTIALS, "again", "vllm", "api-key-secret.yaml"))[0]
    assert again["stringData"]["api-key"] == before


def test_vllm_node_port_only_when_set():
    service = one(docs(serving(), "vllm/manifests.yaml"), "Service")
    assert service["spec"]["type"] == "NodePort" and service["spec"]["ports"][0]["nodePort"] == 30800
    service = one(docs(exposure(), "vllm/manifests.yaml"), "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert "nodePort" not in service["spec"]["ports"][0]


# --- KServe: the same model on vLLM, with the GPU, in a tenant within its quota --------------------------------------

def model_args(args):
    return sorted(a for a in args if not a.startswith("--port="))


def test_inference_service_uses_the_vllm_runtime_with_the_gpu_resource():
    render = serving()
    isvc, runtime, _objects = isvc_parts(render)
    predictor = isvc["spec"]["predictor"]
    model = predictor["model"]
    # The InferenceService names the ServingRuntime, which runs vLLM's OpenAI server and supports its format.
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] in [f["name"] for f in runtime["spec"]["supportedModelFormats"]]
    server = runtime["spec"]["containers"][0]
    assert server["name"] == "kserve-container"  # the container KServe merges the model's settings into
    assert server["image"].startswith("vllm/vllm-openai:")
    assert server["ports"] == [{"containerPort": 8080, "protocol": "TCP"}] and "--port=8080" in server["args"]
    # KServe's strategic merge replaces the runtime's argument list with the model's: the port must be in both.
    assert "--port=8080" in model["args"]
    # The GPU, on the GPU nodes.
    assert model["resources"]["requests"]["nvidia.com/gpu"] == model["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert GPU_TOLERATION in predictor["tolerations"]
    assert predictor["runtimeClassName"] == "nvidia"
    # Raw Kubernetes objects, no Knative: KServe v0.16 calls RawDeployment "Standard".
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    assert predictor["deploymentStrategy"] == {"type": "Recreate"}
    assert predictor["minReplicas"] == predictor["maxReplicas"] == 1
    # Behind its own generated key.
    key = secret_file("kserve-api-key")
    assert env_of(model)["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "llm-api-key", "key": "api-key"}
    assert one(docs(render, "kserve/api-key-secret.yaml"), "Secret")["stringData"] == {"api-key": key}
    assert key != secret_file("vllm-api-key")


def test_kserve_and_vllm_serve_the_same_model_with_the_same_settings():
    for render in (serving(), mig()):
        isvc, runtime, objects = isvc_parts(render)
        deploy, container = vllm_container(render)
        model = isvc["spec"]["predictor"]["model"]
        assert model_args(model["args"]) == model_args(container["args"]), render.name
        assert runtime["spec"]["containers"][0]["image"] == container["image"]
        gpu = {k: v for k, v in container["resources"]["limits"].items() if k.startswith("nvidia.com/")}
        assert {k: v for k, v in model["resources"]["limits"].items() if k.startswith("nvidia.com/")} == gpu
        assert isvc["spec"]["predictor"]["runtimeClassName"] == deploy["spec"]["template"]["spec"]["runtimeClassName"]
        caches = [one(objects, "PersistentVolumeClaim")["spec"],
                  one(docs(render, "vllm/manifests.yaml"), "PersistentVolumeClaim")["spec"]]
        assert caches[0]["storageClassName"] == caches[1]["storageClassName"] == "longhorn"
        assert caches[0]["resources"] == caches[1]["resources"]
    _isvc, _runtime, _rest = isvc_parts(mig())
    assert "nvidia.com/mig-3g.40gb" in _isvc["spec"]["predictor"]["model"]["resources"]["limits"]
    assert "nvidia.com/gpu" not in _isvc["spec"]["predictor"]["model"]["resources"]["limits"]


def test_inference_service_lives_in_a_tenant_within_its_quota():
    isvc, _runtime, objects = isvc_parts(serving())
    tenant = lab_tenants()[isvc["metadata"]["namespace"]]
    quota = tenant["quota"]
    assert isvc["metadata"]["namespace"] == "team-a" and quota["gpu"] >= 1
    resources = isvc["spec"]["predictor"]["model"]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] <= quota["gpu"]
    assert int(resources["requests"]["cpu"]) <= int(quota["cpu"])
    assert int(resources["limits"]["cpu"]) <= int(quota["cpu_limit"])
    assert all(o["metadata"]["namespace"] == "team-a" for o in objects)
    # The tenant's namespace belongs to the security layer: this role does not create it.
    assert not (serving().out / "kserve" / "namespace.yaml").exists()
    # Its default-deny would keep the model hub out: the predictor may fetch on 443, nothing else opens.
    policy = one(objects, "NetworkPolicy")
    selector = {"serving.kserve.io/inferenceservice": isvc["metadata"]["name"]}
    assert policy["spec"]["podSelector"] == {"matchLabels": selector}
    assert policy["spec"]["egress"] == [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                                         "ports": [{"protocol": "TCP", "port": 443}]}]
    assert policy["spec"]["ingress"] == []


def test_inference_service_and_runtime_validate_against_kserves_crds_and_a_wrong_one_does_not():
    render = serving()
    crds = crd_catalogue(render, "kserve-crd")
    assert ("serving.kserve.io/v1beta1", "InferenceService") in crds
    isvc, runtime, _rest = isvc_parts(render)
    version = k8s_minor(render)
    assert validate_manifests.validate_object(isvc, version, crds=crds) == []
    assert validate_manifests.validate_object(runtime, version, crds=crds) == []
    bad = copy.deepcopy(isvc)
    bad["spec"]["predictor"]["gpuPlease"] = True
    bad["spec"]["predictor"]["minReplicas"] = "one"
    assert len(validate_manifests.validate_object(bad, version, crds=crds)) == 2


def test_kserve_controller_runs_raw_deployments_without_an_ingress():
    render = serving()
    config = render.one("kserve", "ConfigMap", "inferenceservice-config")["data"]
    assert yaml.safe_load(config["deploy"]) == {"defaultDeploymentMode": "Standard"}
    ingress = yaml.safe_load(config["ingress"])
    assert ingress["disableIngressCreation"] is True and ingress["ingressClassName"] == "nginx"
    assert render.release("kserve").release.namespace == "kserve"
    assert {c["metadata"]["name"] for c in render.objects("kserve-crd", "CustomResourceDefinition")} >= {
        "inferenceservices.serving.kserve.io", "servingruntimes.serving.kserve.io"}
    assert render.one("kserve", "Deployment", "kserve-controller-manager")


def test_knative_mode_is_opt_in_and_complete():
    render = knative()
    config = render.one("kserve", "ConfigMap", "inferenceservice-config")["data"]
    assert yaml.safe_load(config["deploy"]) == {"defaultDeploymentMode": "Knative"}
    kourier = "kourier-internal.knative-serving.svc.cluster.local"
    assert yaml.safe_load(config["ingress"])["localGatewayService"] == kourier
    serving_cr = docs(render, "kserve/knative-serving.yaml")[0]
    crds = crd_catalogue(render, "knative-operator")
    assert validate_manifests.validate_object(serving_cr, k8s_minor(render), crds=crds) == []
    assert serving_cr["spec"]["ingress"]["kourier"]["enabled"] is True
    # The predictor's runtime class, GPU toleration and cache volume need these Knative features.
    assert {k for k, v in serving_cr["spec"]["config"]["features"].items() if v == "enabled"} >= {
        "kubernetes.podspec-runtimeclassname", "kubernetes.podspec-tolerations",
        "kubernetes.podspec-persistent-volume-claim"}
    isvc, _runtime, _rest = isvc_parts(render)
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative"
    assert "deploymentStrategy" not in isvc["spec"]["predictor"]


@pytest.mark.parametrize("extra,message", [
    (["-e", "kserve_cpu_request=64"], "cpu 64 > quota 8"),
    (["-e", "k8s_serving_cache_size=500Gi"], "storage 500Gi > quota 200Gi"),
    (["-e", "kserve_namespace=team-b"], "gpu 1 > quota 0"),
    (["-e", "kserve_deployment_mode=Serverless"],
     "kserve_deployment_mode must be one of: Standard, Knative, got: Serverless"),
])
def test_kserve_over_quota_or_wrong_settings_are_refused_before_anything_is_written(tmp_path, extra, message):
    proc = ansible_playbook("-i", "inventories/lab", "playbooks/render.yml", "-e", "render_dir=%s" % tmp_path,
                            *LAYERS_ON, *only_roles("kserve"), *extra)
    assert proc.returncode != 0
    assert message in proc.stdout, proc.stdout[-3000:]
    assert not (tmp_path / "kserve").exists()


# --- Ollama + Open WebUI ---------------------------------------------------------------------------------------------

def test_open_webui_has_no_anonymous_access():
    render = serving()
    workload = render.one("open-webui", "StatefulSet", "open-webui")
    env = env_of(workload["spec"]["template"]["spec"]["containers"][0])
    assert env["WEBUI_AUTH"]["value"] == "True"  # a login for everything
    assert env["ENABLE_SIGNUP"]["value"] == "False"  # no self sign-up, so no first visitor becomes admin
    assert env["ENABLE_INITIAL_ADMIN_SIGNUP"]["value"] == "False"
    assert env["DEFAULT_USER_ROLE"]["value"] == "pending"
    assert "WEBUI_AUTH_TRUSTED_EMAIL_HEADER" not in env  # no header anyone could forge
    # The admin exists from the first start, with the generated password; sessions signed with a generated key.
    admin_secret = one(docs(render, "ollama/open-webui-admin-secret.yaml"), "Secret")
    name = admin_secret["metadata"]["name"]
    assert env["WEBUI_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": name, "key": "password"}
    assert env["WEBUI_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": name, "key": "secret-key"}
    assert admin_secret["stringData"]["password"] == secret_file("open-webui-admin-password")
    assert admin_secret["stringData"]["secret-key"] == secret_file("open-webui-secret-key")
    assert "@" in env["WEBUI_ADMIN_EMAIL"]["value"]
    # No second, keyless API next to it: no Pipelines, no OpenAI endpoint with the chart's placeholder key.
    assert env["ENABLE_OPENAI_API"]["value"] == "False" and "OPENAI_API_KEY" not in env
    kinds = {(o["kind"], o["metadata"]["name"]) for _t, o in render.release("open-webui").objects}
    assert not any("pipelines" in n or n == "open-webui-ollama" for _k, n in kinds)
    # Not on the nodes unless asked for.
    assert render.one("open-webui", "Service", "open-webui")["spec"]["type"] == "ClusterIP"
    for release in ("ollama", "open-webui"):
        assert all(s["spec"]["type"] == "ClusterIP" for s in render.objects(release, "Service")), release
    for value in ("vllm-api-key", "open-webui-admin-password", "open-webui-secret-key", "kserve-api-key"):
        assert secret_file(value) not in render.proc.stdout + render.proc.stderr


def test_open_webui_node_port_is_opt_in_and_still_needs_a_login():
    render = exposure()
    service = render.one("open-webui", "Service", "open-webui")
    assert service["spec"]["type"] == "NodePort" and service["spec"]["ports"][0]["nodePort"] == 30081
    env = env_of(render.one("open-webui", "StatefulSet", "open-webui")["spec"]["template"]["spec"]["containers"][0])
    assert env["WEBUI_AUTH"]["value"] == "True" and env["ENABLE_SIGNUP"]["value"] == "False"
    assert render.one("ollama", "Service", "ollama")["spec"]["type"] == "ClusterIP"


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def test_ollama_api_is_reachable_only_from_open_webui_and_the_pull_job():
    render = serving()
    policy = one(docs(render, "ollama/network-policy.yaml"), "NetworkPolicy")
    ollama_pod = render.one("ollama", "Deployment", "ollama")["spec"]["template"]["metadata"]["labels"]
    webui_pod = render.one("open-webui", "StatefulSet", "open-webui")["spec"]["template"]["metadata"]["labels"]
    job_pod = one(docs(render, "ollama/model-pull-job.yaml"), "Job")["spec"]["template"]["metadata"]["labels"]
    assert labels_match(policy["spec"]["podSelector"]["matchLabels"], ollama_pod)
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    [rule] = policy["spec"]["ingress"]
    peers = [p["podSelector"]["matchLabels"] for p in rule["from"]]
    assert all(set(p) == {"podSelector"} for p in rule["from"])  # pods of this namespace only
    assert any(labels_match(p, webui_pod) for p in peers) and any(labels_match(p, job_pod) for p in peers)
    assert not any(labels_match(p, ollama_pod) for p in peers)
    assert rule["ports"] == [{"protocol": "TCP", "port": 11434}]
    # Open WebUI talks to exactly that Service.
    env = env_of(render.one("open-webui", "StatefulSet", "open-webui")["spec"]["template"]["spec"]["containers"][0])
    service = render.one("ollama", "Service", "ollama")
    assert env["OLLAMA_BASE_URLS"]["value"] == "http://ollama.%s.svc.cluster.local:%d" % (
        service["metadata"]["namespace"], service["spec"]["ports"][0]["port"])


def test_models_are_pulled_once_into_a_longhorn_volume():
    render = serving()
    deploy = render.one("ollama", "Deployment", "ollama")
    pod = deploy["spec"]["template"]["spec"]
    claim = [v for v in pod["volumes"] if v["name"] == "ollama-data"][0]["persistentVolumeClaim"]["claimName"]
    pvc = render.one("ollama", "PersistentVolumeClaim", claim)
    assert pvc["spec"]["storageClassName"] == "longhorn"
    container = pod["containers"][0]
    assert {"name": "ollama-data", "mountPath": "/root/.ollama"} in container["volumeMounts"]
    # Not at every start (the chart's postStart would need the registry on every restart) but by one Job.
    assert "lifecycle" not in container
    job = one(docs(render, "ollama/model-pull-job.yaml"), "Job")
    pull = job["spec"]["template"]["spec"]["containers"][0]
    assert pull["args"] == ["qwen2.5:3b"]
    assert env_of(pull)["OLLAMA_HOST"]["value"] == "http://ollama.ollama.svc.cluster.local:11434"
    assert pull["image"] == container["image"] == "ollama/ollama:0.13.3"
    assert job["metadata"]["name"].startswith("ollama-pull-")
    # Ollama has the serving GPU, on the GPU nodes.
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1 and pod["runtimeClassName"] == "nvidia"
    assert GPU_TOLERATION in pod["tolerations"]


def test_ollama_on_a_mig_slice_still_tolerates_the_gpu_taint():
    pod = mig().one("ollama", "Deployment", "ollama")["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/mig-3g.40gb"] == 1
    assert GPU_TOLERATION in pod["tolerations"]


def test_a_changed_model_list_is_a_new_pull_job(tmp_path):
    proc = ansible_playbook("-i", "inventories/lab", "playbooks/render.yml", "-e", "render_dir=%s" % tmp_path,
                            *LAYERS_ON, *only_roles("ollama"), "-e", '{"ollama_models": ["qwen2.5:7b"]}')
    assert proc.returncode == 0, proc.stdout
    other = yaml_docs(tmp_path / "ollama" / "model-pull-job.yaml")[0]
    lab_job = one(docs(serving(), "ollama/model-pull-job.yaml"), "Job")
    assert other["metadata"]["name"] != lab_job["metadata"]["name"]
    assert other["spec"]["template"]["spec"]["containers"][0]["args"] == ["qwen2.5:7b"]
