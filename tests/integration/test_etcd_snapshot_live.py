"""etcd_snapshot against a real 3-member etcd cluster: save, verify, restore (the restored member serves the
same keys), quorum kept with one member down, a clear refusal with two down, check mode, prune."""

import os
import shutil
import time

import pytest

from etcd_cluster import Cluster, Member
from moduleproc import run_module

pytestmark = pytest.mark.skipif(shutil.which("etcd") is None and not os.environ.get("CI"),
                                reason="needs etcd-server and etcd-client (CI always runs it)")

KEYS = {"/registry/secrets/default/s%d" % i: "value-%d" % i for i in range(10)}


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    c.start()
    for k, v in KEYS.items():
        c.etcdctl("put", k, v)
    yield c
    c.stop()


def snap_args(cluster, tmp_path, **extra):
    args = {"command": "save", "endpoints": cluster.endpoints, "snapshot_dir": str(tmp_path / "snaps")}
    args.update(extra)
    return args


def test_save_verify_restore(cluster, tmp_path):
    rc, out = run_module("etcd_snapshot", snap_args(cluster, tmp_path))
    assert rc == 0 and out["changed"] is True, out
    path = out["snapshot"]
    assert os.path.isfile(path) and oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert out["status"]["revision"] >= len(KEYS) and out["status"]["total_keys"] >= len(KEYS)
    assert all(h["healthy"] for h in out["health"]) and "3 of 3 members healthy" in out["msg"]

    rc, verified = run_module("etcd_snapshot", {"command": "verify", "snapshot": path})
    assert rc == 0 and verified["changed"] is False and verified["status"] == out["status"]

    data_dir = str(tmp_path / "restored")
    restore = {"command": "restore", "snapshot": path, "data_dir": data_dir, "name": "r1",
               "initial_cluster": "r1=http://127.0.0.1:42101", "initial_advertise_peer_urls": ["http://127.0.0.1:42101"]}
    rc, restored = run_module("etcd_snapshot", restore)
    assert rc == 0 and restored["changed"] is True, restored
    rc, again = run_module("etcd_snapshot", restore)
    assert rc == 0 and again["changed"] is False and "already holds data" in again["msg"]

    member = Member("r1", "http://127.0.0.1:42100", "http://127.0.0.1:42101", data_dir)
    member.start("r1=http://127.0.0.1:42101", token="etcd-restored")
    try:
        cluster.wait_healthy([member.client])
        got = cluster.etcdctl("get", "--prefix", "/registry/secrets/", "-w", "simple", endpoints=[member.client]).stdout
        lines = got.splitlines()
        assert dict(zip(lines[0::2], lines[1::2])) == KEYS
    finally:
        member.kill()


def test_check_mode_writes_nothing(cluster, tmp_path):
    rc, out = run_module("etcd_snapshot", snap_args(cluster, tmp_path, _ansible_check_mode=True))
    assert rc == 0 and out["changed"] is True and out["msg"].startswith("would save from")
    assert not (tmp_path / "snaps").exists()


def test_prune_keeps_newest(cluster, tmp_path):
    d = tmp_path / "snaps"
    d.mkdir()
    names = ["etcd-2026112%dT000000Z.db" % i for i in range(1, 6)] + ["other-20261125T000000Z.db", "notes.txt"]
    for n in names:
        (d / n).write_bytes(b"x")
    rc, out = run_module("etcd_snapshot", {"command": "prune", "snapshot_dir": str(d), "retention": 2,
                                           "_ansible_check_mode": True})
    assert rc == 0 and out["changed"] is True and len(out["deleted"]) == 3 and len(os.listdir(d)) == 7
    # prune only deletes files: it runs where etcdctl is absent (the controller's copies)
    rc, out = run_module("etcd_snapshot", {"command": "prune", "snapshot_dir": str(d), "retention": 2,
                                           "etcdctl": "/nonexistent/etcdctl"})
    assert rc == 0, out
    assert sorted(os.listdir(d)) == ["etcd-20261124T000000Z.db", "etcd-20261125T000000Z.db", "notes.txt",
                                     "other-20261125T000000Z.db"]
    rc, out = run_module("etcd_snapshot", {"command": "prune", "snapshot_dir": str(d), "retention": 2})
    assert out["changed"] is False


def test_bad_input_against_the_real_cluster(cluster, tmp_path):
    """Issue 16: snapshot_dir that is a file crashed save (FileExistsError) and made list report no snapshots; now
    each is one clear failure, before etcdctl runs and with nothing written."""
    (tmp_path / "file").write_text("not a directory\n")
    for command in ("save", "list", "prune"):
        args = snap_args(cluster, tmp_path, command=command, snapshot_dir=str(tmp_path / "file"))
        rc, out = run_module("etcd_snapshot", args)
        assert rc == 1 and out["failed"] is True and "exception" not in out, out
        assert out["msg"] == ("etcd_snapshot %s: snapshot_dir %s exists and is not a directory: remove it or give "
                              "another directory. Nothing was changed." % (command, tmp_path / "file"))
    rc, out = run_module("etcd_snapshot", {"command": "verify", "snapshot": str(tmp_path)})
    assert rc == 1 and "snapshot %s is a directory, not a snapshot file" % tmp_path in out["msg"]
    rc, out = run_module("etcd_snapshot", snap_args(cluster, tmp_path, prefix="../escape"))
    assert rc == 1 and "prefix '../escape' is not a file name prefix" in out["msg"]
    assert sorted(os.listdir(str(tmp_path))) == ["file"] and not os.path.exists(str(tmp_path.parent / "escape"))


def test_quorum_drill(cluster, tmp_path, capsys):
    """Kill one member: quorum holds and a snapshot is saved. Kill a second: refused, nothing written."""
    cluster.members[2].kill()
    start = time.monotonic()
    while cluster.etcdctl("put", "/drill/after-one-down", "yes", endpoints=cluster.endpoints[:2],
                          check=False).returncode != 0:  # a new leader may need electing
        assert time.monotonic() - start < 15, "writes did not resume with 2 of 3 members"
        time.sleep(0.1)
    write_resumed = time.monotonic() - start
    start = time.monotonic()
    rc, out = run_module("etcd_snapshot", snap_args(cluster, tmp_path))
    one_down = time.monotonic() - start
    assert rc == 0 and "2 of 3 members healthy" in out["msg"], out
    assert [h["healthy"] for h in out["health"]] == [True, True, False]

    cluster.members[1].kill()
    start = time.monotonic()
    rc, out = run_module("etcd_snapshot", snap_args(cluster, tmp_path / "second"))
    two_down = time.monotonic() - start
    assert rc == 1 and out["failed"] is True
    # without quorum even the surviving member cannot answer a linearizable read
    # etcdctl words the surviving member's timeout either as "context deadline exceeded" or as
    # "rpc error: ... DeadlineExceeded", depending on which side of the call gives up first
    msg = out["msg"]
    assert msg.startswith("Not saving a snapshot: etcd has no quorum: 0 of 3 members healthy, 2 needed; "
                          "unhealthy: http://127.0.0.1:42010 ("), msg
    assert all(ep in msg for ep in cluster.endpoints), msg
    assert "deadline" in msg.lower() and msg.endswith("Restore quorum first (or restore from an earlier snapshot)."), msg
    assert not (tmp_path / "second").exists()
    with capsys.disabled():
        print("\netcd drill: write after one member down %.2fs; save with 2/3 %.2fs; refusal with 1/3 %.2fs"
              % (write_resumed, one_down, two_down))
