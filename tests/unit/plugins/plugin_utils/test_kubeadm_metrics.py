"""Issue 13 item 10 (kubeadm): etcd, controller-manager and scheduler metrics reachable from another node, in
both ClusterConfiguration formats (v1beta3 maps, v1beta4 name/value lists), valid against schemas/config."""

import importlib.util
import os

import pytest

from ansible_collections.aiinfra.cluster.plugins.plugin_utils import kubeadm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
spec = importlib.util.spec_from_file_location("validate_manifests", os.path.join(ROOT, "scripts", "validate_manifests.py"))
vm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vm)

BASE = {"kubernetes_version": "v1.31.4", "node_ip": "10.0.0.11", "node_name": "m1",
        "control_plane_endpoint": "10.0.0.10:8443", "pod_subnet": "10.244.0.0/16", "service_subnet": "10.96.0.0/12",
        "token": "abc123.0123456789abcdef", "certificate_key": "f" * 64}


def args(section):
    extra = section["extraArgs"]
    return dict(extra) if isinstance(extra, dict) else {a["name"]: a["value"] for a in extra}


@pytest.mark.parametrize("version,api", [("v1.31.4", "kubeadm.k8s.io/v1beta4"), ("v1.30.8", "kubeadm.k8s.io/v1beta3")])
@pytest.mark.parametrize("bind,url", [
    (None, "http://0.0.0.0:2381"),            # the role's default: every address of each node
    ("0.0.0.0", "http://0.0.0.0:2381"),
    ("::", "http://[::]:2381"),
    ("127.0.0.1", "http://127.0.0.1:2381"),   # private again
])
def test_metrics_listen_beyond_loopback(version, api, bind, url):
    s = dict(BASE, kubernetes_version=version)
    if bind is not None:
        s["metrics_bind_address"] = bind
    cluster = kubeadm.cluster_configuration(s)
    assert cluster["apiVersion"] == api
    assert args(cluster["etcd"]["local"]) == {"listen-metrics-urls": url}
    assert args(cluster["controllerManager"])["bind-address"] == (bind or "0.0.0.0")
    assert args(cluster["scheduler"])["bind-address"] == (bind or "0.0.0.0")
    assert vm.validate_config(cluster) == []


def test_the_shared_configuration_never_carries_the_first_nodes_address():
    # kubeadm uploads the ClusterConfiguration and every joining control plane reads it back: an address of node 1
    # there would make etcd and the controller manager fail to bind on nodes 2 and 3
    cluster = kubeadm.cluster_configuration(BASE)
    assert "10.0.0.11" not in str(cluster["etcd"]) + str(cluster["controllerManager"]) + str(cluster["scheduler"])


def test_explicit_extra_args_win_over_the_metrics_defaults():
    cluster = kubeadm.cluster_configuration(dict(BASE, scheduler_extra_args={"bind-address": "127.0.0.1", "v": 2}))
    assert args(cluster["scheduler"]) == {"bind-address": "127.0.0.1", "v": "2"}
    assert args(cluster["controllerManager"]) == {"bind-address": "0.0.0.0"}


@pytest.mark.parametrize("bad", ["", "node1", "0.0.0.0:2381", "http://0.0.0.0"])
def test_a_metrics_address_that_is_not_an_address_is_refused(bad):
    with pytest.raises(kubeadm.KubeadmError, match="metrics bind address must be an IP address"):
        kubeadm.cluster_configuration(dict(BASE, metrics_bind_address=bad))


def test_api_server_shutdown_delay_is_in_the_cluster_configuration_and_extra_args_win():
    # the VIP's haproxy checks /readyz: the delay keeps a stopping API server serving until it is out of rotation
    cluster = kubeadm.cluster_configuration(dict(BASE, apiserver_shutdown_delay="6s"))
    args = {a["name"]: a["value"] for a in cluster["apiServer"]["extraArgs"]}
    assert args["shutdown-delay-duration"] == "6s"
    assert args["encryption-provider-config"] == "/etc/kubernetes/enc/encryption-config.yaml"
    none = kubeadm.cluster_configuration(dict(BASE, apiserver_shutdown_delay=""))
    assert "shutdown-delay-duration" not in {a["name"] for a in none["apiServer"]["extraArgs"]}
    override = kubeadm.cluster_configuration(dict(BASE, apiserver_shutdown_delay="6s",
                                                  apiserver_extra_args={"shutdown-delay-duration": "20s"}))
    assert {a["name"]: a["value"] for a in override["apiServer"]["extraArgs"]}["shutdown-delay-duration"] == "20s"
