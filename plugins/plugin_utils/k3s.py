# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k3s: the node's /etc/rancher/k3s/config.yaml built from data, and version decisions (pure functions)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.aiinfra.cluster.plugins.plugin_utils import release

_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)\+k3s(\d+)")


class K3sError(ValueError):
    pass


def parse_version(text):
    """'k3s version v1.31.4+k3s1 (a562d090)' (or a bare tag) -> 'v1.31.4+k3s1'; None when absent."""
    m = _VERSION.search(text or "")
    return "v%s.%s.%s+k3s%s" % m.groups() if m else None


def version_key(tag):
    return release.version_key(_VERSION, tag, K3sError, "k3s release tag (want e.g. v1.31.4+k3s1)")


def install_action(installed, wanted, allow_downgrade=False):
    """'none' (already there), 'install', 'upgrade'; raises on a downgrade unless allowed."""
    if installed is None:
        return "install"
    if version_key(installed) == version_key(wanted):
        return "none"
    if version_key(installed) > version_key(wanted) and not allow_downgrade:
        raise K3sError("k3s %s is installed and %s is wanted: refusing to downgrade (etcd data may not be readable "
                       "by an older k3s); set k3s_allow_downgrade=true to force" % (installed, wanted))
    return "upgrade"


def node_config(role, s):
    """config.yaml for one node. role: init (first server), server (joining server) or agent.

    s: node_ip, node_name, api_endpoint (https://host:port joins go to), tls_san (list), cni ('cilium' or other),
    disable (list), secrets_encryption (bool), cluster_cidr, service_cidr, node_labels, node_taints,
    etcd_snapshot_cron, etcd_snapshot_retention, token_file, container_runtime_endpoint (the CRI socket of the
    node's containerd; empty: k3s's embedded one), kubelet_cgroup_driver (with an external runtime k3s does not
    detect it), metrics_bind_address (servers: etcd, controller-manager and scheduler metrics on this address;
    empty: loopback only), extra (dict merged last).
    """
    if role not in ("init", "server", "agent"):
        raise K3sError("k3s node role must be init, server or agent, not %r" % role)
    cfg = {"node-ip": s["node_ip"], "node-name": s["node_name"], "token-file": s["token_file"]}
    if role != "init":
        cfg["server"] = s["api_endpoint"]
    if role in ("init", "server"):
        if role == "init":
            cfg["cluster-init"] = True
        cfg["tls-san"] = sorted(set(x for x in s.get("tls_san") or [] if x))
        cfg["write-kubeconfig-mode"] = "0600"
        cfg["cluster-cidr"] = s["cluster_cidr"]
        cfg["service-cidr"] = s["service_cidr"]
        if s.get("secrets_encryption", True):
            cfg["secrets-encryption"] = True
        disable = list(s.get("disable") or [])
        if s.get("cni") == "cilium":
            # Cilium replaces flannel, kube-proxy and the built-in network policy controller
            cfg["flannel-backend"] = "none"
            cfg["disable-network-policy"] = True
            cfg["disable-kube-proxy"] = True
        if disable:
            cfg["disable"] = sorted(set(disable))
        if s.get("etcd_snapshot_cron"):
            cfg["etcd-snapshot-schedule-cron"] = s["etcd_snapshot_cron"]
            cfg["etcd-snapshot-retention"] = int(s.get("etcd_snapshot_retention", 7))
        if s.get("metrics_bind_address"):
            # k3s serves etcd metrics on 127.0.0.1:2381 and the controller-manager (10257) and scheduler (10259) on
            # loopback; Prometheus scrapes the node address.
            cfg["etcd-expose-metrics"] = True
            cfg["kube-controller-manager-arg"] = ["bind-address=%s" % s["metrics_bind_address"]]
            cfg["kube-scheduler-arg"] = ["bind-address=%s" % s["metrics_bind_address"]]
    if s.get("container_runtime_endpoint"):
        endpoint = s["container_runtime_endpoint"]
        if not endpoint.startswith("unix:///"):
            raise K3sError("container_runtime_endpoint must be a unix:/// socket URL, not %r" % endpoint)
        # The node's own containerd (node_baseline) instead of the embedded one: one containerd, one registry list.
        cfg["container-runtime-endpoint"] = endpoint
        if s.get("kubelet_cgroup_driver"):
            # k3s sets the kubelet's cgroup driver from its embedded containerd only; it must match runc's SystemdCgroup.
            cfg["kubelet-arg"] = ["cgroup-driver=%s" % s["kubelet_cgroup_driver"]]
    if s.get("node_labels"):
        cfg["node-label"] = ["%s=%s" % (k, v) for k, v in sorted(s["node_labels"].items())]
    if s.get("node_taints"):
        cfg["node-taint"] = sorted(s["node_taints"])
    cfg.update(s.get("extra") or {})
    return cfg
