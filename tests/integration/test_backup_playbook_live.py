"""playbooks/backup.yml end to end against a real 3-member etcd (Debian's etcd-server): each run saves a verified
snapshot, copies it to the controller (0600 in a 0700 directory) and prunes both places to the retention; check
mode writes nothing; without quorum the play fails with the module's message and writes nothing."""

import json
import os
import re
import shutil
import stat
import subprocess
import sys

import pytest

from ansible_env import ansible_playbook, needs_collection
from etcd_cluster import Cluster

pytestmark = [
    pytest.mark.skipif(shutil.which("etcd") is None and not os.environ.get("CI"),
                       reason="needs etcd-server and etcd-client (CI always runs it)"),
    needs_collection,
]


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(base_port=44000)
    c.start()
    c.etcdctl("put", "/registry/secrets/default/s1", "v1")
    yield c
    c.stop()


def inventory(tmp_path, cluster):
    inv = {"k8s_cluster": {"children": {"k8s_control_plane": {"hosts": {"cp1": {
        "ansible_connection": "local", "ansible_host": "127.0.0.1", "ansible_python_interpreter": sys.executable,
        "k8s_distribution": "kubeadm", "etcd_backup_endpoints": cluster.endpoints, "etcd_backup_client": {},
        "etcd_backup_node_dir": str(tmp_path / "node"), "etcd_backup_controller_dir": str(tmp_path / "controller"),
        "etcd_backup_retention": 2}}}}}}
    path = tmp_path / "hosts.yml"
    path.write_text(json.dumps(inv))
    return str(path)


def backup(inv, *args):
    return ansible_playbook("playbooks/backup.yml", "-i", inv, *args)


def snaps(path):
    return sorted(n for n in os.listdir(path) if re.fullmatch(r"etcd-\d{8}T\d{6}Z\.db", n)) if path.exists() else []


def test_backup_playbook(cluster, tmp_path):
    inv = inventory(tmp_path, cluster)
    check = backup(inv, "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert snaps(tmp_path / "node") == [] and snaps(tmp_path / "controller") == []

    for _run in range(3):
        run = backup(inv)
        assert run.returncode == 0, run.stdout + run.stderr
    node, ctrl = snaps(tmp_path / "node"), snaps(tmp_path / "controller")
    assert len(node) == 2 and node == ctrl  # the two newest, in both places
    assert stat.S_IMODE((tmp_path / "controller").stat().st_mode) == 0o700
    assert all(stat.S_IMODE((tmp_path / "controller" / n).stat().st_mode) == 0o600 for n in ctrl)
    # what reached the controller is a real snapshot: etcdctl reads its hash, revision and keys
    status = subprocess.run(["etcdctl", "snapshot", "status", str(tmp_path / "controller" / ctrl[-1]), "-w", "json"],
                            env=dict(os.environ, ETCDCTL_API="3"), capture_output=True, text=True, check=True)
    assert json.loads(status.stdout)["totalKey"] >= 1

    cluster.members[1].kill()
    cluster.members[2].kill()
    refused = backup(inv)
    assert refused.returncode == 2
    assert "Not saving a snapshot: etcd has no quorum: 0 of 3 members healthy, 2 needed" in refused.stdout
    assert snaps(tmp_path / "node") == node and snaps(tmp_path / "controller") == ctrl
