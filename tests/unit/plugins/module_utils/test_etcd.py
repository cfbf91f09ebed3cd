"""module_utils/etcd.py: parsing etcdctl's JSON (real shapes from etcd 3.4.23 on the test bed, and malformed ones)
and the option checks etcd_snapshot runs before etcdctl or the file system is touched (issue 16)."""

import os

import pytest

from ansible_collections.aiinfra.cluster.plugins.module_utils.etcd import (
    EtcdError, check_connection, check_snapshot_params, parse_health, parse_snapshot_status)

# `etcdctl --endpoints=<up>,<down> endpoint health -w json`, captured on the test bed (Debian's etcd 3.4.23,
# one member and one closed port, 2026-12-01)
HEALTH = ('[{"endpoint":"http://127.0.0.1:42979","health":true,"took":"7.745766ms"},'
          '{"endpoint":"http://127.0.0.1:42981","health":false,"took":"2.000458206s",'
          '"error":"context deadline exceeded"}]')


def test_health_real_output():
    assert parse_health(HEALTH) == [
        {"endpoint": "http://127.0.0.1:42979", "healthy": True, "error": None},
        {"endpoint": "http://127.0.0.1:42981", "healthy": False, "error": "context deadline exceeded"}]
    assert parse_health("") == []


@pytest.mark.parametrize("text", [
    '{"endpoint":"http://127.0.0.1:42379","health":true}',  # one object, not a list
    "[1, 2]", '["http://127.0.0.1:42379"]', '"healthy"', "null", "Error: unhealthy cluster", "[{]",
])
def test_health_malformed(text):
    with pytest.raises(EtcdError, match="could not parse 'etcdctl endpoint health -w json' .expected a list"):
        parse_health(text)


def test_health_only_true_counts():
    assert parse_health('[{"endpoint":"e","health":"false"}]')[0]["healthy"] is False


@pytest.mark.parametrize("text", ["[1]", '{"hash": "x", "revision": 1, "totalKey": 1, "totalSize": 1}', "{}",
                                  '{"hash": 1e999, "revision": 1, "totalKey": 1, "totalSize": 1}', "no"])
def test_status_malformed(text):
    with pytest.raises(EtcdError, match="could not parse 'etcdctl snapshot status -w json'"):
        parse_snapshot_status(text)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "snaps").mkdir()
    (tmp_path / "snaps" / "etcd-20260101T000000Z.db").write_bytes(b"\0")
    return tmp_path


def params(files, **change):
    base = {"command": "save", "snapshot_dir": str(files / "snaps"), "prefix": "etcd", "retention": 7,
            "snapshot": None, "data_dir": None, "name": None, "initial_cluster": None,
            "initial_advertise_peer_urls": None, "initial_cluster_token": "etcd-restored",
            "endpoints": ["https://127.0.0.1:2379"], "cacert": None, "cert": None, "key": None}
    base.update({k: (v.replace("{tmp}", str(files)) if isinstance(v, str) else v) for k, v in change.items()})
    return base


RESTORE = dict(command="restore", snapshot="{tmp}/snaps/etcd-20260101T000000Z.db", data_dir="{tmp}/new", name="m1",
               initial_cluster="m1=http://127.0.0.1:1", initial_advertise_peer_urls=["http://127.0.0.1:1"])


@pytest.mark.parametrize("change", [
    {}, {"command": "list", "snapshot_dir": "{tmp}/not-yet"}, {"command": "prune", "retention": 1},
    {"command": "verify", "snapshot": "{tmp}/snaps/etcd-20260101T000000Z.db"}, RESTORE,
    {"prefix": "k3s-etcd_2.a"}, {"cacert": "{tmp}/file"},
])
def test_good_params(files, change):
    check_snapshot_params(params(files, **change))


@pytest.mark.parametrize("change,message", [
    ({"snapshot_dir": "{tmp}/file"}, "snapshot_dir {tmp}/file exists and is not a directory"),
    ({"command": "list", "snapshot_dir": "{tmp}/file"}, "exists and is not a directory"),
    ({"command": "prune", "snapshot_dir": "{tmp}/file"}, "exists and is not a directory"),
    ({"snapshot_dir": ""}, "snapshot_dir is empty"),
    ({"command": "prune", "retention": 0}, "retention must be at least 1"),
    ({"prefix": ""}, "prefix '' is not a file name prefix"),
    ({"prefix": "a/b"}, "prefix 'a/b' is not a file name prefix"),
    ({"prefix": ".."}, "is not a file name prefix"),
    ({"prefix": None}, "is not a file name prefix"),
    ({"endpoints": []}, "endpoints is empty"),
    ({"endpoints": [""]}, "endpoint '' is not a client URL"),
    ({"endpoints": ["https://a:2379,https://b:2379"]}, "is not a client URL"),
    ({"endpoints": ["https://a:2379 https://b:2379"]}, "is not a client URL"),
    ({"cacert": "{tmp}"}, "cacert {tmp} is a directory"),
    ({"cert": "{tmp}/none.crt", "key": "{tmp}/none.key"}, "cert {tmp}/none.crt does not exist"),
    ({"command": "verify", "snapshot": "{tmp}/nope.db"}, "snapshot {tmp}/nope.db does not exist"),
    ({"command": "verify", "snapshot": "{tmp}"}, "snapshot {tmp} is a directory, not a snapshot file"),
    (dict(RESTORE, data_dir="{tmp}/file"), "data_dir {tmp}/file exists and is not a directory"),
    (dict(RESTORE, name=""), "name is empty"),
    (dict(RESTORE, initial_cluster=" "), "initial_cluster is empty"),
    (dict(RESTORE, initial_advertise_peer_urls=[]), "initial_advertise_peer_urls [] is empty"),
    (dict(RESTORE, initial_cluster_token=""), "initial_cluster_token is empty"),
])
def test_bad_params(files, change, message):
    with pytest.raises(EtcdError) as exc:
        check_snapshot_params(params(files, **change))
    assert message.replace("{tmp}", str(files)) in str(exc.value)


def test_connection_checks_only_what_is_set(files):
    check_connection({"endpoints": ["https://10.0.0.1:2379", "10.0.0.2:2379"], "cacert": None, "cert": None,
                      "key": None})
    os.mkfifo(str(files / "fifo"))
    with pytest.raises(EtcdError, match="key .* is not a regular file"):
        check_connection({"endpoints": ["e"], "key": str(files / "fifo")})
