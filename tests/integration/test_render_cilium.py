"""playbooks/render.yml for two inventories (k3s + WireGuard, kubeadm + IPsec): the values that matter, the
manifests valid for each inventory's Kubernetes version, and a second render that changes nothing."""

import yaml

from ansible_env import ansible_playbook, kubeadm_ipsec, lab, needs_collection, only_roles
from ansible_env import validate_manifests as validate


def render(inventory, out):
    proc = ansible_playbook("-i", inventory, "playbooks/render.yml", "-e", "render_dir=%s" % out, *only_roles("cilium"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


pytestmark = needs_collection


def test_lab_k3s_wireguard(tmp_path):
    first = render("inventories/lab", tmp_path)
    values = yaml.safe_load((tmp_path / "cilium/values/cilium.yaml").read_text())
    assert values["encryption"] == {"enabled": True, "type": "wireguard", "nodeEncryption": False}
    assert values["kubeProxyReplacement"] is True
    # the VIP and the port haproxy serves on it (control_plane_vip), not the API servers' own 6443
    assert values["k8sServiceHost"] == "192.168.56.10" and values["k8sServicePort"] == 8443
    assert values["routingMode"] == "tunnel" and values["tunnelProtocol"] == "vxlan"
    # no login of its own: not on the nodes unless k8s_hubble_ui_node_port says so (#16)
    assert values["hubble"]["ui"]["service"] == {"type": "ClusterIP"}
    chart = yaml.safe_load((tmp_path / "cilium/helmchart.yaml").read_text())
    assert chart["spec"]["version"] == "1.16.6" and chart["spec"]["bootstrap"] is True
    assert yaml.safe_load(chart["spec"]["valuesContent"]) == values  # one source of values
    patch = yaml.safe_load((tmp_path / "cilium/patches/daemonset-restart.yaml").read_text())
    fingerprint = patch["spec"]["template"]["metadata"]["annotations"]["aiinfra.io/encryption-fingerprint"]
    assert len(fingerprint) == 16
    assert not (tmp_path / "cilium/ipsec-secret.yaml").exists()
    result = validate(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "against Kubernetes 1.31: 0 invalid" in result.stdout
    assert "changed=0" not in first.split("PLAY RECAP")[1]
    second = render("inventories/lab", tmp_path)
    assert "changed=0" in second.split("PLAY RECAP")[1]


def test_kubeadm_ipsec():
    tmp_path = kubeadm_ipsec().out
    values = yaml.safe_load((tmp_path / "cilium/values/cilium.yaml").read_text())
    assert values["encryption"] == {"enabled": True, "type": "ipsec", "nodeEncryption": False,
                                    "ipsec": {"secretName": "cilium-ipsec-keys"}}
    assert values["ipam"] == {"mode": "cluster-pool", "operator": {"clusterPoolIPv4PodCIDRList": ["10.244.0.0/16"],
                                                                   "clusterPoolIPv4MaskSize": 24}}
    assert values["hubble"]["ui"]["enabled"] is False
    assert values["operator"]["replicas"] == 1
    assert values["k8sServiceHost"] == "198.18.4.10" and values["k8sServicePort"] == 8443
    assert not (tmp_path / "cilium/helmchart.yaml").exists()  # kubeadm installs with helm
    secret = yaml.safe_load((tmp_path / "cilium/ipsec-secret.yaml").read_text())
    # the render never creates the key: controller_secret's check-mode stand-in, 40 hex digits
    assert secret["stringData"]["keys"] == "3+ rfc4106(gcm(aes)) %s 128" % ("0" * 40)
    result = kubeadm_ipsec().validation()
    assert result.returncode == 0, result.stdout
    assert "against Kubernetes 1.30: 0 invalid" in result.stdout


def test_fingerprint_follows_encryption_settings():
    def fp(d):
        patch = yaml.safe_load((d / "cilium/patches/daemonset-restart.yaml").read_text())
        return patch["spec"]["template"]["metadata"]["annotations"]["aiinfra.io/encryption-fingerprint"]
    assert fp(lab().out) != fp(kubeadm_ipsec().out)


def test_bad_settings_fail_before_rendering(tmp_path):
    proc = ansible_playbook("-i", "tests/integration/inventories/kubeadm-ipsec", "playbooks/render.yml",
                            "-e", "render_dir=%s" % tmp_path,
                            "-e", "cilium_encryption_node_encryption=true", "-e", "cilium_encryption_type=ipsec")
    assert proc.returncode == 2
    assert "node encryption is only offered with WireGuard" in proc.stdout
    assert not (tmp_path / "cilium").exists()


def test_single_control_plane_without_vip_uses_the_node(tmp_path):
    inv = tmp_path / "inv"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "hosts.yml").write_text("k8s_cluster:\n  children:\n    k8s_control_plane:\n      hosts:\n"
                                   "        solo: {ansible_host: 198.18.7.11}\n")
    (inv / "group_vars" / "all.yml").write_text("k8s_distribution: k3s\nk8s_version: v1.31.4+k3s1\nk8s_cni: cilium\n")
    render(str(inv), tmp_path / "out")
    values = yaml.safe_load((tmp_path / "out/cilium/values/cilium.yaml").read_text())
    assert values["k8sServiceHost"] == "198.18.7.11" and values["k8sServicePort"] == 6443
    assert values["operator"]["replicas"] == 1


def test_hubble_ui_on_a_node_port_only_when_asked(tmp_path):
    proc = ansible_playbook("-i", "inventories/lab", "playbooks/render.yml", "-e", "render_dir=%s" % tmp_path,
                            "-e", "k8s_hubble_ui_node_port=31235", *only_roles("cilium"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    values = yaml.safe_load((tmp_path / "cilium/values/cilium.yaml").read_text())
    assert values["hubble"]["ui"]["service"] == {"type": "NodePort", "nodePort": 31235}
