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


@pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, ".collections")), reason="run scripts/setup.sh first")
def test_platform_services_checked_before_any_change(tmp_path):
    """A NodePort clash, a registry port outside the NodePort range and more Longhorn replicas than storage nodes
    stop site.yml in the preflight, even when only the registry layer is asked for."""
    inventory = f"""
all:
  vars:
    k8s_distribution: k3s
    k8s_version: v1.31.4+k3s1
    k8s_observability_enabled: true
    k8s_ci_enabled: true
    gitea_http_node_port: 30300
    k8s_registry_enabled: true
    k8s_registry_node_port: 5000
    k8s_storage_enabled: true
    longhorn_replica_count: 3
  children:
    k8s_cluster:
      children:
        k8s_control_plane:
          hosts:
            m1: {{{LOCAL}, k8s_node_ip: 198.18.9.1}}
"""
    out = run_site(tmp_path, inventory, "--tags", "registry")
    assert out.returncode == 2, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert "k8s_registry_node_port is 5000; Harbor's NodePort must be a port in 30000-32767" in text
    assert "NodePort 30300 is given to gitea_http_node_port and observability_grafana_node_port" in text
    assert "k8s_registry_node_port is 5000; a NodePort must be in" not in text  # said once, by the registry rule
    assert "longhorn_replica_count is 3 but group k8s_cluster has 1 storage node(s) (m1)" in text
    assert "harbor" not in text.split("Validate the inventory")[0]  # nothing ran before the preflight
    assert "Install or upgrade Harbor" not in text
