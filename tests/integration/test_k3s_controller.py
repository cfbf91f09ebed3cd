"""k3s on the controller side: the cluster token is generated once (0600, never logged, same on every run), and
every node's config.yaml renders from the inventory with the fields that matter."""

import stat

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
        k3s_token_file: %s/credentials/k3s-token
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
