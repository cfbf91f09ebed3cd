"""The cilium role's `k3s_manifest` entry point (a node play on the first k3s server, before the controller play of
`main`): it writes the HelmChart into k3s' auto-deploy directory and records the encryption settings of the manifest
it replaces (`cilium_encryption_installed`), which `main` compares with the wanted ones to decide whether running
agents must restart. Runs the role's own task file with ansible-playbook against a directory on this machine."""

import json
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

pytestmark = [
    pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, ".collections")), reason="run scripts/setup.sh first"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the manifest is written owned by root, as on a k3s server"),
]

PLAY = [{
    "name": "Cilium's k3s manifest", "hosts": "cp", "gather_facts": False,
    "tasks": [
        {"name": "Write the manifest", "ansible.builtin.import_role": {"name": "aiinfra.cluster.cilium",
                                                                       "tasks_from": "k3s_manifest"}},
        {"name": "Record what the entry point noted", "ansible.builtin.copy": {
            "dest": "{{ record }}", "content": "{{ cilium_encryption_installed | to_json }}", "mode": "0644"},
         "check_mode": False},
    ]}]


def run(tmp_path, name, *args):
    inventory = {"k8s_cluster": {"children": {"k8s_control_plane": {"hosts": {"cp": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_host": "198.18.7.11",
        "ansible_become": False}}}}},
        "all": {"vars": {"k8s_distribution": "k3s", "k8s_version": "v1.31.4+k3s1",
                         "cilium_k3s_manifests_dir": str(tmp_path / "manifests")}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(PLAY))
    record = tmp_path / ("%s.json" % name)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                           str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"), "-e", "record=%s" % record, *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    changed = int(proc.stdout.split("PLAY RECAP")[1].split("changed=")[1].split()[0])
    return json.loads(record.read_text()), changed - 1  # the record itself is always written


WIREGUARD = {"enable-wireguard": "true", "enable-ipsec": "false", "encrypt-node": "false"}


def test_first_install_then_unchanged_then_a_change_of_encryption(tmp_path):
    manifest = tmp_path / "manifests" / "aiinfra-cilium.yaml"
    (tmp_path / "manifests").mkdir()

    # check mode on a server without the manifest: nothing written, nothing installed before
    installed, changed = run(tmp_path, "check", "--check")
    assert installed is None and changed == 1 and not manifest.exists()

    installed, changed = run(tmp_path, "first")
    assert installed is None and changed == 1  # a first install: no agents to restart
    chart = yaml.safe_load(manifest.read_text())
    assert chart["kind"] == "HelmChart" and chart["spec"]["bootstrap"] is True
    assert yaml.safe_load(chart["spec"]["valuesContent"])["encryption"]["type"] == "wireguard"
    assert oct(manifest.stat().st_mode & 0o777) == "0o600"

    installed, changed = run(tmp_path, "again")
    assert installed == WIREGUARD and changed == 0  # same settings: main restarts nothing

    installed, changed = run(tmp_path, "ipsec", "-e", "cilium_encryption_type=ipsec")
    assert installed == WIREGUARD and changed == 1  # the agents run WireGuard until main restarts them
    values = yaml.safe_load(yaml.safe_load(manifest.read_text())["spec"]["valuesContent"])
    assert values["encryption"] == {"enabled": True, "type": "ipsec", "nodeEncryption": False,
                                    "ipsec": {"secretName": "cilium-ipsec-keys"}}

    installed, _changed = run(tmp_path, "after-ipsec")
    assert installed == {"enable-wireguard": "false", "enable-ipsec": "true", "encrypt-node": "false"}
