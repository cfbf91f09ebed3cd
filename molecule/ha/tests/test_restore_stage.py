"""Issue 13 item 3: restore.yml's node side on three control-plane nodes. Only node1 had /var/backups/etcd before
(prepare.yml: a backup ran there); after converge every node has it (root, 0700) and holds the controller's
snapshot byte for byte (0600). converge already ran `etcdctl snapshot status` on each copy (etcd_snapshot verify)."""

import hashlib
import os

SNAPSHOT = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "etcd-20261201T000000Z.db")


def test_snapshot_directory_on_every_control_plane(host):
    d = host.file("/var/backups/etcd")
    assert d.is_directory and d.user == "root" and d.group == "root" and d.mode == 0o700


def test_snapshot_copied_to_every_control_plane(host):
    with open(SNAPSHOT, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    copy = host.file("/var/backups/etcd/restore-" + os.path.basename(SNAPSHOT))
    assert copy.is_file and copy.mode == 0o600 and copy.user == "root"
    assert copy.sha256sum == want


def test_staged_snapshot_reads_back_with_etcdctl(host):
    out = host.check_output("ETCDCTL_API=3 etcdctl snapshot status -w json /var/backups/etcd/restore-%s",
                            os.path.basename(SNAPSHOT))
    assert '"totalKey"' in out
