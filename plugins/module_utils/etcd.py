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
    """``endpoint health -w json`` -> [{endpoint, healthy, error}] (etcdctl prints it even when it exits 1).

    Only a list of objects is accepted, and only ``"health": true`` counts as healthy."""
    try:
        data = json.loads(text or "[]")
    except ValueError:
        data = None
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise EtcdError("could not parse 'etcdctl endpoint health -w json' (expected a list of endpoints): %r"
                        % (text or "")[:200])
    return sorted(({"endpoint": str(d.get("endpoint", "")), "healthy": d.get("health") is True,
                    "error": d.get("error")} for d in data), key=lambda d: d["endpoint"])


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
    except (ValueError, KeyError, TypeError, OverflowError):
        raise EtcdError("could not parse 'etcdctl snapshot status -w json': %r" % (text or "")[:200])


# --- option checks (before etcdctl runs or a file is touched) -------------------------------------------------------

PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_connection(params):
    """EtcdError for unusable connection options: no endpoints, an empty one or one with a comma or a space (etcdctl
    takes them as one comma-separated flag), TLS files that are not files."""
    endpoints = params.get("endpoints")
    if not endpoints:
        raise EtcdError("endpoints is empty: give the client URL of at least one member, e.g. https://127.0.0.1:2379")
    for endpoint in endpoints:
        if not isinstance(endpoint, str) or not endpoint.strip() or re.search(r"[\s,]", endpoint):
            raise EtcdError("endpoint %r is not a client URL: give one URL per list element, e.g. "
                            "https://10.0.0.1:2379" % (endpoint,))
    for option in ("cacert", "cert", "key"):
        path = params.get(option)
        if path is not None and not os.path.isfile(path):
            raise EtcdError("%s %s %s: give the path of the PEM file" % (
                option, path, "is a directory" if os.path.isdir(path) else
                "is not a regular file" if os.path.lexists(path) else "does not exist"))


def check_directory_option(path, option):
    """EtcdError when ``path`` exists and is not a directory (a directory the module creates or reads)."""
    if not isinstance(path, str) or not path.strip():
        raise EtcdError("%s is empty: give a directory" % option)
    if os.path.lexists(path) and not os.path.isdir(path):
        raise EtcdError("%s %s exists and is not a directory: remove it or give another directory" % (option, path))


def check_snapshot_file(path, option="snapshot"):
    if not os.path.lexists(path):
        raise EtcdError("%s %s does not exist: give the path of a snapshot file (command=list shows them)"
                        % (option, path))
    if not os.path.isfile(path):
        raise EtcdError("%s %s is %s, not a snapshot file" % (
            option, path, "a directory" if os.path.isdir(path) else "not a regular file"))


def check_snapshot_params(params):
    """EtcdError naming the first option of etcd_snapshot that cannot work for ``params['command']``."""
    command = params["command"]
    prefix = params.get("prefix")
    if not isinstance(prefix, str) or not PREFIX_RE.match(prefix):
        raise EtcdError("prefix %r is not a file name prefix: use letters, digits, '.', '_' and '-' (no '/')"
                        % (prefix,))
    if command in ("save", "list", "prune"):
        check_directory_option(params["snapshot_dir"], "snapshot_dir")
    if command == "prune" and params["retention"] < 1:
        raise EtcdError("retention must be at least 1 (keep the newest snapshot), not %d" % params["retention"])
    if command == "save":
        check_connection(params)
    if command in ("verify", "restore"):
        check_snapshot_file(params["snapshot"])
    if command == "restore":
        check_directory_option(params["data_dir"], "data_dir")
        for option in ("name", "initial_cluster", "initial_cluster_token"):
            if not str(params.get(option) or "").strip():
                raise EtcdError("%s is empty: give the restored member's %s" % (option, option.replace("_", " ")))
        urls = params["initial_advertise_peer_urls"]
        if not urls or not all(str(u).strip() for u in urls):
            raise EtcdError("initial_advertise_peer_urls %r is empty or has an empty element"
                            % (params["initial_advertise_peer_urls"],))


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
