"""k3s on the controller side: the cluster token is generated once (0600, never logged, same on every run; its file in
the facts layer's k8s_credentials_dir), every node's config.yaml renders from the inventory with the fields that
matter, and nothing is installed or run that does not match the release's sha256 (issue 16)."""

import hashlib
import json
import os
import stat

import pytest
import yaml

from ansible_env import ansible_playbook, needs_collection, only_roles

pytestmark = needs_collection


def playbook(path, *args):
    proc = ansible_playbook(path, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_token_generated_once_and_never_logged(tmp_path):
    play = tmp_path / "token.yml"
    play.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: aiinfra.cluster.k3s
        tasks_from: token
      vars:
        k8s_credentials_dir: %s/credentials
    - ansible.builtin.copy:
        dest: %s/seen
        content: "{{ k3s_token }}"
        mode: "0600"
""" % (tmp_path, tmp_path))
    first = playbook(play, "-v")
    token_file = tmp_path / "credentials" / "k3s-token"
    token = token_file.read_text().strip()
    assert len(token) == 48 and token.isalnum()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "credentials").stat().st_mode) == 0o700
    assert (tmp_path / "seen").read_text() == token  # the play reads back what it generated
    assert token not in first
    second = playbook(play, "-v")
    assert token_file.read_text().strip() == token
    assert "changed=0" in second.split("PLAY RECAP")[1]
    assert token not in second


def test_node_configs_render(tmp_path):
    playbook("playbooks/render.yml", "-i", "inventories/lab", "-e", "render_dir=%s" % tmp_path, *only_roles("k3s"))

    def cfg(host):
        return yaml.safe_load((tmp_path / "k3s" / "nodes" / host / "config.yaml").read_text())
    m1, m2, w1, g1 = cfg("m1"), cfg("m2"), cfg("w1"), cfg("g1")
    assert m1["cluster-init"] is True and "server" not in m1
    assert "192.168.56.10" in m1["tls-san"] and m1["secrets-encryption"] is True
    assert m1["flannel-backend"] == "none" and m1["disable-kube-proxy"] is True
    assert m2["server"] == "https://192.168.56.10:8443" and "cluster-init" not in m2
    # every node's kubelet on the node's one containerd (node_baseline's), with its systemd cgroup driver
    assert w1 == {"node-ip": "192.168.56.21", "node-name": "w1", "server": "https://192.168.56.10:8443",
                  "token-file": "/etc/rancher/k3s/cluster-token",
                  "container-runtime-endpoint": "unix:///run/containerd/containerd.sock",
                  "kubelet-arg": ["cgroup-driver=systemd"]}
    assert all(c["container-runtime-endpoint"] == "unix:///run/containerd/containerd.sock" for c in (m1, m2, g1))
    # the control-plane metrics the observability layer scrapes, on the node address
    assert m1["etcd-expose-metrics"] is True
    assert "bind-address=192.168.56.11" in m1["kube-scheduler-arg"]
    assert g1["node-taint"] == ["nvidia.com/gpu=present:NoSchedule"]
    assert all("token" not in k or k == "token-file" for c in (m1, m2, w1, g1) for k in c)


# --- issue 16: the binary, the air-gap images and the install script are checked before anything runs as root ------
# The role's `install` entry point on localhost, its sources file:// directories standing in for the release on
# GitHub (online) or for the controller's air-gap directory, and a stand-in install.sh that records that it ran
# (with INSTALL_K3S_SKIP_DOWNLOAD: it downloads nothing itself). Real get_url, real sha256 checks.

INSTALL_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: aiinfra.cluster.k3s
        tasks_from: install
"""
SCRIPT = ('#!/bin/sh\n'
          'echo "ran skip_download=$INSTALL_K3S_SKIP_DOWNLOAD exec=$INSTALL_K3S_EXEC" > "$INSTALL_K3S_BIN_DIR/ran"\n')


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def release(tmp_path, name, binary=b"\x7fELF k3s v1.31.4+k3s1", images=b"zstd images", listed_binary=None,
            listed_images=None):
    """A release directory: k3s, install.sh, the images and sha256sum-amd64.txt (listing what is given)."""
    d = tmp_path / name
    d.mkdir()
    (d / "k3s").write_bytes(binary)
    (d / "install.sh").write_text(SCRIPT)
    (d / "k3s-airgap-images-amd64.tar.zst").write_bytes(images)
    (d / "sha256sum-amd64.txt").write_text(
        "%s  k3s\n%s  k3s-airgap-images-amd64.tar.zst\n%s  k3s-images.txt\n"
        % (sha256(listed_binary or binary), sha256(listed_images or images), "0" * 64))
    return d


def install(tmp_path, source, airgap=False, script_sha=None, check=False):
    play = tmp_path / "install.yml"
    play.write_text(INSTALL_PLAY)
    for sub in ("bin", "images"):
        (tmp_path / sub).mkdir(exist_ok=True)
    extra = {"k8s_credentials_dir": str(tmp_path / "credentials"),
             "k3s_version": "v1.31.4+k3s1", "k3s_node_role": "server",
             "k3s_install_script_sha256": sha256(SCRIPT.encode()) if script_sha is None else script_sha,
             "k3s_bin_dir": str(tmp_path / "bin"), "k3s_airgap_images_dir": str(tmp_path / "images"),
             "k3s_stage_dir": str(tmp_path / "stage")}
    if airgap:
        extra["k3s_airgap_dir"] = str(source)
    else:
        extra.update(k3s_release_url="file://%s" % source, k3s_install_script_url="file://%s/install.sh" % source)
    args = [play, "-e", json.dumps(extra)] + (["--check"] if check else [])
    proc = ansible_playbook(*args)
    return proc.returncode, proc.stdout + proc.stderr


def test_online_install_checks_binary_and_script_then_runs_the_script(tmp_path):
    src = release(tmp_path, "github")
    rc, out = install(tmp_path, src)
    assert rc == 0, out
    assert (tmp_path / "bin" / "k3s").read_bytes() == (src / "k3s").read_bytes()
    assert stat.S_IMODE((tmp_path / "bin" / "k3s").stat().st_mode) == 0o755
    assert (tmp_path / "bin" / "ran").read_text() == "ran skip_download=true exec=server\n"


def test_online_binary_that_differs_from_the_release_checksums_is_refused(tmp_path):
    src = release(tmp_path, "github", listed_binary=b"the release's real binary")
    rc, out = install(tmp_path, src)
    assert rc != 0
    assert "Install the k3s binary, checked against the release's sha256sum-amd64.txt" in out
    assert "did not match" in out
    assert not (tmp_path / "bin" / "k3s").exists() and not (tmp_path / "bin" / "ran").exists()


def test_install_script_that_differs_from_the_pinned_sha256_never_runs(tmp_path):
    src = release(tmp_path, "github")
    rc, out = install(tmp_path, src, script_sha="a" * 64)
    assert rc != 0 and "did not match" in out
    assert not (tmp_path / "bin" / "k3s-install.sh").exists() and not (tmp_path / "bin" / "ran").exists()


@pytest.mark.parametrize("pin", ["", "not-a-sha", "a" * 63])
def test_an_unpinned_install_script_is_refused_before_anything_is_installed(tmp_path, pin):
    src = release(tmp_path, "github")
    rc, out = install(tmp_path, src, script_sha=pin)
    assert rc != 0 and "k3s_install_script_sha256 must be the sha256 (64 hex digits)" in out
    assert os.listdir(tmp_path / "bin") == []


def test_airgap_install_checks_every_file_then_removes_the_staged_copies(tmp_path):
    src = release(tmp_path, "airgap")
    rc, out = install(tmp_path, src, airgap=True)
    assert rc == 0, out
    assert (tmp_path / "images" / "k3s-airgap-images-amd64.tar.zst").read_bytes() == b"zstd images"
    assert (tmp_path / "bin" / "k3s").read_bytes() == (src / "k3s").read_bytes()
    assert (tmp_path / "bin" / "ran").read_text() == "ran skip_download=true exec=server\n"
    assert not (tmp_path / "stage").exists()


@pytest.mark.parametrize("tampered", ["binary", "images"])
def test_airgap_file_that_differs_from_the_release_checksums_is_refused(tmp_path, tampered):
    kwargs = {"listed_binary": b"real"} if tampered == "binary" else {"listed_images": b"real images"}
    src = release(tmp_path, "airgap", **kwargs)
    rc, out = install(tmp_path, src, airgap=True)
    assert rc != 0 and "did not match" in out
    assert not (tmp_path / "bin" / "ran").exists()
    assert not (tmp_path / "images" / "k3s-airgap-images-amd64.tar.zst").exists()


def test_check_mode_installs_nothing(tmp_path):
    src = release(tmp_path, "github")
    rc, out = install(tmp_path, src, check=True)
    assert rc == 0, out
    assert os.listdir(tmp_path / "bin") == []
