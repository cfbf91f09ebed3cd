# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""etcd snapshots with etcdctl (v3 API): command builders, parsers and plans (pure)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re


# Connection options shared by the etcd modules (documented in doc_fragments/etcd.py).
ETCD_CONNECTION_SPEC = dict(
    endpoints=dict(type="list", elements="str", default=["https://127.0.0.1:2379"]),
    cacert=dict(type="path"),
    cert=dict(type="path"),
    key=dict(type="path", no_log=False),  # a path to the key, not the key
    etcdctl=dict(type="str", default="etcdctl"),
)


class EtcdError(ValueError):
    pass


def base_args(etcdctl, endpoints, cacert=None, cert=None, key=None, dial_timeout=2, command_timeout=5):
    args = [etcdctl, "--endpoints=%s" % ",".join(endpoints), "--dial-timeout=%ds" % dial_timeout,
            "--command-timeout=%ds" % command_timeout]
    for flag, value in (("--cacert", cacert), ("--cert", cert), ("--key", key)):
        if value:
            args.append("%s=%s" % (flag, value))
    return args


def parse_health(text):
    """``endpoint health -w json`` -> [{endpoint, healthy, error}] (etcdctl prints it even when it exits 1)."""
    try:
        data = json.loads(text or "[]")
    except ValueError:
        raise EtcdError("could not parse 'etcdctl endpoint health -w json': %r" % (text or "")[:200])
    return sorted(({"endpoint": d.get("endpoint", ""), "healthy": bool(d.get("health")), "error": d.get("error")}
                   for d in data), key=lambda d: d["endpoint"])


def quorum(health, members):
    """(ok, message): a majority of ``members`` must be healthy (linearizable read answered)."""
    healthy = [h["endpoint"] for h in health if h["healthy"]]
    need = members // 2 + 1
    if len(healthy) >= need:
        return True, "%d of %d members healthy" % (len(healthy), members)
    bad = ["%s (%s)" % (h["endpoint"], h["error"] or "unhealthy") for h in health if not h["healthy"]]
    return False, ("etcd has no quorum: %d of %d members healthy, %d needed; unhealthy: %s" % (
        len(healthy), members, need, ", ".join(bad) or "none answered"))


def parse_snapshot_status(text):
    try:
        data = json.loads(text)
        return {"hash": int(data["hash"]), "revision": int(data["revision"]), "total_keys": int(data["totalKey"]),
                "total_size": int(data["totalSize"])}
    except (ValueError, KeyError, TypeError):
        raise EtcdError("could not parse 'etcdctl snapshot status -w json': %r" % (text or "")[:200])


SNAPSHOT_RE = re.compile(r"^(?P<prefix>.+)-(?P<stamp>\d{8}T\d{6}Z)\.db$")


def snapshot_name(prefix, now):
    """``prefix-YYYYmmddTHHMMSSZ.db`` from a UTC datetime."""
    return "%s-%s.db" % (prefix, now.strftime("%Y%m%dT%H%M%SZ"))


def list_snapshots(filenames, prefix):
    """Our snapshots among ``filenames``, newest first."""
    found = []
    for name in filenames:
        m = SNAPSHOT_RE.match(name)
        if m and m.group("prefix") == prefix:
            found.append((m.group("stamp"), name))
    return [name for _stamp, name in sorted(found, reverse=True)]


def plan_prune(snapshots_newest_first, retention):
    if retention < 1:
        raise EtcdError("retention must be at least 1 (keep the newest snapshot), not %d" % retention)
    return snapshots_newest_first[retention:]


def restore_args(etcdctl, snapshot, data_dir, name, initial_cluster, peer_urls, token):
    return [etcdctl, "snapshot", "restore", snapshot, "--data-dir=%s" % data_dir, "--name=%s" % name,
            "--initial-cluster=%s" % initial_cluster, "--initial-advertise-peer-urls=%s" % ",".join(peer_urls),
            "--initial-cluster-token=%s" % token]


def data_dir_in_use(path):
    return os.path.isdir(path) and bool(os.listdir(path))
