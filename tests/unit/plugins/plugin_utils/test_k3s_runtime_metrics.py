"""k3s config.yaml: the node's containerd (node_baseline) as the CRI, and control-plane metrics on the node address.

The table tests drive the pure function; the render test runs the role's render entry point for the lab inventory
(playbooks/render.yml, k3s only) and reads every node's config.yaml as the role would write it.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.aiinfra.cluster.plugins.plugin_utils import k3s

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SOCKET = "unix:///run/containerd/containerd.sock"
BASE = {"node_ip": "10.0.0.11", "node_name": "m1", "api_endpoint": "https://10.0.0.10:8443", "tls_san": ["10.0.0.10"],
        "cni": "cilium", "disable": [], "cluster_cidr": "10.42.0.0/16", "service_cidr": "10.43.0.0/16",
        "token_file": "/etc/rancher/k3s/cluster-token", "container_runtime_endpoint": SOCKET,
        "kubelet_cgroup_driver": "systemd", "metrics_bind_address": "10.0.0.11"}


@pytest.mark.parametrize("role", ["init", "server", "agent"])
def test_every_node_uses_the_nodes_containerd_with_the_systemd_driver(role):
    cfg = k3s.node_config(role, BASE)
    assert cfg["container-runtime-endpoint"] == SOCKET
    assert cfg["kubelet-arg"] == ["cgroup-driver=systemd"]


@pytest.mark.parametrize("role", ["init", "server"])
def test_servers_serve_control_plane_metrics_on_the_node_address(role):
    cfg = k3s.node_config(role, BASE)
    assert cfg["etcd-expose-metrics"] is True
    assert cfg["kube-controller-manager-arg"] == ["bind-address=10.0.0.11"]
    assert cfg["kube-scheduler-arg"] == ["bind-address=10.0.0.11"]


def test_agents_run_no_control_plane_so_no_metrics_flags():
    cfg = k3s.node_config("agent", BASE)
    assert not {"etcd-expose-metrics", "kube-controller-manager-arg", "kube-scheduler-arg"} & set(cfg)


def test_empty_settings_keep_k3s_defaults():
    cfg = k3s.node_config("init", dict(BASE, container_runtime_endpoint="", metrics_bind_address=""))
    assert not {"container-runtime-endpoint", "kubelet-arg", "etcd-expose-metrics",
                "kube-controller-manager-arg", "kube-scheduler-arg"} & set(cfg)


def test_extra_still_wins():
    cfg = k3s.node_config("agent", dict(BASE, extra={"kubelet-arg": ["cgroup-driver=systemd", "max-pods=250"]}))
    assert cfg["kubelet-arg"] == ["cgroup-driver=systemd", "max-pods=250"]


def test_endpoint_must_be_a_unix_socket_url():
    with pytest.raises(k3s.K3sError, match="unix:///"):
        k3s.node_config("agent", dict(BASE, container_runtime_endpoint="/run/containerd/containerd.sock"))


@pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, ".collections")), reason="run scripts/setup.sh first")
def test_lab_render(tmp_path):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"))
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "playbooks/render.yml",
                          "-i", "inventories/lab", "-e", "render_dir=%s" % tmp_path,
                          "-e", json.dumps({"render_roles": ["k3s"]})],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    hosts = yaml.safe_load(open(os.path.join(ROOT, "inventories", "lab", "hosts.yml")))
    servers = list(hosts["k8s_cluster"]["children"]["k8s_control_plane"]["hosts"])
    nodes = sorted(os.listdir(tmp_path / "k3s" / "nodes"))
    assert set(servers) < set(nodes)
    for node in nodes:
        cfg = yaml.safe_load(open(tmp_path / "k3s" / "nodes" / node / "config.yaml"))
        assert cfg["container-runtime-endpoint"] == SOCKET, node
        assert cfg["kubelet-arg"] == ["cgroup-driver=systemd"], node
        if node in servers:
            assert cfg["etcd-expose-metrics"] is True, node
            assert cfg["kube-controller-manager-arg"] == ["bind-address=%s" % cfg["node-ip"]], node
            assert cfg["kube-scheduler-arg"] == ["bind-address=%s" % cfg["node-ip"]], node
        else:
            assert "etcd-expose-metrics" not in cfg and "kube-scheduler-arg" not in cfg, node
