import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.aiinfra.cluster.plugins.modules import cilium_encryption_info as mod
from ansible_collections.aiinfra.cluster.tests.unit.plugins.module_utils.test_cilium_encryption import FakeCluster
from ansible_collections.aiinfra.cluster.tests.unit.plugins.modules.harness import ModuleExit


@pytest.fixture(autouse=True)
def capture(monkeypatch):
    monkeypatch.setattr(mod, "HAS_KUBERNETES", True)


def run(monkeypatch, cluster, **args):
    monkeypatch.setattr(mod, "KubernetesAgentAPI", lambda *a, **k: cluster)
    with patch_module_args(dict(mode="cluster", **args)):
        with pytest.raises(ModuleExit) as exc:
            mod.main()
    return exc.value


def test_cluster_mode_all_good(monkeypatch):
    out = run(monkeypatch, FakeCluster(5), _ansible_check_mode=True)
    assert out.kind == "exit"
    assert out.result["ok"] is True and out.result["changed"] is False
    assert out.result["node_count"] == 5 and out.result["api_calls"] == 7
    assert out.result["nodes"]["node0003"]["problems"] == []


def test_cluster_mode_names_wrong_nodes(monkeypatch):
    out = run(monkeypatch, FakeCluster(5, wrong_peers={"node0004": 2}))
    assert out.kind == "fail"
    assert out.result["failed_nodes"] == ["node0004"]
    assert out.result["msg"] == ("Transparent encryption is not as expected (wireguard, peers = nodes - 1 = 4) on 1 of 5 "
                                 "nodes: node0004: 2 WireGuard peers, expected 4 (nodes - 1)")


def test_cluster_mode_report_only(monkeypatch):
    out = run(monkeypatch, FakeCluster(3), expected_mode="ipsec", fail_on_mismatch=False)
    assert out.kind == "exit" and out.result["ok"] is False
    assert out.result["failed_nodes"] == ["node0000", "node0001", "node0002"]


def test_api_errors_are_explained(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("Unauthorized")
    monkeypatch.setattr(mod, "KubernetesAgentAPI", boom)
    with patch_module_args({"mode": "cluster", "kubeconfig": "/etc/aiinfra/admin.conf"}):
        with pytest.raises(ModuleExit) as exc:
            mod.main()
    assert exc.value.kind == "fail"
    assert exc.value.result["msg"] == ("Could not read cilium agents through the Kubernetes API (kubeconfig "
                                       "/etc/aiinfra/admin.conf, namespace kube-system, selector k8s-app=cilium): "
                                       "Unauthorized")


def test_node_mode_requires_expected_peers():
    with patch_module_args({"mode": "node"}):
        with pytest.raises(ModuleExit) as exc:
            mod.main()
    assert exc.value.kind == "fail" and "expected_peers" in exc.value.result["msg"]
