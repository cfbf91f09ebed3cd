"""Render of the storage and data alternatives (roles rook, juicefs, redis, tikv; playbooks/render.yml on the lab
inventory with those layers switched on and rook_devices given to three hosts): every Helm release rendered from the
real pinned chart with exactly the values the roles pass (every value read by the chart), every object validated
against the lab's Kubernetes version and the CRDs the charts and the TiDB Operator release ship, and the promises
asserted on what the charts render:

- Rook's CephCluster names the inventory's devices (and only them), its block pool keeps the replica count;
- the JuiceFS StorageClass reads the role's Secret, whose metadata URL points at the Redis (or TiKV PD) Service the
  other layer's chart creates;
- Redis runs with auth on, its password read from the role's Secret (the chart generates none);
- the TidbCluster has PD and TiKV only, with the replica counts asked for;
- exactly one StorageClass is the default, and it moves when the inventory says so.

Bad device paths, too few hosts with devices and a metadata engine whose layer is off are refused before anything
is written."""

import base64
import hashlib
import json
import os
import re
import tempfile
import urllib.parse

import pytest
import yaml

from ansible_env import ROOT, ansible_playbook, needs_collection, only_roles, shared_render, yaml_docs

import render_charts  # scripts/, put on sys.path by ansible_env

pytestmark = needs_collection

DEVICES = {"m1": ["/dev/sdb"],
           "w1": ["/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R123456", "/dev/sdc"],
           "g1": ["/dev/vdb"]}
NODE_GROUP = {"m1": "k8s_control_plane", "w1": "k8s_workers", "g1": "k8s_workers", "m2": "k8s_control_plane",
              "m3": "k8s_control_plane"}
BUCKET = "https://s3.lab.example/datasets"
# The layer switches (off in the lab); everything else comes from the roles' and the facts layer's defaults.
SWITCHES = {"k8s_rook_enabled": True, "k8s_juicefs_enabled": True, "k8s_redis_enabled": True,
            "k8s_tikv_enabled": True, "juicefs_bucket": BUCKET}
DATA_ROLES = ("longhorn", "redis", "tikv", "juicefs", "rook")
DEFAULT_MARK = "storageclass.kubernetes.io/is-default-class"

_INVENTORIES = tempfile.mkdtemp(prefix="aiinfra-data-inventory-")


def devices_inventory(devices, name="devices"):
    """A second inventory source giving hosts of the lab their rook_devices (the lab's own files stay as they are)."""
    groups = {}
    for host, paths in devices.items():
        groups.setdefault(NODE_GROUP[host], {"hosts": {}})["hosts"][host] = {"rook_devices": paths}
    path = os.path.join(_INVENTORIES, name + ".yml")
    with open(path, "w") as f:
        yaml.safe_dump({"k8s_cluster": {"children": groups}}, f)
    return path


def render_variant(name, roles, *extra):
    return shared_render(name, "inventories/lab", "-i", devices_inventory(DEVICES), "-e", json.dumps(SWITCHES),
                         *extra, roles=roles)


def redis_variant():
    """The data layers beside Longhorn (the lab's default class); JuiceFS on Redis."""
    return render_variant("data-redis", DATA_ROLES)


def tikv_variant():
    """JuiceFS on TiKV; Rook's ceph-block the default instead of Longhorn; CephFS on."""
    return render_variant("data-tikv", DATA_ROLES, "-e", json.dumps({
        "k8s_juicefs_meta_engine": "tikv", "k8s_rook_default_class": True, "k8s_longhorn_default_class": False,
        "rook_filesystem_enabled": True, "tikv_replicas": 4, "tikv_pd_replicas": 5}))


VARIANTS = {"data-redis": redis_variant, "data-tikv": tikv_variant}


def our_objects(render, role):
    return [doc for path in sorted((render.out / role).glob("*.yaml")) for doc in yaml_docs(path)]


def secret_value(secret, key):
    if key in (secret.get("stringData") or {}):
        return secret["stringData"][key]
    return base64.b64decode(secret["data"][key]).decode()


# --- The harness: everything renders, every value is read, everything validates ---------------------------------

@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_release_renders_and_every_value_is_read(variant):
    releases, problems = VARIANTS[variant]().charts()
    assert problems == []
    assert {"rook-ceph", "rook-ceph-cluster", "juicefs-csi-driver", "redis", "tidb-operator"} <= set(releases)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_everything_validates(variant):
    result = VARIANTS[variant]().validation()
    assert result.returncode == 0, result.stdout + result.stderr
    assert ": 0 invalid" in result.stdout
    # CephCluster, CephBlockPool (and CephFilesystem) against the operator chart's CRDs; TidbCluster against the
    # release's CRD manifest
    assert "(0 custom resources" not in result.stdout


def test_releases_use_the_pinned_versions():
    releases, _problems = redis_variant().charts()
    seen = {name: (r.release.chart, r.release.version, r.release.namespace, r.release.role)
            for name, r in releases.items() if r.release.role != "longhorn"}
    assert seen == {"rook-ceph": ("rook-ceph", "v1.18.8", "rook-ceph", "rook"),
                    "rook-ceph-cluster": ("rook-ceph-cluster", "v1.18.8", "rook-ceph", "rook"),
                    "juicefs-csi-driver": ("juicefs-csi-driver", "0.31.0", "juicefs", "juicefs"),
                    "redis": ("redis", "23.0.5", "redis", "redis"),
                    "tidb-operator": ("tidb-operator", "v1.6.4", "tidb-admin", "tikv")}


# --- Rook ---------------------------------------------------------------------------------------------------------

def test_rook_cluster_names_the_inventory_devices_and_only_them():
    render = redis_variant()
    cluster = render.one("rook-ceph-cluster", "CephCluster", "rook-ceph")
    storage = cluster["spec"]["storage"]
    assert storage["useAllNodes"] is False and storage["useAllDevices"] is False
    assert {node["name"]: [d["name"] for d in node["devices"]] for node in storage["nodes"]} == DEVICES
    assert cluster["spec"]["mon"] == {"count": 3, "allowMultiplePerNode": False}
    # OSDs may run on the tainted GPU node that gives a device (g1)
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in \
        cluster["spec"]["placement"]["osd"]["tolerations"]


def test_rook_block_pool_keeps_three_replicas_on_different_hosts():
    render = redis_variant()
    pool = render.one("rook-ceph-cluster", "CephBlockPool", "ceph-blockpool")
    assert pool["spec"] == {"failureDomain": "host", "replicated": {"size": 3}}
    sc = render.one("rook-ceph-cluster", "StorageClass", "ceph-block")
    assert sc["provisioner"] == "rook-ceph.rbd.csi.ceph.com"
    assert sc["parameters"]["pool"] == "ceph-blockpool" and sc["parameters"]["clusterID"] == "rook-ceph"
    assert sc["allowVolumeExpansion"] is True
    # the CSI secrets it names are the ones Rook creates in the cluster's namespace
    assert sc["parameters"]["csi.storage.k8s.io/node-stage-secret-namespace"] == "rook-ceph"
    # no object store, no file system unless asked
    assert render.objects("rook-ceph-cluster", "CephObjectStore") == []
    assert render.objects("rook-ceph-cluster", "CephFilesystem") == []
    assert len(tikv_variant().objects("rook-ceph-cluster", "CephFilesystem")) == 1


def test_rook_csi_plugins_tolerate_the_gpu_taint():
    config = redis_variant().one("rook-ceph", "ConfigMap", "rook-ceph-operator-config")
    assert "nvidia.com/gpu" in config["data"]["CSI_PLUGIN_TOLERATIONS"]


# --- Redis --------------------------------------------------------------------------------------------------------

def test_redis_has_auth_on_with_the_password_from_the_role_secret():
    render = redis_variant()
    secret = [d for d in our_objects(render, "redis") if d["kind"] == "Secret"]
    assert [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in secret] == [("redis", "redis-auth")]
    # the controller's generated password, or (not generated yet) controller_secret's stand-in of the same shape
    assert re.match(r"^[A-Za-z0-9]{32}$", secret_value(secret[0], "redis-password"))
    assert oct((render.out / "redis" / "auth-secret.yaml").stat().st_mode & 0o777) == "0o600"
    # the chart makes no Secret of its own (it would hold a password the chart generated)
    assert render.objects("redis", "Secret") == []
    master = render.one("redis", "StatefulSet", "redis-master")
    pod = master["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["ALLOW_EMPTY_PASSWORD"] == "no"
    assert env["REDIS_PASSWORD_FILE"] == "/opt/bitnami/redis/secrets/redis-password"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["redis-password"]["secret"]["secretName"] == "redis-auth"
    assert [i["key"] for i in volumes["redis-password"]["secret"]["items"]] == ["redis-password"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["redis-password"] == "/opt/bitnami/redis/secrets/"
    # the start script requires the password
    scripts = render.one("redis", "ConfigMap", "redis-scripts")["data"]["start-master.sh"]
    assert '"--requirepass" "${REDIS_PASSWORD}"' in scripts


def test_redis_pods_fit_the_restricted_namespace():
    render = redis_variant()
    namespace = [d for d in our_objects(render, "redis") if d["kind"] == "Namespace"][0]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = render.one("redis", "StatefulSet", "redis-master")["spec"]["template"]["spec"]
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container["securityContext"]
        seccomp = context.get("seccompProfile") or pod["securityContext"].get("seccompProfile") or {}
        assert seccomp.get("type") == "RuntimeDefault", container["name"]
        assert context["runAsNonRoot"] is True and context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]


# --- JuiceFS ------------------------------------------------------------------------------------------------------

def juicefs_wiring(render):
    """(the chart's StorageClass, the role's Secret it reads)."""
    sc = render.one("juicefs-csi-driver", "StorageClass", "juicefs")
    secrets = {d["metadata"]["name"]: d for d in our_objects(render, "juicefs") if d["kind"] == "Secret"}
    name = sc["parameters"]["csi.storage.k8s.io/provisioner-secret-name"]
    assert sc["parameters"]["csi.storage.k8s.io/node-publish-secret-name"] == name
    assert sc["parameters"]["csi.storage.k8s.io/provisioner-secret-namespace"] == "juicefs"
    assert name in secrets, "the StorageClass reads Secret %s, which the role does not write" % name
    assert secrets[name]["metadata"]["namespace"] == "juicefs"
    # the chart writes no Secret of its own for the class (existingSecret)
    assert [d["metadata"]["name"] for d in render.objects("juicefs-csi-driver", "Secret")
            if d["metadata"]["name"].endswith("-secret")] == []
    return sc, secrets[name]


def test_juicefs_storage_class_points_at_redis():
    render = redis_variant()
    sc, secret = juicefs_wiring(render)
    assert sc["provisioner"] == "csi.juicefs.com" and sc["reclaimPolicy"] == "Retain"
    url = urllib.parse.urlsplit(secret_value(secret, "metaurl"))
    assert url.scheme == "redis" and url.path == "/1"
    # the password Redis itself is given (the redis layer's Secret, from the same controller file)
    redis_secret = [d for d in our_objects(render, "redis") if d["kind"] == "Secret"][0]
    assert url.password == secret_value(redis_secret, "redis-password")
    assert oct((render.out / "juicefs" / "volume-secret.yaml").stat().st_mode & 0o777) == "0o600"
    # the host and port are the Redis chart's master Service
    service = render.one("redis", "Service", "redis-master")
    assert url.hostname == "redis-master.%s.svc.cluster.local" % service["metadata"]["namespace"]
    assert url.port == [p["port"] for p in service["spec"]["ports"] if p["name"] == "tcp-redis"][0] == 6379
    assert secret_value(secret, "name") == "datasets"
    assert secret_value(secret, "storage") == "s3" and secret_value(secret, "bucket") == BUCKET
    assert "access-key" not in secret["stringData"]  # none given: none written


def test_juicefs_storage_class_points_at_tikv_pd():
    render = tikv_variant()
    _sc, secret = juicefs_wiring(render)
    url = urllib.parse.urlsplit(secret_value(secret, "metaurl"))
    assert url.scheme == "tikv" and url.path == "/datasets" and url.password is None
    cluster = [d for d in our_objects(render, "tikv") if d["kind"] == "TidbCluster"][0]
    # TiDB Operator names PD's client Service <cluster>-pd, port 2379
    meta = cluster["metadata"]
    assert url.netloc == "%s-pd.%s.svc.cluster.local:2379" % (meta["name"], meta["namespace"])


def test_juicefs_node_plugin_tolerates_the_gpu_taint():
    node = redis_variant().one("juicefs-csi-driver", "DaemonSet", "juicefs-csi-node")
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in \
        node["spec"]["template"]["spec"]["tolerations"]


# --- TiKV ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant,pd,tikv", [("data-redis", 3, 3), ("data-tikv", 5, 4)])
def test_tidbcluster_has_pd_and_tikv_only_with_the_replica_counts(variant, pd, tikv):
    render = VARIANTS[variant]()
    clusters = [d for d in our_objects(render, "tikv") if d["kind"] == "TidbCluster"]
    assert len(clusters) == 1
    spec = clusters[0]["spec"]
    components = {"pd", "tikv", "tidb", "tiflash", "ticdc", "pump", "tiproxy", "pdms"} & set(spec)
    assert components == {"pd", "tikv"}
    assert spec["pd"]["replicas"] == pd and spec["tikv"]["replicas"] == tikv
    assert spec["pd"]["requests"]["storage"] and spec["tikv"]["requests"]["storage"]
    assert "max-replicas = 3" in spec["pd"]["config"]
    # the CRDs go with it, as the release ships them
    crds = [d for d in yaml_docs(render.out / "tikv" / "tidb-operator-crds.yaml")
            if d["kind"] == "CustomResourceDefinition"]
    assert "tidbclusters.pingcap.com" in [c["metadata"]["name"] for c in crds] and len(crds) == 10


def test_shipped_crd_manifest_is_the_pinned_release_file():
    with open(os.path.join(render_charts.charts_dir(), "README.md")) as f:
        row = [line for line in f.read().splitlines() if line.startswith("| tidb-operator-crds-v1.6.4.yaml |")]
    assert len(row) == 1
    pinned = re.search(r"`([0-9a-f]{64})`", row[0]).group(1)
    with open(os.path.join(ROOT, "roles", "tikv", "files", "tidb-operator-crds-v1.6.4.manifest"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == pinned
    with open(os.path.join(ROOT, "roles", "tikv", "README.md")) as f:
        assert pinned in f.read()


def test_tidb_operator_is_cluster_scoped_without_its_own_scheduler():
    render = redis_variant()
    assert render.objects("tidb-operator", "Deployment", "tidb-scheduler") == []
    manager = render.one("tidb-operator", "Deployment", "tidb-controller-manager")
    assert manager["metadata"]["namespace"] == "tidb-admin"
    assert render.objects("tidb-operator", "ClusterRole")


# --- Exactly one default StorageClass -----------------------------------------------------------------------------

def default_classes(render):
    """Names of every StorageClass marked default in what the layers apply (charts and our manifests); Longhorn's
    class is a ConfigMap'd manifest its manager applies."""
    classes = [obj for r in render.charts()[0].values() for _t, obj in r.objects if obj.get("kind") == "StorageClass"]
    longhorn = render.one("longhorn", "ConfigMap", "longhorn-storageclass")
    classes.append(yaml.safe_load(longhorn["data"]["storageclass.yaml"]))
    for path in render.out.glob("*/*.yaml"):
        classes += [d for d in yaml_docs(path) if d.get("kind") == "StorageClass"]
    assert {"longhorn", "ceph-block", "juicefs"} <= {c["metadata"]["name"] for c in classes}
    return sorted(c["metadata"]["name"] for c in classes
                  if (c["metadata"].get("annotations") or {}).get(DEFAULT_MARK) == "true")


@pytest.mark.parametrize("variant,default", [("data-redis", "longhorn"), ("data-tikv", "ceph-block")])
def test_exactly_one_default_storage_class(variant, default):
    render = VARIANTS[variant]()
    assert default_classes(render) == [default]
    # Rook and JuiceFS take the mark from k3s' local-path only when their class is the default
    patches = {role: render.out / role / "patches" / "unset-default-class.yaml" for role in ("rook", "juicefs")}
    assert patches["rook"].exists() == (default == "ceph-block")
    assert not patches["juicefs"].exists()
    if default == "ceph-block":
        patch = yaml_docs(patches["rook"])[0]
        assert patch["metadata"] == {"name": "local-path", "annotations": {DEFAULT_MARK: "false"}}


# --- Refused before anything is written ---------------------------------------------------------------------------

def refused(tmp_path, roles, *extra):
    proc = ansible_playbook("-i", "inventories/lab", "playbooks/render.yml", "-e", json.dumps(SWITCHES),
                            "-e", "render_dir=%s" % tmp_path, *only_roles(*roles), *extra)
    assert proc.returncode != 0
    for role in roles:
        assert not (tmp_path / role).exists()
    return proc.stdout


def test_a_relative_device_path_is_refused(tmp_path):
    out = refused(tmp_path, ["rook"], "-i", devices_inventory(dict(DEVICES, w1=["sdc"]), "relative"))
    assert "absolute device paths under /dev/" in out and "w1: sdc" in out


def test_too_few_hosts_with_devices_are_refused(tmp_path):
    out = refused(tmp_path, ["rook"], "-i", devices_inventory({"m1": ["/dev/sdb"], "w1": ["/dev/sdb"]}, "two"))
    assert "k8s_rook_replicas is 3 but only 2 host(s) have rook_devices (m1, w1)" in out


def test_juicefs_on_an_engine_whose_layer_is_off_is_refused(tmp_path):
    out = refused(tmp_path, ["juicefs"], "-e", "k8s_redis_enabled=false")
    assert "k8s_redis_enabled: true" in out


def test_juicefs_without_a_bucket_is_refused(tmp_path):
    out = refused(tmp_path, ["juicefs"], "-e", "juicefs_bucket=")
    assert "juicefs_bucket" in out
