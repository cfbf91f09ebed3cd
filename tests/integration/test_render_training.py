"""Render of the training and mirrors layers (playbooks/render.yml, lab inventory, just these two roles): the
operators exactly as pinned, the example PyTorchJob and MPIJob valid against the operators' own CRDs and keeping the
promise (GPUs requested, the GPU taint tolerated, in a tenant namespace within its quota), and the mirrors'
configuration reaching pip and conda in the tenants and on the nodes. Built-in kinds are validated with
kubernetes-validate for the inventory's Kubernetes version, strictly."""

import configparser
import copy
import hashlib
import json
import os
import re
import sys

import jsonschema
import kubernetes_validate
import yaml

from ansible_env import ROOT, ansible_playbook, needs_collection, only_roles, shared_render, yaml_docs

pytestmark = needs_collection

TRAINING_FILES = os.path.join(ROOT, "roles", "training", "files")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import render_charts  # noqa: E402  pylint: disable=wrong-import-position

CHARTS_README = os.path.join(render_charts.charts_dir(), "README.md")
BUNDLES = {"training-operator-v1.9.3.manifest": "v1.9.3", "mpi-operator-v0.7.0.manifest": "v0.7.0"}
NODE_HOST = "192.168.56.21"


def lab_inventory():
    with open(os.path.join(ROOT, "inventories", "lab", "group_vars", "all.yml")) as f:
        return yaml.safe_load(f)


def render():
    return shared_render("training-mirrors", "inventories/lab", "-e",
                         json.dumps({"mirrors_nodes_enabled": True, "mirrors_node_host": NODE_HOST}),
                         roles=("training", "mirrors"))


def k8s_minor():
    return re.match(r"^v?(1\.\d+)", lab_inventory()["k8s_version"]).group(1)


def crd_schema(bundle, kind, version):
    """openAPIV3Schema of `kind` at `version` from a release manifest shipped in roles/training/files/."""
    with open(os.path.join(TRAINING_FILES, bundle)) as f:
        for doc in yaml.safe_load_all(f):
            if doc and doc["kind"] == "CustomResourceDefinition" and doc["spec"]["names"]["kind"] == kind:
                for v in doc["spec"]["versions"]:
                    if v["name"] == version:
                        assert v["served"], "%s %s is not served by %s" % (kind, version, bundle)
                        return v["schema"]["openAPIV3Schema"]
    raise AssertionError("no CRD for %s %s in %s" % (kind, version, bundle))


def closed(schema):
    """The CRD schema with unknown fields refused (as the API server's strict field validation), except where the
    schema says x-kubernetes-preserve-unknown-fields."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node \
                    and not node.get("x-kubernetes-preserve-unknown-fields"):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(schema)
    return schema


def validate_cr(obj, bundle, kind, version):
    errors = sorted(jsonschema.Draft7Validator(closed(crd_schema(bundle, kind, version))).iter_errors(obj),
                    key=lambda e: list(e.path))
    return ["%s: %s" % ("/".join(map(str, e.path)), e.message) for e in errors]


def names(docs):
    return [(d["kind"], d["metadata"]["name"]) for d in docs]


def pod_specs(job, replica_key):
    return {role: spec["template"]["spec"] for role, spec in job["spec"][replica_key].items()}


# --- the shipped release manifests ---

def test_shipped_manifests_match_the_pinned_sha256():
    with open(CHARTS_README) as f:
        readme = f.read()
    with open(os.path.join(ROOT, "roles", "training", "README.md")) as f:
        role_readme = f.read()
    for name, version in BUNDLES.items():
        upstream = name.replace(".manifest", ".yaml")  # the release's own file name
        row = [line for line in readme.splitlines() if line.startswith("| %s |" % upstream)]
        assert len(row) == 1, "no row for %s in shared/charts/README.md" % name
        pinned = re.search(r"`([0-9a-f]{64})`", row[0]).group(1)
        assert "| %s |" % version in row[0]
        with open(os.path.join(TRAINING_FILES, name), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == pinned, "%s differs from the pinned release" % name
        assert pinned in role_readme, "roles/training/README.md does not record %s's sha256" % name


def test_defaults_pin_the_versions_and_point_at_the_shipped_files():
    with open(os.path.join(ROOT, "roles", "training", "defaults", "main.yml")) as f:
        defaults = yaml.safe_load(f)
    assert defaults["training_operator_version"] == "v1.9.3"
    assert defaults["training_mpi_operator_version"] == "v0.7.0"
    for key, name in (("training_operator_manifest", "training-operator"),
                      ("training_mpi_operator_manifest", "mpi-operator")):
        assert defaults[key].startswith("{{ role_path }}/files/%s-" % name)


# --- the training layer as rendered ---

def test_operators_render_as_applied():
    out = render().out / "training"
    operator = yaml_docs(out / "training-operator.yaml")
    with open(os.path.join(TRAINING_FILES, "training-operator-v1.9.3.manifest")) as f:
        upstream = [d for d in yaml.safe_load_all(f) if d]
    # Only the v1 MPIJob CRD is left out (the MPI Operator owns mpijobs.kubeflow.org) ...
    assert set(names(upstream)) - set(names(operator)) == {("CustomResourceDefinition", "mpijobs.kubeflow.org")}
    # ... every other object is the release's, unchanged, but for the operator's --enable-scheme list.
    rendered = {(d["kind"], d["metadata"]["name"]): d for d in operator}
    for doc in upstream:
        key = (doc["kind"], doc["metadata"]["name"])
        if key == ("Deployment", "training-operator"):
            container = rendered[key]["spec"]["template"]["spec"]["containers"][0]
            assert container["image"] == "ghcr.io/kubeflow/training-v1/training-operator:v1-d6eb98e"
            assert container["args"] == ["--enable-scheme=%s" % s
                                         for s in ("pytorchjob", "tfjob", "jaxjob", "paddlejob", "xgboostjob")]
            doc = copy.deepcopy(doc)
            doc["spec"]["template"]["spec"]["containers"][0]["args"] = container["args"]
        if key != ("CustomResourceDefinition", "mpijobs.kubeflow.org"):
            assert rendered[key] == doc, "%s/%s changed" % key
    with open(os.path.join(TRAINING_FILES, "mpi-operator-v0.7.0.manifest"), "rb") as f:
        assert (out / "mpi-operator.yaml").read_bytes() == f.read()
    mpi_crds = [d for d in operator + yaml_docs(out / "mpi-operator.yaml")
                if d["kind"] == "CustomResourceDefinition" and d["metadata"]["name"] == "mpijobs.kubeflow.org"]
    assert [v["name"] for crd in mpi_crds for v in crd["spec"]["versions"]] == ["v2beta1"]


def test_builtin_objects_are_valid_for_the_lab_version():
    out = render().out
    checked = 0
    for path in [out / "training" / "training-operator.yaml", out / "training" / "mpi-operator.yaml",
                 *sorted((out / "mirrors").glob("*.yaml"))]:
        for obj in yaml_docs(path):
            if obj["apiVersion"].startswith("kubeflow.org/"):
                continue
            kubernetes_validate.validate(obj, k8s_minor(), strict=True)
            checked += 1
    assert checked > 30
    proc = render().validation()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 invalid" in proc.stdout


def test_pytorchjob_is_valid_requests_gpus_and_tolerates_the_taint():
    job = yaml_docs(render().out / "training" / "examples" / "pytorchjob.yaml")
    assert len(job) == 1
    job = job[0]
    assert (job["apiVersion"], job["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    assert validate_cr(job, "training-operator-v1.9.3.manifest", "PyTorchJob", "v1") == []
    inventory = lab_inventory()
    tenants = {t["name"]: t for t in inventory["k8s_tenants"]}
    assert job["metadata"]["namespace"] == "team-a" and tenants["team-a"]["quota"]["gpu"] >= 1
    specs = pod_specs(job, "pytorchReplicaSpecs")
    assert list(specs) == ["Master"]
    gpus = 0
    for role, spec in specs.items():
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"], role
        assert spec["runtimeClassName"] == "nvidia"
        container = spec["containers"][0]
        assert container["name"] == "pytorch"  # the operator finds the training container by this name
        resources = container["resources"]
        assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == 1
        gpus += resources["limits"]["nvidia.com/gpu"] * job["spec"]["pytorchReplicaSpecs"][role]["replicas"]
    assert gpus <= tenants["team-a"]["quota"]["gpu"]


def test_mpijob_is_valid_and_its_workers_request_gpus():
    job = yaml_docs(render().out / "training" / "examples" / "mpijob.yaml")[0]
    assert (job["apiVersion"], job["kind"]) == ("kubeflow.org/v2beta1", "MPIJob")
    assert validate_cr(job, "mpi-operator-v0.7.0.manifest", "MPIJob", "v2beta1") == []
    specs = pod_specs(job, "mpiReplicaSpecs")
    worker = specs["Worker"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in worker["tolerations"]
    assert worker["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in specs["Launcher"]["containers"][0]["resources"]["limits"]
    assert job["metadata"]["namespace"] == "team-a"


def test_the_crd_check_can_fail():
    """The schema check refuses a wrong example (so the passing checks above mean something)."""
    job = yaml_docs(render().out / "training" / "examples" / "pytorchjob.yaml")[0]
    bad = copy.deepcopy(job)
    bad["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = "one"
    bad["spec"]["pytorchReplicaSpecs"]["Master"]["restartPolicy"] = "Sometimes"
    bad["spec"]["elasticPolicy"] = {"maxRestarts": "x"}
    assert len(validate_cr(bad, "training-operator-v1.9.3.manifest", "PyTorchJob", "v1")) >= 2
    unknown = copy.deepcopy(job)
    unknown["spec"]["gpuPlease"] = True
    assert validate_cr(unknown, "training-operator-v1.9.3.manifest", "PyTorchJob", "v1")


def test_examples_over_the_tenant_quota_are_refused(tmp_path):
    proc = ansible_playbook("-i", "inventories/lab", "playbooks/render.yml", "-e", "render_dir=%s" % tmp_path,
                            *only_roles("training"), "-e", "training_example_workers=1")
    assert proc.returncode != 0
    assert "asks for 2 GPU(s)" in proc.stdout and "GPU quota of 1" in proc.stdout
    assert not (tmp_path / "training").exists()


# --- the mirrors layer as rendered ---

def test_mirror_configuration_reaches_pip_and_conda():
    out = render().out / "mirrors"
    clients = yaml_docs(out / "clients.yaml")
    tenants = [t["name"] for t in lab_inventory()["k8s_tenants"]]
    maps = {d["metadata"]["namespace"]: d for d in clients if d["kind"] == "ConfigMap"}
    policies = {d["metadata"]["namespace"]: d for d in clients if d["kind"] == "NetworkPolicy"}
    assert sorted(maps) == sorted(policies) == sorted(tenants)
    for tenant, cm in maps.items():
        pip = configparser.ConfigParser()
        pip.read_string(cm["data"]["pip.conf"])
        assert pip["global"]["index-url"] == "http://devpi.mirrors.svc.cluster.local:3141/root/pypi/+simple/"
        assert pip["global"]["trusted-host"] == "devpi.mirrors.svc.cluster.local"
        condarc = yaml.safe_load(cm["data"][".condarc"])
        assert condarc["channels"] == condarc["default_channels"] == [
            "http://conda-mirror.mirrors.svc.cluster.local:8080/conda-forge"]
        egress = policies[tenant]["spec"]["egress"][0]
        assert egress["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mirrors"}}}]
        assert sorted(p["port"] for p in egress["ports"]) == [3141, 8080]
    node_pip = configparser.ConfigParser()
    node_pip.read(out / "nodes" / "pip.conf")
    assert node_pip["global"]["index-url"] == "http://%s:30141/root/pypi/+simple/" % NODE_HOST
    assert yaml.safe_load((out / "nodes" / "condarc.yaml").read_text())["channels"] == [
        "http://%s:30142/conda-forge" % NODE_HOST]
    services = {d["metadata"]["name"]: d for f in ("devpi.yaml", "conda.yaml") for d in yaml_docs(out / f)
                if d["kind"] == "Service"}
    assert services["devpi"]["spec"]["ports"][0]["nodePort"] == 30141
    assert services["conda-mirror"]["spec"]["ports"][0]["nodePort"] == 30142


def test_devpi_runs_from_its_config_with_a_generated_root_and_the_upstream():
    out = render().out / "mirrors"
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml_docs(out / "devpi.yaml")}
    config = yaml.safe_load(docs[("ConfigMap", "devpi-config")]["data"]["devpi.yaml"])["devpi-server"]
    assert config["host"] == "0.0.0.0" and config["port"] == 3141 and config["restrict-modify"] == "root"
    assert config["serverdir"].startswith("/data/") and config["secretfile"].startswith("/data/")
    pod = docs[("Deployment", "devpi")]["spec"]["template"]["spec"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "devpi-data"
    assert "storageClassName" not in docs[("PersistentVolumeClaim", "devpi-data")]["spec"]  # the default class
    container = pod["containers"][0]
    assert container["args"][0].endswith("exec devpi-server -c /etc/devpi/devpi.yaml")
    assert container["env"] == [{"name": "DEVPI_ROOT_PASSWORD",
                                 "valueFrom": {"secretKeyRef": {"name": "devpi-root", "key": "password"}}}]
    job = [d for (kind, _name), d in docs.items() if kind == "Job"][0]
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DEVPI_UPSTREAM_URL"] == "https://pypi.org/simple/" and env["DEVPI_INDEX"] == "root/pypi"
    secret = yaml_docs(out / "root-secret.yaml")[0]
    # the render reads the controller's password file and never creates it: without one, controller_secret's stand-in
    stored = os.path.join(ROOT, "inventories", "lab", "credentials", "devpi-root-password")
    if os.path.exists(stored):
        with open(stored) as f:
            assert secret["stringData"]["password"] == f.read().strip()
    else:
        assert secret["stringData"]["password"] == "checkmodestandin" * 2
        assert not os.path.exists(stored)
    assert oct(os.stat(out / "root-secret.yaml").st_mode & 0o777) == "0o600"
    # A different upstream is a different Job (the finished one is never patched in place).
    assert re.match(r"^devpi-configure-index-[0-9a-f]{10}$", job["metadata"]["name"])


def test_a_bad_upstream_is_refused_before_anything_is_written(tmp_path):
    proc = ansible_playbook("-i", "inventories/lab", "playbooks/render.yml", "-e", "render_dir=%s" % tmp_path,
                            *only_roles("mirrors"), "-e", "mirrors_pypi_upstream_url=ftp://nowhere")
    assert proc.returncode != 0 and "must be http(s) URLs" in proc.stdout
    assert not (tmp_path / "mirrors").exists()
