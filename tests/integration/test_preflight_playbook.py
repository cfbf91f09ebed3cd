"""The real site.yml refuses a bad inventory in its preflight play, with every problem named, before any
other play runs. The hosts are the controller itself (local connection), so this runs anywhere."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def run_site(tmp_path, inventory, *extra):
    inv = tmp_path / "hosts.yml"
    inv.write_text(inventory)
    env = dict(os.environ, LC_ALL="C.UTF-8", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([PLAYBOOK, "-i", str(inv), os.path.join(ROOT, "site.yml"), *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


LOCAL = "ansible_connection: local, ansible_python_interpreter: '{{ ansible_playbook_python }}'"


@pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, ".collections")), reason="run scripts/setup.sh first")
@pytest.mark.parametrize("mode", [[], ["--check", "--diff"], ["--tags", "baseline"]])
def test_bad_inventory_stops_before_any_change(tmp_path, mode):
    inventory = f"""
all:
  vars:
    k8s_distribution: rke2
    k8s_version: v1.31.4+k3s1
  children:
    k8s_cluster:
      children:
        k8s_control_plane:
          hosts:
            m1: {{{LOCAL}, k8s_node_ip: 198.18.9.1}}
            m2: {{{LOCAL}, k8s_node_ip: 198.18.9.2}}
        k8s_workers:
          hosts:
            m2: {{}}
"""
    out = run_site(tmp_path, inventory, *mode)
    assert out.returncode == 2, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert "The inventory has 5 problem(s); nothing was changed." in text
    assert "k8s_distribution is 'rke2': it must be one of k3s, kubeadm." in text
    assert "Group k8s_control_plane has 2 hosts (m1, m2)" in text
    assert "Host m2 is in both k8s_control_plane and k8s_workers" in text
    assert "k8s_api_vip is not set: with 2 control-plane hosts" in text
    assert "Hosts m1, m2 share the hostname" in text  # both "hosts" are this machine
    assert "node_baseline" not in text  # the baseline play never started
