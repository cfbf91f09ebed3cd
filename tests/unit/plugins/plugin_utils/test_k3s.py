import pytest

from ansible_collections.aiinfra.cluster.plugins.plugin_utils import k3s

BASE = {"node_ip": "10.0.0.11", "node_name": "m1", "api_endpoint": "https://10.0.0.10:8443",
        "tls_san": ["10.0.0.10", "10.0.0.11", "m1", ""], "cni": "cilium", "disable": ["traefik", "servicelb"],
        "secrets_encryption": True, "cluster_cidr": "10.42.0.0/16", "service_cidr": "10.43.0.0/16",
        "token_file": "/etc/rancher/k3s/cluster-token", "etcd_snapshot_cron": "0 */6 * * *",
        "etcd_snapshot_retention": 12}


def test_first_server_inits_the_cluster_with_cilium_flags_and_encryption():
    cfg = k3s.node_config("init", BASE)
    assert cfg["cluster-init"] is True and "server" not in cfg
    assert cfg["tls-san"] == ["10.0.0.10", "10.0.0.11", "m1"]  # VIP included, blanks dropped
    assert cfg["secrets-encryption"] is True
    assert (cfg["flannel-backend"], cfg["disable-network-policy"], cfg["disable-kube-proxy"]) == ("none", True, True)
    assert cfg["disable"] == ["servicelb", "traefik"]
    assert cfg["write-kubeconfig-mode"] == "0600"
    assert cfg["token-file"] == "/etc/rancher/k3s/cluster-token" and "token" not in cfg
    assert cfg["etcd-snapshot-schedule-cron"] == "0 */6 * * *" and cfg["etcd-snapshot-retention"] == 12


def test_joining_server_points_at_the_vip():
    cfg = k3s.node_config("server", dict(BASE, node_ip="10.0.0.12", node_name="m2"))
    assert cfg["server"] == "https://10.0.0.10:8443" and "cluster-init" not in cfg
    assert cfg["secrets-encryption"] is True and cfg["flannel-backend"] == "none"


def test_agent_has_no_server_flags():
    cfg = k3s.node_config("agent", dict(BASE, node_ip="10.0.0.21", node_name="w1"))
    assert cfg == {"node-ip": "10.0.0.21", "node-name": "w1", "token-file": "/etc/rancher/k3s/cluster-token",
                   "server": "https://10.0.0.10:8443"}


def test_gpu_agent_labels_and_taint():
    cfg = k3s.node_config("agent", dict(BASE, node_name="g1", node_labels={"aiinfra.io/gpu": "true"},
                                        node_taints=["nvidia.com/gpu=present:NoSchedule"]))
    assert cfg["node-label"] == ["aiinfra.io/gpu=true"] and cfg["node-taint"] == ["nvidia.com/gpu=present:NoSchedule"]


def test_without_cilium_keeps_flannel_and_traefik_when_asked():
    cfg = k3s.node_config("init", dict(BASE, cni="none", disable=[], secrets_encryption=False))
    assert "flannel-backend" not in cfg and "disable-kube-proxy" not in cfg and "disable" not in cfg
    assert "secrets-encryption" not in cfg


def test_extra_is_merged_last():
    assert k3s.node_config("agent", dict(BASE, extra={"kubelet-arg": ["max-pods=250"]}))["kubelet-arg"] == ["max-pods=250"]


def test_bad_role():
    with pytest.raises(k3s.K3sError, match="must be init, server or agent"):
        k3s.node_config("master", BASE)


@pytest.mark.parametrize("text,tag", [
    ("k3s version v1.31.4+k3s1 (a562d090)\ngo version go1.22.9\n", "v1.31.4+k3s1"),
    ("v1.30.8+k3s2", "v1.30.8+k3s2"), ("", None), ("sh: 1: k3s: not found", None)])
def test_parse_version(text, tag):
    assert k3s.parse_version(text) == tag


@pytest.mark.parametrize("installed,wanted,action", [
    (None, "v1.31.4+k3s1", "install"),
    ("v1.31.4+k3s1", "v1.31.4+k3s1", "none"),
    ("v1.31.4+k3s1", "v1.31.4+k3s2", "upgrade"),
    ("v1.30.9+k3s1", "v1.31.4+k3s1", "upgrade"),
    ("v1.31.10+k3s1", "v1.31.9+k3s1", "error"),  # numeric, not string, comparison
])
def test_install_action(installed, wanted, action):
    if action == "error":
        with pytest.raises(k3s.K3sError, match="refusing to downgrade"):
            k3s.install_action(installed, wanted)
        assert k3s.install_action(installed, wanted, allow_downgrade=True) == "upgrade"
    else:
        assert k3s.install_action(installed, wanted) == action


def test_bad_wanted_tag():
    with pytest.raises(k3s.K3sError, match="not a k3s release tag"):
        k3s.install_action("v1.31.4+k3s1", "1.31.4")
