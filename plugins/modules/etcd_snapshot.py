#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: etcd_snapshot
short_description: Save, verify, list, prune and restore etcd snapshots
version_added: 0.1.0
description:
  - O(command=save) checks that a majority of the etcd members answer a linearizable health check (etcdctl would
    happily save a snapshot from a member cut off from its quorum), saves C(<prefix>-<UTC timestamp>.db) from the
    first healthy endpoint into O(snapshot_dir), then verifies it (C(snapshot status) hash, revision, keys, size).
  - O(command=verify) reads the status of O(snapshot); O(command=list) lists this prefix's snapshots, newest first.
  - O(command=prune) keeps the newest O(retention) snapshots and deletes the rest.
  - O(command=restore) restores O(snapshot) into a new O(data_dir) for member O(name); an existing non-empty
    O(data_dir) is left alone (no change), so a restore is never run twice over live data.
  - Runs etcdctl (v3 API) with argument lists and C(LC_ALL=C); works with the TLS files of kubeadm's stacked etcd
    or k3s's embedded etcd.
  - Options are checked before etcdctl runs or a file is touched (O(snapshot_dir) and O(data_dir) not files,
    O(prefix) a plain file name prefix, O(snapshot) a file, endpoints and TLS files usable); a bad one fails the
    task and changes nothing. etcdctl output that is not the JSON it should be fails the task with that output.
author:
  - aiinfra.cluster contributors (@aiinfra)
extends_documentation_fragment:
  - aiinfra.cluster.etcd
options:
  command:
    description: What to do.
    type: str
    choices: [save, verify, list, prune, restore]
    required: true
  snapshot_dir:
    description: Where snapshots are kept (save, list, prune).
    type: path
    default: /var/backups/etcd
  prefix:
    description: File name prefix of the snapshots (letters, digits, C(.), C(_) and C(-); no C(/)).
    type: str
    default: etcd
  snapshot:
    description: The snapshot file (verify, restore).
    type: path
  retention:
    description: How many snapshots prune keeps (at least 1).
    type: int
    default: 7
  data_dir:
    description: New data directory to restore into.
    type: path
  name:
    description: Member name for the restore.
    type: str
  initial_cluster:
    description: The restored cluster's C(--initial-cluster) (C(name=peerURL,...)).
    type: str
  initial_advertise_peer_urls:
    description: This member's peer URLs for the restore.
    type: list
    elements: str
  initial_cluster_token:
    description: A new cluster token for the restored cluster.
    type: str
    default: etcd-restored
attributes:
  check_mode:
    support: full
    description: Reads state, checks quorum and returns what would be saved, deleted or restored; writes nothing.
  diff_mode:
    support: none
    description: Snapshots are binary files; the result lists them instead.
"""

EXAMPLES = r"""
- name: Save and verify a snapshot of kubeadm's stacked etcd
  aiinfra.cluster.etcd_snapshot:
    command: save
    endpoints: "{{ groups['k8s_control_plane'] | map('extract', hostvars, 'ansible_host') | map('regex_replace', '^(.*)$', 'https://\\1:2379') }}"
    cacert: /etc/kubernetes/pki/etcd/ca.crt
    cert: /etc/kubernetes/pki/etcd/healthcheck-client.crt
    key: /etc/kubernetes/pki/etcd/healthcheck-client.key

- name: Keep the newest 7
  aiinfra.cluster.etcd_snapshot:
    command: prune
    retention: 7
"""

RETURN = r"""
snapshot:
  description: Path of the snapshot saved, verified or restored.
  returned: save, verify, restore
  type: str
status:
  description: C(hash), C(revision), C(total_keys), C(total_size) of the snapshot.
  returned: save (not in check mode), verify
  type: dict
health:
  description: Each endpoint's health (C(endpoint), C(healthy), C(error)).
  returned: save
  type: list
  elements: dict
snapshots:
  description: This prefix's snapshots, newest first.
  returned: list, prune
  type: list
  elements: str
deleted:
  description: Snapshots pruned (or that would be, in check mode).
  returned: prune
  type: list
  elements: str
"""

import datetime
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aiinfra.cluster.plugins.module_utils.etcd import (
    ETCD_CONNECTION_SPEC, EtcdError, base_args, check_snapshot_params, data_dir_in_use, list_snapshots, parse_health,
    parse_snapshot_status, plan_prune, quorum, restore_args, snapshot_name)

ENV = {"LC_ALL": "C", "ETCDCTL_API": "3"}


def etcdctl(module, args, what):
    rc, out, err = module.run_command(args, environ_update=ENV)
    if rc != 0:
        module.fail_json(msg="%s failed (rc=%d): %s" % (what, rc, (err or out).strip()[-800:]),
                         rc=rc, stdout=out, stderr=err, cmd=args)
    return out


def status_of(module, p, path):
    if not os.path.isfile(path):
        module.fail_json(msg="Snapshot %s does not exist (or is not a file): give the path of a snapshot" % path)
    out = etcdctl(module, [p["etcdctl"], "snapshot", "status", path, "-w", "json"], "Verifying snapshot %s" % path)
    try:
        return parse_snapshot_status(out)
    except EtcdError as exc:
        module.fail_json(msg=str(exc))


def save(module, p):
    client = base_args(p["etcdctl"], p["endpoints"], p["cacert"], p["cert"], p["key"])
    rc, out, err = module.run_command(client + ["endpoint", "health", "-w", "json"], environ_update=ENV)
    try:
        health = parse_health(out)
    except EtcdError as exc:
        module.fail_json(msg="%s (rc=%d, stderr: %s)" % (exc, rc, err.strip()[-400:]), rc=rc, stderr=err)
    ok, message = quorum(health, len(p["endpoints"]))
    if not ok:
        module.fail_json(msg="Not saving a snapshot: %s. Restore quorum first (or restore from an earlier "
                             "snapshot)." % message, health=health, rc=rc, stderr=err)
    source = next(h["endpoint"] for h in health if h["healthy"])
    path = os.path.join(p["snapshot_dir"], snapshot_name(p["prefix"], datetime.datetime.now(datetime.timezone.utc)))
    if module.check_mode:
        module.exit_json(changed=True, snapshot=path, health=health, msg="would save from %s (%s)" % (source, message))
    try:
        if not os.path.isdir(p["snapshot_dir"]):
            os.makedirs(p["snapshot_dir"], 0o700)
    except OSError as exc:
        module.fail_json(msg="Could not create snapshot_dir %s (%s): create it or give another directory"
                         % (p["snapshot_dir"], exc))
    single = base_args(p["etcdctl"], [source], p["cacert"], p["cert"], p["key"], command_timeout=120)
    etcdctl(module, single + ["snapshot", "save", path], "Saving a snapshot from %s" % source)
    try:
        os.chmod(path, 0o600)  # a snapshot holds every Secret of the cluster
    except OSError as exc:
        module.fail_json(msg="etcdctl reported snapshot %s saved, but it cannot be made private (%s): check %s"
                         % (path, exc, p["snapshot_dir"]))
    module.exit_json(changed=True, snapshot=path, status=status_of(module, p, path), health=health,
                     msg="saved from %s (%s)" % (source, message))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ETCD_CONNECTION_SPEC,
            command=dict(type="str", choices=["save", "verify", "list", "prune", "restore"], required=True),
            snapshot_dir=dict(type="path", default="/var/backups/etcd"),
            prefix=dict(type="str", default="etcd"),
            snapshot=dict(type="path"),
            retention=dict(type="int", default=7),
            data_dir=dict(type="path"),
            name=dict(type="str"),
            initial_cluster=dict(type="str"),
            initial_advertise_peer_urls=dict(type="list", elements="str"),
            initial_cluster_token=dict(type="str", default="etcd-restored", no_log=False),  # an identifier, not a secret
        ),
        required_if=[
            ("command", "verify", ["snapshot"]),
            ("command", "restore", ["snapshot", "data_dir", "name", "initial_cluster", "initial_advertise_peer_urls"]),
        ],
        required_together=[("cert", "key")],
        supports_check_mode=True,
    )
    p = module.params
    cmd = p["command"]
    try:
        check_snapshot_params(p)
    except EtcdError as exc:
        module.fail_json(msg="etcd_snapshot %s: %s. Nothing was changed." % (cmd, exc))
    if cmd in ("save", "verify", "restore"):  # list and prune only read and delete files (also on the controller)
        binary = module.get_bin_path(p["etcdctl"]) if not os.path.isabs(p["etcdctl"]) else p["etcdctl"]
        if binary is None:
            module.fail_json(msg="%s not found on this host: install etcd-client (or point etcdctl at k3s's)"
                             % p["etcdctl"])
        p["etcdctl"] = binary
    if cmd == "save":
        save(module, p)
    if cmd == "verify":
        module.exit_json(changed=False, snapshot=p["snapshot"], status=status_of(module, p, p["snapshot"]))
    try:
        existing = list_snapshots(os.listdir(p["snapshot_dir"]) if os.path.isdir(p["snapshot_dir"]) else [],
                                  p["prefix"])
    except OSError as exc:
        module.fail_json(msg="Could not list snapshot_dir %s (%s): fix its permissions" % (p["snapshot_dir"], exc))
    if cmd == "list":
        module.exit_json(changed=False, snapshots=[os.path.join(p["snapshot_dir"], s) for s in existing])
    if cmd == "prune":
        try:
            doomed = plan_prune(existing, p["retention"])
        except EtcdError as exc:
            module.fail_json(msg=str(exc))
        if not module.check_mode:
            for name in doomed:
                try:
                    os.unlink(os.path.join(p["snapshot_dir"], name))
                except OSError as exc:
                    module.fail_json(msg="Could not delete snapshot %s (%s); snapshots deleted before it: %s"
                                     % (os.path.join(p["snapshot_dir"], name), exc,
                                        ", ".join(doomed[:doomed.index(name)]) or "none"),
                                     changed=name != doomed[0])
        kept = [s for s in existing if s not in doomed]
        module.exit_json(changed=bool(doomed), deleted=[os.path.join(p["snapshot_dir"], s) for s in doomed],
                         snapshots=[os.path.join(p["snapshot_dir"], s) for s in kept])
    # restore
    if data_dir_in_use(p["data_dir"]):
        module.exit_json(changed=False, snapshot=p["snapshot"],
                         msg="%s already holds data: not restoring over it" % p["data_dir"])
    status = status_of(module, p, p["snapshot"])
    if not module.check_mode:
        etcdctl(module, restore_args(p["etcdctl"], p["snapshot"], p["data_dir"], p["name"], p["initial_cluster"],
                                     p["initial_advertise_peer_urls"], p["initial_cluster_token"]),
                "Restoring %s into %s" % (p["snapshot"], p["data_dir"]))
    module.exit_json(changed=True, snapshot=p["snapshot"], status=status)


if __name__ == "__main__":
    main()
