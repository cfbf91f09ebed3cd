"""The Network Operator layer (issue #19 item 3), rendered with playbooks/render.yml for an inventory with an RDMA
group, then from the real network-operator 25.10.0 chart (and the GPU Operator's, whose NFD labels the NICs):

- the NicClusterPolicy targets only the RDMA group: its node affinity, evaluated against every node of the inventory
  with the labels the role's patch gives them, selects exactly the rdma_nodes hosts (by their Kubernetes node names);
- the RDMA shared device plugin's configuration comes from the inventory (resources, the hosts' rdma_interfaces), and
  SR-IOV and the secondary network follow their switches;
- the chart reads every value the role sets and every object, the NicClusterPolicy included (against the chart's own
  CRD), validates for the inventory's Kubernetes version;
- an RDMA group that is not a subset of the GPU nodes, or missing, is refused before anything is written.
"""

import json

import pytest
import yaml

from ansible_env import ansible_playbook, needs_collection, only_roles, render_charts, validate_manifests, yaml_docs

pytestmark = needs_collection

HOSTS = {
    "k8s_cluster": {"children": {
        "k8s_control_plane": {"hosts": {"cp1": {"ansible_host": "198.18.5.11"}}},
        "k8s_workers": {"hosts": {
            "w1": {"ansible_host": "198.18.5.20"},
            "g1": {"ansible_host": "198.18.5.21", "rdma_interfaces": ["ens1f0np0"]},
            "g2": {"ansible_host": "198.18.5.22", "k8s_node_name": "gpu-node-2",
                   "rdma_interfaces": ["ens1f0np0", "ens1f1np1"]},
            "g3": {"ansible_host": "198.18.5.23"}}}}},
    "gpu_nodes": {"hosts": {"g1": {}, "g2": {}, "g3": {}}},
    "rdma_nodes": {"hosts": {"g1": {}, "g2": {}}},
}
ALL = {"k8s_distribution": "k3s", "k8s_version": "v1.32.1+k3s1", "k8s_api_vip": "198.18.5.10", "k8s_cni": "none",
       "k8s_gpu_enabled": True, "k8s_network_operator_enabled": True, "k8s_rdma_group": "rdma_nodes",
       "gpu_mig_strategy": "none", "gpu_time_slicing_replicas": 1}
# Kubernetes node name of every inventory host, and the RDMA group by those names
NODE_NAMES = {"cp1": "cp1", "w1": "w1", "g1": "g1", "g2": "gpu-node-2", "g3": "g3"}
RDMA_NODES = {"g1", "gpu-node-2"}
ROLES = ("gpu_operator", "network_operator")


def inventory(tmp, hosts=None, **settings):
    inv = tmp / "inv"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts or HOSTS))
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(dict(ALL, **settings)))
    return inv


def render(tmp, hosts=None, **settings):
    out = tmp / "render"
    proc = ansible_playbook("-i", inventory(tmp, hosts, **settings), "playbooks/render.yml",
                            "-e", "render_dir=%s" % out, *only_roles(*ROLES))
    return proc, out


@pytest.fixture(scope="module")
def rdma(tmp_path_factory):
    proc, out = render(tmp_path_factory.mktemp("rdma"))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    results, problems = render_charts.render_tree(str(out))
    assert problems == [], problems  # each chart read every value the role set
    return out, {r.release.name: r for r in results}


def policy(out):
    docs = yaml_docs(out / "network_operator" / "nicclusterpolicy.yaml")
    assert [(d["apiVersion"], d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("mellanox.com/v1alpha1", "NicClusterPolicy", "nic-cluster-policy")]
    return docs[0]


def node_labels(out):
    """Every inventory host as a Kubernetes node with the labels the role's patches give it."""
    labels = {name: {} for name in NODE_NAMES.values()}
    for patch in yaml_docs(out / "network_operator" / "patches" / "rdma-node-labels.yaml"):
        assert (patch["apiVersion"], patch["kind"]) == ("v1", "Node")
        labels[patch["metadata"]["name"]].update(patch["metadata"]["labels"])
    return labels


def matches(expression, labels):
    key, op, values = expression["key"], expression["operator"], expression.get("values", [])
    return {"In": lambda: labels.get(key) in values, "NotIn": lambda: labels.get(key) not in values,
            "Exists": lambda: key in labels, "DoesNotExist": lambda: key not in labels}[op]()


def selected(affinity, labels):
    """The nodes a required node affinity admits (terms ORed, expressions ANDed), as the scheduler reads it."""
    terms = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    return {node for node, lab in labels.items()
            if any(all(matches(e, lab) for e in term.get("matchExpressions", [])) for term in terms)}


def test_policy_targets_only_the_rdma_group(rdma):
    out, _releases = rdma
    spec = policy(out)["spec"]
    labels = node_labels(out)
    assert {n for n, lab in labels.items() if lab} == RDMA_NODES  # only the RDMA group is labelled
    assert all(lab == {"aiinfra.io/rdma": "true"} for n, lab in labels.items() if n in RDMA_NODES)
    assert selected(spec["nodeAffinity"], labels) == RDMA_NODES  # not g3 (GPU, no RDMA), not w1 or cp1
    assert "preferredDuringSchedulingIgnoredDuringExecution" not in spec["nodeAffinity"]
    # the GPU taint is tolerated (RDMA nodes are GPU nodes); no deployment-level affinity widens the set
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert "deploymentNodeAffinity" not in spec


def test_affinity_follows_the_group(tmp_path):
    """Move g3 into the RDMA group: the labels and so the policy's reach follow the inventory."""
    hosts = json.loads(json.dumps(HOSTS))
    hosts["rdma_nodes"]["hosts"] = {"g3": {}}
    proc, out = render(tmp_path, hosts)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert selected(policy(out)["spec"]["nodeAffinity"], node_labels(out)) == {"g3"}


def test_rdma_shared_device_plugin_from_the_inventory(rdma):
    out, _releases = rdma
    plugin = policy(out)["spec"]["rdmaSharedDevicePlugin"]
    assert (plugin["repository"], plugin["image"], plugin["version"]) == (
        "nvcr.io/nvidia/mellanox", "k8s-rdma-shared-dev-plugin", "network-operator-v25.10.0")
    config = json.loads(plugin["config"])
    assert config == {"configList": [{"resourceName": "rdma_shared_device_a", "rdmaHcaMax": 63, "selectors": {
        "vendors": ["15b3"], "ifNames": ["ens1f0np0", "ens1f1np1"]}}]}  # both hosts' interfaces, once each
    spec = policy(out)["spec"]
    assert "sriovDevicePlugin" not in spec and "ofedDriver" not in spec  # off by default
    assert set(spec["secondaryNetwork"]) == {"multus", "cniPlugins"}


def test_sriov_and_switches(tmp_path):
    resources = [{"name": "rdma_ib", "vendors": ["15b3"], "device_ids": ["101b"], "link_types": ["infiniband"],
                  "interfaces": ["ib0"], "hca_max": 16}]
    proc, out = render(tmp_path, network_operator_sriov_enabled=True, network_operator_secondary_network_enabled=False,
                       network_operator_rdma_shared_devices=resources,
                       network_operator_sriov_resources=[{"name": "hostdev", "vendors": ["15b3"], "is_rdma": True,
                                                          "pf_names": ["ens1f0np0"]}])
    assert proc.returncode == 0, proc.stdout[-3000:]
    spec = policy(out)["spec"]
    assert json.loads(spec["rdmaSharedDevicePlugin"]["config"])["configList"] == [{
        "resourceName": "rdma_ib", "rdmaHcaMax": 16,
        "selectors": {"vendors": ["15b3"], "deviceIDs": ["101b"], "linkTypes": ["infiniband"], "ifNames": ["ib0"]}}]
    sriov = spec["sriovDevicePlugin"]
    assert (sriov["image"], sriov["version"]) == ("sriov-network-device-plugin", "network-operator-v25.10.0")
    assert json.loads(sriov["config"]) == {"resourceList": [{"resourcePrefix": "nvidia.com", "resourceName": "hostdev",
                                                             "selectors": {"vendors": ["15b3"],
                                                                           "pfNames": ["ens1f0np0"], "isRdma": True}}]}
    assert "secondaryNetwork" not in spec
    results, problems = render_charts.render_tree(str(out))
    assert problems == []
    result = validate_manifests(out)
    assert result.returncode == 0, result.stdout[-3000:]


def test_chart_and_objects_validate(rdma):
    out, releases = rdma
    release = releases["network-operator"]
    assert (release.release.chart, release.release.version, release.release.namespace) == (
        "network-operator", "25.10.0", "nvidia-network-operator")
    values = yaml_docs(out / "network_operator" / "values" / "network-operator.yaml")[0]
    assert values["nfd"] == {"enabled": False, "deployNodeFeatureRules": False}  # NFD comes from the GPU layer
    kinds = {(o["kind"], o["metadata"]["name"]) for _t, o in release.objects}
    assert ("Deployment", "network-operator") in kinds
    assert ("CustomResourceDefinition", "nicclusterpolicies.mellanox.com") in kinds
    assert not any(k == "NodeFeatureRule" for k, _n in kinds)
    # the GPU Operator's NFD lists PCI class 02, so Mellanox NICs get the pci-15b3 label the operator selects on
    gpu_values = releases["gpu-operator"].values
    assert gpu_values["nfd"]["enabled"] is True
    result = validate_manifests(out)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "against Kubernetes 1.32: 0 invalid" in result.stdout
    assert "2 custom resources against" in result.stdout  # the ClusterPolicy and the NicClusterPolicy


@pytest.mark.parametrize("change,message", [
    ({"rdma_nodes": {"hosts": {"g1": {}, "w1": {}}}},
     "Host w1 is in rdma_nodes but not in gpu_nodes"),
    ({"rdma_nodes": None}, "group rdma_nodes is missing"),
    ({"rdma_nodes": {"hosts": {"g1": {}}}, "g1_interfaces": "ens1f0np0"},
     "Host g1: rdma_interfaces is 'ens1f0np0'; it must be a list"),
])
def test_bad_rdma_group_is_refused_before_anything_is_written(tmp_path, change, message):
    hosts = json.loads(json.dumps(HOSTS))
    if "g1_interfaces" in change:
        hosts["k8s_cluster"]["children"]["k8s_workers"]["hosts"]["g1"]["rdma_interfaces"] = change["g1_interfaces"]
    if change.get("rdma_nodes") is None:
        del hosts["rdma_nodes"]
    else:
        hosts["rdma_nodes"] = change["rdma_nodes"]
    proc, out = render(tmp_path, hosts)
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert message in proc.stdout
    assert not (out / "network_operator").exists()


def test_bad_resources_are_refused(tmp_path):
    proc, out = render(tmp_path, network_operator_rdma_shared_devices=[{"name": "rdma/a", "vendors": ["0x15b3"]}])
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert "name 'rdma/a' is not a valid resource name" in proc.stdout
    assert "vendors has '0x15b3'" in proc.stdout
    assert not (out / "network_operator").exists()


def test_gpu_layer_off_is_refused(tmp_path):
    proc, out = render(tmp_path, k8s_gpu_enabled=False)
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert "The Network Operator layer is on but the GPU layer is off" in proc.stdout
    assert not (out / "network_operator").exists()
