import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.aiinfra.cluster.plugins.modules import cluster_preflight
from ansible_collections.aiinfra.cluster.tests.unit.plugins.modules.harness import ModuleExit


def host(name, ip, groups):
    return {"name": name, "ip": ip, "hostname": name, "groups": groups, "distribution": "Ubuntu",
            "distribution_version": "24.04", "memory_mb": 8000, "disk_free_mb": 90000,
            "ipv4": [{"address": ip, "prefix": "24"}]}


def run(args):
    with patch_module_args(args):
        with pytest.raises(ModuleExit) as exc:
            cluster_preflight.main()
    return exc.value


GOOD = [host("m1", "10.1.0.11", ["k8s_control_plane"]), host("w1", "10.1.0.21", ["k8s_workers"])]


@pytest.mark.parametrize("check_mode", [False, True])
def test_valid_inventory_passes_unchanged(check_mode):
    out = run({"hosts": GOOD, "distribution": "kubeadm", "kubernetes_version": "v1.32.1",
               "_ansible_check_mode": check_mode})
    assert out.kind == "exit"
    assert out.result["changed"] is False and out.result["problems"] == [] and out.result["hosts_checked"] == 2


def test_problems_fail_with_one_line_each():
    bad = GOOD + [host("m2", "10.1.0.12", ["k8s_control_plane"])]
    out = run({"hosts": bad, "distribution": "k3s", "kubernetes_version": "1.32", "api_vip": "10.1.0.12"})
    assert out.kind == "fail"
    msg = out.result["msg"]
    assert msg.startswith("The inventory has 3 problem(s); nothing was changed.")
    assert "\n- k8s_version is '1.32'" in msg
    assert "\n- Group k8s_control_plane has 2 hosts (m1, m2)" in msg
    assert "\n- k8s_api_vip 10.1.0.12 is the node IP of m2" in msg
    assert out.result["changed"] is False and len(out.result["problems"]) == 3


def test_report_only_mode_returns_problems():
    out = run({"hosts": GOOD, "distribution": "k3s", "kubernetes_version": "v1.32.1+k3s1",
               "fail_on_problems": False, "groups": {"control_plane": "cp", "worker": "k8s_workers", "gpu": "gpu"}})
    assert out.kind == "exit"
    assert out.result["problems"] == ["Group cp is empty: at least one control-plane host is needed (1, 3 or 5)."]


def test_documentation_matches_argument_spec():
    import yaml
    doc = yaml.safe_load(cluster_preflight.DOCUMENTATION)
    assert doc["attributes"]["check_mode"]["support"] == "full"
    assert set(doc["options"]) == {"hosts", "distribution", "kubernetes_version", "api_vip", "groups",
                                   "min_resources", "disk_path", "supported_os", "registry", "node_ports", "storage",
                                   "fail_on_problems"}
    json.dumps(doc)
