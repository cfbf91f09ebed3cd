"""kubeadm on the controller side: credentials are generated once (0600 in a 0700 directory, never logged, the same
on every run), the encryption key rotates declaratively (a new write key first, old keys kept, a repeat changes
nothing), and every node's kubeadm configuration renders and validates against the config schemas: the init token
short-lived, the certificate key of an upload-certs run in its own --config file with no token (issue 16)."""

import base64
import os
import re
import stat

import pytest
import yaml

from ansible_env import ansible_playbook, needs_collection, only_roles, validate_manifests

pytestmark = needs_collection

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: aiinfra.cluster.kubeadm
        tasks_from: credentials
      vars:
        k8s_credentials_dir: %(dir)s/credentials
        kubeadm_encryption_key_name: "{{ key_name | default('key-1') }}"
    - ansible.builtin.copy:
        dest: %(dir)s/seen
        content: "{{ kubeadm_token }} {{ kubeadm_certificate_key }} {{ kubeadm_encryption_keys | map(attribute='name') | join(',') }}"
        mode: "0600"
"""


def playbook(path, *args):
    proc = ansible_playbook(path, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def recap_changed(out):
    return int(re.search(r"changed=(\d+)", out.split("PLAY RECAP")[1]).group(1))


def test_credentials_generated_once_never_logged_and_rotated(tmp_path):
    play = tmp_path / "creds.yml"
    play.write_text(PLAY % {"dir": tmp_path})
    creds = tmp_path / "credentials"
    first = playbook(play, "-v")
    token = (creds / "kubeadm-bootstrap-token").read_text().strip()
    cert_key = (creds / "kubeadm-certificate-key").read_text().strip()
    keys = yaml.safe_load((creds / "kubeadm-encryption-keys.yml").read_text())["keys"]
    assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", token)
    assert re.fullmatch(r"[a-f0-9]{64}", cert_key)
    assert [k["name"] for k in keys] == ["key-1"] and len(base64.b64decode(keys[0]["secret"])) == 32
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700
    for name in ("kubeadm-bootstrap-token", "kubeadm-certificate-key", "kubeadm-encryption-keys.yml"):
        assert stat.S_IMODE((creds / name).stat().st_mode) == 0o600, name
    assert (tmp_path / "seen").read_text() == "%s %s key-1" % (token, cert_key)
    for secret in (token, cert_key, keys[0]["secret"]):
        assert secret not in first

    second = playbook(play, "-v")
    assert recap_changed(second) == 0
    assert (creds / "kubeadm-bootstrap-token").read_text().strip() == token
    assert yaml.safe_load((creds / "kubeadm-encryption-keys.yml").read_text())["keys"] == keys

    rotated = playbook(play, "-v", "-e", "key_name=key-2")
    keys2 = yaml.safe_load((creds / "kubeadm-encryption-keys.yml").read_text())["keys"]
    assert [k["name"] for k in keys2] == ["key-2", "key-1"] and keys2[1] == keys[0]
    assert keys2[0]["secret"] not in rotated and len(base64.b64decode(keys2[0]["secret"])) == 32
    again = playbook(play, "-e", "key_name=key-2")
    assert recap_changed(again) == 0
    assert yaml.safe_load((creds / "kubeadm-encryption-keys.yml").read_text())["keys"] == keys2


def docs(path):
    return {d["kind"]: d for d in yaml.safe_load_all(path.read_text()) if d}


@pytest.mark.parametrize("version, api", [("v1.31.4", "kubeadm.k8s.io/v1beta4"), ("1.30.8", "kubeadm.k8s.io/v1beta3")])
def test_lab_renders_as_a_kubeadm_cluster(tmp_path, version, api):
    playbook("playbooks/render.yml", "-i", "inventories/lab", "-e", "render_dir=%s" % tmp_path,
             "-e", "k8s_distribution=kubeadm", "-e", "k8s_version=%s" % version, *only_roles("kubeadm"))
    nodes = tmp_path / "kubeadm" / "nodes"
    assert sorted(os.listdir(nodes)) == ["_control_plane", "g1", "m1", "m2", "m3", "w1"]
    m1, m2, g1 = docs(nodes / "m1" / "kubeadm-config.yaml"), docs(nodes / "m2" / "kubeadm-config.yaml"), \
        docs(nodes / "g1" / "kubeadm-config.yaml")
    assert set(m1) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"}
    assert m1["ClusterConfiguration"]["apiVersion"] == api
    assert m1["ClusterConfiguration"]["controlPlaneEndpoint"] == "192.168.56.10:8443"
    assert m1["ClusterConfiguration"]["kubernetesVersion"] == "v" + version.lstrip("v")
    assert "192.168.56.10" in m1["ClusterConfiguration"]["apiServer"]["certSANs"]
    assert m1["InitConfiguration"]["skipPhases"] == ["addon/kube-proxy"]
    assert m2["JoinConfiguration"]["controlPlane"]["localAPIEndpoint"]["advertiseAddress"] == "192.168.56.12"
    assert m2["JoinConfiguration"]["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "192.168.56.10:8443"
    assert "controlPlane" not in g1["JoinConfiguration"]
    assert g1["JoinConfiguration"]["nodeRegistration"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    assert all(d["KubeletConfiguration"]["cgroupDriver"] == "systemd" for d in (m1, m2, g1))
    # issue 16: the init token lives 15 minutes (each join gets its own fresh token); the certificate key reaches
    # `kubeadm init phase upload-certs` in a --config file of its own, with the cluster's configuration and no token
    assert [t["ttl"] for t in m1["InitConfiguration"]["bootstrapTokens"]] == ["15m0s"]
    upload = docs(nodes / "m1" / "kubeadm-upload-certs.yaml")
    assert set(upload) == {"InitConfiguration", "ClusterConfiguration"}
    assert upload["InitConfiguration"]["certificateKey"] == m1["InitConfiguration"]["certificateKey"]
    assert "bootstrapTokens" not in upload["InitConfiguration"]
    assert upload["ClusterConfiguration"] == m1["ClusterConfiguration"]
    assert not (nodes / "m2" / "kubeadm-upload-certs.yaml").exists()
    enc = yaml.safe_load((nodes / "_control_plane" / "encryption-config.yaml").read_text())
    assert list(enc["resources"][0]["providers"][0]) == ["aescbc"]
    out = validate_manifests(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "7 node files (14 configuration documents)" in out.stdout
