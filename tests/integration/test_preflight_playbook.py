"""The real site.yml refuses a bad inventory in its preflight, with every problem named once, before any other play
runs. Stage 1 (the inventory rules) runs on the controller before any host is contacted: a bad inventory of
unreachable hosts fails in seconds, and a fake ssh that records every connection proves no host was contacted.
Stage 2 (the host facts) runs after it. The local-connection hosts make this run anywhere."""

import os
import re
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
UNREACHABLE = os.path.join(ROOT, "tests", "integration", "inventories", "preflight-unreachable")

pytestmark = pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, ".collections")),
                                reason="run scripts/setup.sh first")


def run_site(tmp_path, inventory, *extra):
    if os.path.isdir(str(inventory)):
        inv = str(inventory)
    else:
        inv = tmp_path / "hosts.yml"
        inv.write_text(inventory)
    env = dict(os.environ, LC_ALL="C.UTF-8", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([PLAYBOOK, "-i", str(inv), os.path.join(ROOT, "site.yml"), *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def fake_ssh(tmp_path, delay=0):
    """An ssh client that records each connection attempt and fails it (exit 255: unreachable), after `delay`
    seconds, as a real ssh to an address nobody answers on does after its connect timeout."""
    log = tmp_path / "ssh.log"
    script = tmp_path / "fake-ssh"
    script.write_text("#!/bin/sh\necho \"$@\" >> %s\nsleep %d\nexit 255\n" % (log, delay))
    script.chmod(0o755)
    return ["-e", "ansible_ssh_executable=%s" % script], log


def assert_shown_once(text, lines):
    for line in lines:
        assert text.count(line) == 1, (line, text)


def recap(text):
    """{host: {ok, changed, unreachable, failed, ...}} from the PLAY RECAP."""
    out = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", text, re.M):
        out[host] = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", counts))
    return out


LOCAL = "ansible_connection: local, ansible_python_interpreter: '{{ ansible_playbook_python }}'"

UNREACHABLE_PROBLEMS = [
    "Host g1: gpu_mig_layout {1g.10gb: 7} asks for 1g.10gb, which the A30-24GB does not have; allowed profiles: "
    "1g.6gb (up to 4), 2g.12gb (up to 2), 4g.24gb (up to 1).",
    "MetalLB pool 'lab': 198.18.7.8/29 contains 198.18.7.11, which is already in use (node m1).",
    "MetalLB pool 'lab': 198.18.7.8/29 contains 198.18.7.12, which is already in use (node m2).",
    "MetalLB pool 'lab': 198.18.7.8/29 contains 198.18.7.13, which is already in use (node m3).",
    "MetalLB pool 'lab': 198.18.7.8/29 contains 198.18.7.10, which is already in use (the API VIP k8s_api_vip).",
    "k8s_distrubution (set for all hosts): no role of aiinfra.cluster reads it; did you mean k8s_distribution?",
]


@pytest.mark.parametrize("mode", [[], ["--check", "--diff"], ["--tags", "network"], ["--limit", "w1"]])
def test_bad_inventory_of_unreachable_hosts_fails_in_seconds_without_contacting_any(tmp_path, mode):
    """A MetalLB pool over the nodes and the VIP, a MIG layout the GPU model cannot hold and a misspelled variable
    stop site.yml in seconds, each named once, with no host contacted - also in check mode, with one layer's tag,
    and with --limit (the whole cluster group is still validated)."""
    ssh, log = fake_ssh(tmp_path, delay=60)
    start = time.monotonic()
    out = run_site(tmp_path, UNREACHABLE, *ssh, *mode)
    elapsed = time.monotonic() - start
    text = out.stdout + out.stderr
    assert out.returncode == 2, text
    assert "The inventory has 6 problem(s), listed above; no host was contacted and nothing was changed." in text
    assert_shown_once(text, UNREACHABLE_PROBLEMS)
    assert not log.exists(), log.read_text()  # no ssh connection was even attempted
    assert "UNREACHABLE" not in text and "Gathering Facts" not in text
    assert "check every host's OS" not in text  # stage 2 never started
    assert all(counts["changed"] == 0 for counts in recap(text).values()), text
    # ~7 s on an idle 2-core machine, up to ~17 s at load 14; any connection attempt would take 60 s (the fake
    # ssh's stand-in for a connect timeout)
    assert elapsed < 45, elapsed


def test_fixed_inventory_passes_the_controller_stage_and_only_then_contacts_the_hosts(tmp_path):
    """The control for the test above: the same inventory with the mistakes fixed (the misspelled variable kept as
    a warning) passes stage 1, and stage 2 then does try every host - the fake ssh sees them."""
    ssh, log = fake_ssh(tmp_path)
    fixed = ('{"k8s_metallb_pools": [{"name": "lab", "addresses": ["198.18.7.200-198.18.7.220"]}], '
             '"gpu_mig_layout": "all-1g.6gb", "preflight_unknown_variables": "warn"}')
    out = run_site(tmp_path, UNREACHABLE, *ssh, "-e", fixed, "--tags", "preflight")
    text = out.stdout + out.stderr
    assert "The inventory has" not in text
    assert_shown_once(text, ["[WARNING]: " + UNREACHABLE_PROBLEMS[-1]])
    contacted = set(re.findall(r"198\.18\.7\.\d+", log.read_text()))
    assert contacted == {"198.18.7.11", "198.18.7.12", "198.18.7.13", "198.18.7.21", "198.18.7.31"}
    assert out.returncode == 4 and "UNREACHABLE" in text, text


@pytest.mark.parametrize("mode", [[], ["--tags", "baseline"]])  # --check: see the unreachable-hosts test
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
    assert "The inventory has 4 problem(s), listed above; no host was contacted" in text
    assert_shown_once(text, ["k8s_distribution is 'rke2': it must be one of k3s, kubeadm.",
                             "Group k8s_control_plane has 2 hosts (m1, m2)",
                             "Host m2 is in both k8s_control_plane and k8s_workers",
                             "k8s_api_vip is not set: with 2 control-plane hosts"])
    assert "Gathering Facts" not in text  # the host stage never started
    assert "node_baseline" not in text  # the baseline play never started


def test_host_facts_are_checked_after_the_inventory(tmp_path):
    """An inventory that is sound on paper passes stage 1; stage 2 then finds what only the hosts' facts show (two
    "nodes" that are the same machine share a hostname; this machine is no supported OS version), before the
    baseline play starts."""
    inventory = f"""
all:
  vars:
    k8s_distribution: k3s
    k8s_version: v1.31.4+k3s1
    preflight_supported_os: {{Debian: ["11"]}}
    preflight_min_resources: {{control_plane: {{memory_mb: 1, disk_free_mb: 1}}}}
  children:
    k8s_cluster:
      children:
        k8s_control_plane:
          hosts:
            m1: {{{LOCAL}, k8s_node_ip: 198.18.9.1}}
        k8s_workers:
          hosts:
            w1: {{{LOCAL}, k8s_node_ip: 198.18.9.2}}
"""
    out = run_site(tmp_path, inventory, "--tags", "baseline")
    text = out.stdout + out.stderr
    assert out.returncode == 2, text
    before, after = text.split("check every host's OS", 1)
    assert "The inventory has" not in before
    assert "The hosts have" in after and "nothing was changed" in after
    assert_shown_once(text, ["Hosts m1, w1 share the hostname", "Host m1 runs Debian"])
    assert "node_baseline" not in text


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
    k8s_gitea_http_node_port: 30300
    k8s_registry_enabled: true
    k8s_registry_node_port: 5000
    k8s_storage_enabled: true
    k8s_storage_replicas: 3
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
    assert_shown_once(text, ["k8s_registry_node_port is 5000; Harbor's NodePort must be a port in 30000-32767",
                             "NodePort 30300 is given to k8s_gitea_http_node_port and k8s_grafana_node_port",
                             "k8s_storage_replicas is 3 but group k8s_cluster has 1 storage node(s) (m1)"])
    assert "k8s_registry_node_port is 5000; a NodePort must be in" not in text  # said once, by the registry rule
    assert "harbor" not in text.split("Validate what the inventory alone says")[0]  # nothing ran before the preflight
    assert "Install or upgrade Harbor" not in text


def test_lab_inventory_passes_the_controller_stage(tmp_path):
    """The documented lab inventory (MetalLB pool, GPU node variables, every variable known) is sound on paper:
    stage 1 passes; its hosts do not exist here, so the run ends at stage 2 (the fake ssh)."""
    ssh, log = fake_ssh(tmp_path)
    out = run_site(tmp_path, os.path.join(ROOT, "inventories", "lab"), *ssh, "--tags", "preflight")
    text = out.stdout + out.stderr
    assert "The inventory has" not in text and "[WARNING]: k8s_" not in text, text
    assert "192.168.56.11" in log.read_text()
