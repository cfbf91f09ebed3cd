# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules for the storage, metrics and data-service choices: pure functions over plain data, no I/O.

Each function returns a list of problems, each a sentence naming the setting or host at fault and what to do; an empty
list means the choice is sound. The preflight runs them on the inventory before anything changes, and the roles
(rook, juicefs) run the ones that concern them again in their own checks, so a role run alone refuses the same input.

- ``rook_device_problems(devices)``: the per-host ``rook_devices`` lists (``{host: [path, ...]}``) name absolute,
  distinct ``/dev/...`` paths.
- ``rook_node_count_problems(devices, replicas)``: enough hosts with devices for the block pool's replica count
  (``failureDomain: host``: each replica on its own host).
- ``default_storage_class_problems(classes)``: at most one StorageClass marked default among the layers that are on.
- ``metrics_stack_problems(stacks)``: at most one metrics stack (kube-prometheus-stack or VictoriaMetrics).
- ``juicefs_meta_engine_problems(engine, engines_on)``: JuiceFS' metadata engine is one the inventory turns on.
- ``data_service_problems(hosts, data)``: all of them, from what the preflight module gathers (one call).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

# A device path Rook matches against the node's devices (its name under /dev or a udev link such as
# /dev/disk/by-id/...): absolute, under /dev/, no "..", no spaces or shell metacharacters.
DEVICE_PATH = re.compile(r"^/dev/[A-Za-z0-9._:+@-][A-Za-z0-9._:+@/-]*$")
JUICEFS_META_ENGINES = ("redis", "tikv")


def _truthy(value):
    """Booleans as Ansible may template them: True, "True", "yes", 1."""
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def _count(value):
    """A whole number from an int or its string form; None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def rook_device_problems(devices):
    """devices: {host: list of device paths} (hosts without rook_devices may be left out or given []).
    Each path must be an absolute /dev/... path, listed once per host."""
    problems = []
    for host in sorted(devices or {}):
        paths = devices[host]
        if paths is None:
            continue
        if isinstance(paths, (str, bytes)) or not isinstance(paths, (list, tuple)):
            problems.append("rook_devices of host %s is %r; it must be a list of device paths such as "
                            "[/dev/sdb, /dev/disk/by-id/nvme-...]." % (host, paths))
            continue
        seen = set()
        for path in paths:
            text = str(path) if isinstance(path, str) else None
            if text is None or not DEVICE_PATH.match(text) or posixpath.normpath(text) != text:
                problems.append("rook_devices of host %s names %r; each device must be an absolute path under /dev/ "
                                "(e.g. /dev/sdb or /dev/disk/by-id/...), without '..' or spaces." % (host, path))
                continue
            if text in seen:
                problems.append("rook_devices of host %s lists %s twice; list each device once." % (host, text))
            seen.add(text)
    return problems


def rook_nodes(devices):
    """The hosts that give Rook at least one device, sorted."""
    return sorted(host for host, paths in (devices or {}).items()
                  if isinstance(paths, (list, tuple)) and len(paths) > 0)


def rook_node_count_problems(devices, replicas):
    """The block pool keeps `replicas` copies, each on a different host (failureDomain: host): at least that many
    hosts must have devices, or no placement group ever becomes clean."""
    count = _count(replicas)
    if count is None or count < 1:
        return ["k8s_rook_replicas is %r; it must be a whole number >= 1." % (replicas,)]
    nodes = rook_nodes(devices)
    if len(nodes) < count:
        return ["k8s_rook_replicas is %d but only %d host(s) have rook_devices (%s): Ceph places each replica on "
                "its own host, so the pool would never become healthy. Give at least %d hosts rook_devices (a list "
                "of /dev/... paths per host), or lower k8s_rook_replicas." % (
                    count, len(nodes), ", ".join(nodes) or "none", count)]
    return []


def rook_problems(devices, replicas):
    """Both Rook rules: device paths first (a bad path makes the count meaningless), then the node count."""
    problems = rook_device_problems(devices)
    return problems or rook_node_count_problems(devices, replicas)


def _chosen(choices):
    """The entries of a list of {name, setting, enabled[, default]} whose layer is on (and, when given, marked default)."""
    chosen = []
    for choice in choices or []:
        if not _truthy(choice.get("enabled")):
            continue
        if "default" in choice and not _truthy(choice.get("default")):
            continue
        chosen.append(choice)
    return chosen


def _label(choice):
    setting = choice.get("setting")
    return "%s (%s)" % (choice["name"], setting) if setting else str(choice["name"])


def default_storage_class_problems(classes):
    """classes: list of {name: StorageClass, setting: the variable that marks it default, enabled: its layer is on,
    default: it is marked default}. Two defaults make every PVC without a class ambiguous (the newest default wins
    silently), so at most one may be chosen."""
    chosen = _chosen(classes)
    if len(chosen) > 1:
        return ["%d StorageClasses would be the cluster default: %s. Exactly one default StorageClass at a time: keep "
                "the default mark on one of them and set the other settings to false." % (
                    len(chosen), ", ".join(_label(c) for c in chosen))]
    return []


def metrics_stack_problems(stacks):
    """stacks: list of {name, setting, enabled}. Two metrics stacks scrape everything twice, install two operators
    that both answer for ServiceMonitors and PrometheusRules, and fire every alert twice: at most one."""
    chosen = _chosen([dict(s, default=True) if "default" not in s else s for s in stacks or []])
    if len(chosen) > 1:
        return ["%d metrics stacks are turned on: %s. Exactly one metrics stack at a time: turn all but one off." % (
            len(chosen), ", ".join(_label(c) for c in chosen))]
    return []


def juicefs_meta_engine_problems(engine, engines_on):
    """engine: the JuiceFS metadata engine chosen (redis or tikv); engines_on: {engine: whether its layer is on}.
    JuiceFS keeps every file's metadata there, so the engine's layer must be on."""
    if engine not in JUICEFS_META_ENGINES:
        return ["k8s_juicefs_meta_engine is %r; choose one of %s." % (engine, ", ".join(JUICEFS_META_ENGINES))]
    if not _truthy((engines_on or {}).get(engine)):
        return ["JuiceFS keeps its metadata in %s (k8s_juicefs_meta_engine), but that layer is off: set "
                "k8s_%s_enabled: true, or choose the engine that is on." % (engine, engine)]
    return []


def data_service_problems(hosts, data):
    """Every rule above, from what the preflight module gathers: hosts (each a dict with ``name`` and, where the
    inventory sets it, ``rook_devices``) and data::

        {"rook": {"enabled": bool, "replicas": int},
         "default_classes": [{"name", "setting", "enabled", "default"}, ...],
         "metrics_stacks": [{"name", "setting", "enabled"}, ...],
         "juicefs": {"enabled": bool, "meta_engine": "redis" | "tikv", "engines": {"redis": bool, "tikv": bool}}}

    Missing parts are rules that do not apply; a layer that is off is not checked."""
    data = data or {}
    problems = []
    rook = data.get("rook") or {}
    if _truthy(rook.get("enabled")):
        devices = dict((host["name"], host.get("rook_devices")) for host in hosts or [])
        problems += rook_problems(devices, rook.get("replicas", 3))
    problems += default_storage_class_problems(data.get("default_classes"))
    problems += metrics_stack_problems(data.get("metrics_stacks"))
    juicefs = data.get("juicefs") or {}
    if _truthy(juicefs.get("enabled")):
        problems += juicefs_meta_engine_problems(juicefs.get("meta_engine"), juicefs.get("engines"))
    return problems
