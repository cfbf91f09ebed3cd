#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: node_baseline_probe
short_description: Read a node's baseline state in one round trip and say what does not hold
version_added: 0.1.0
description:
  - Reads, every time it runs, the state the node_baseline role manages and compares it with what the role wants
    - the content (SHA-1), mode and owner of its files, its directories, paths that must be absent, installed
    packages (C(dpkg-query)), units enabled and active (C(systemctl show)), runtime sysctl values (C(/proc/sys)),
    kernel modules present (loaded or built in), swap in use (C(/proc/swaps)) and active swap lines in
    C(/etc/fstab) - and, when asked, containerd's merged configuration (C(containerd config dump)).
  - It returns only what does not hold, so the role runs the tasks that repair those and skips the rest. Nothing is
    remembered between runs; every answer is read from the node on this run.
  - It never changes anything. Commands run as argument lists with C(LC_ALL=C).
author:
  - aiinfra.cluster contributors (@aiinfra)
options:
  files:
    description: Files that must exist with this content, mode and owner.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the file.
        type: path
        required: true
      content:
        description: The wanted content (compared by its SHA-1). Exactly one of O(files[].content) and O(files[].checksum).
        type: str
      checksum:
        description: SHA-1 (hex) of the wanted content.
        type: str
      mode:
        description: Wanted mode as an octal string (C(0644)); not compared when omitted.
        type: raw
      owner:
        description: Wanted owner name; not compared when omitted.
        type: str
      group:
        description: Wanted group name; not compared when omitted.
        type: str
  directories:
    description: Directories that must exist with this mode and owner.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the directory.
        type: path
        required: true
      mode:
        description: Wanted mode as an octal string (C(0755)); not compared when omitted.
        type: raw
      owner:
        description: Wanted owner name; not compared when omitted.
        type: str
      group:
        description: Wanted group name; not compared when omitted.
        type: str
  absent:
    description: Paths that must not exist.
    type: list
    elements: path
    default: []
  packages:
    description:
      - Package names that must be installed (C(dpkg-query)). A name with a version, an architecture or a virtual
        package is reported missing, so that apt decides.
    type: list
    elements: str
    default: []
  services:
    description: Units that must be enabled and, with O(services[].started), active.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Unit name (C(containerd) or C(containerd.service)).
        type: str
        required: true
      enabled:
        description: The unit must be enabled (its unit file state exactly C(enabled)).
        type: bool
        default: true
      started:
        description: The unit must be active.
        type: bool
        default: false
      restart_after:
        description:
          - Files the running unit must have read; one changed after the unit last became active is reported in
            RV(services_stale) (a restart that was due did not happen, e.g. a run failed before its handler).
        type: list
        elements: path
        default: []
  sysctls:
    description: sysctl name to the value its runtime setting (C(/proc/sys)) must have.
    type: dict
    default: {}
  kernel_modules:
    description: Kernel module name to a path that exists when the kernel provides it (loaded or built in).
    type: dict
    default: {}
  swap:
    description: Read the swap areas in use and the active swap lines of O(fstab).
    type: bool
    default: false
  fstab:
    description: The fstab file read with O(swap).
    type: path
    default: /etc/fstab
  containerd_config:
    description:
      - containerd's main configuration file; when set and containerd is installed, return its merged
        configuration (C(containerd --config PATH config dump)).
    type: path
extends_documentation_fragment:
  - aiinfra.cluster.attributes.info_module
notes:
  - Files are compared by SHA-1 of their content, as M(ansible.builtin.copy) does.
  - A unit file state other than C(enabled) (static, alias, masked, not found) is reported, never taken as enabled.
"""

EXAMPLES = r"""
- name: Read the node's baseline state
  aiinfra.cluster.node_baseline_probe:
    files:
      - path: /etc/sysctl.d/90-aiinfra-kubernetes.conf
        content: "{{ lookup('ansible.builtin.template', 'sysctl.conf.j2') }}"
        mode: "0644"
        owner: root
        group: root
    directories:
      - path: /etc/containerd/certs.d
        mode: "0755"
    packages: [containerd, conntrack]
    services:
      - name: containerd
        started: true
    sysctls:
      net.ipv4.ip_forward: 1
    kernel_modules:
      overlay: /sys/module/overlay
    swap: true
    containerd_config: /etc/containerd/config.toml
  register: probe

- name: Repair only the files that drifted
  ansible.builtin.debug:
    msg: "{{ probe.files | list }}"
  when: probe.files | length > 0
"""

RETURN = r"""
holds:
  description: Everything asked for holds.
  type: bool
  returned: always
drift:
  description: One line per thing that does not hold.
  type: list
  elements: str
  returned: always
  sample: ["sysctl net.ipv4.ip_forward is '0'", "file /etc/containerd/config.toml: content differs"]
files:
  description: Files that do not hold, path to the reason (missing, content differs, mode, owner, group).
  type: dict
  returned: always
directories:
  description: Directories that do not hold, path to the reason.
  type: dict
  returned: always
absent_present:
  description: Paths of O(absent) that exist.
  type: list
  elements: str
  returned: always
packages_missing:
  description: Packages of O(packages) that are not installed.
  type: list
  elements: str
  returned: always
services:
  description: Every unit of O(services) to what does not hold for it (an empty list when it holds).
  type: dict
  returned: always
  sample: {"containerd": [], "systemd-timesyncd": ["not enabled (disabled)"]}
sysctls:
  description: sysctls whose runtime value is not the wanted one, name to the value read (null when missing).
  type: dict
  returned: always
modules_missing:
  description: Kernel modules whose probe path does not exist.
  type: list
  elements: str
  returned: always
swap_active:
  description: Swap areas in use (empty unless O(swap)).
  type: list
  elements: str
  returned: always
fstab_swap:
  description: Active swap lines of O(fstab) (empty unless O(swap)).
  type: list
  elements: str
  returned: always
kernel:
  description: The running kernel's release.
  type: str
  returned: always
services_stale:
  description: Unit name to the O(services[].restart_after) files changed after the active unit started.
  returned: always
  type: dict
  sample: {"containerd": ["/etc/containerd/aiinfra-cri.toml"]}
containerd_config_dump:
  description: The output of C(containerd config dump); null when not asked, containerd is not installed or it failed.
  type: str
  returned: always
containerd_config_error:
  description: Why the dump failed (its stderr), when it did.
  type: str
  returned: when the dump failed
"""

import errno
import grp
import hashlib
import os
import pwd
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible_collections.aiinfra.cluster.plugins.module_utils.node_baseline_probe import (
    ProbeError, fstab_swap_entries, match_units, missing_packages, parse_dpkg_query, parse_mode, parse_systemctl_show,
    path_drift, proc_swaps_active, service_drift, started_before, summary, sysctl_drift, sysctl_path,
)

ENV = {"LC_ALL": "C", "LANG": "C"}


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except (IOError, OSError) as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def _sha1(path):
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(65536), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return None


def _lstat(path):
    try:
        return os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def _check_path(want, kind):
    st = _lstat(want["path"])
    owner = group = checksum = None
    if st is not None:
        owner, group = _name(pwd.getpwuid, st.st_uid), _name(grp.getgrgid, st.st_gid)
        if kind == "file" and os.path.isfile(want["path"]) and not os.path.islink(want["path"]):
            checksum = _sha1(want["path"])
    return path_drift(want, st, owner, group, checksum=checksum, kind=kind)


def _mtime(path):
    st = _lstat(path)
    return None if st is None else st.st_mtime


def _run(module, argv):
    return module.run_command(argv, environ_update=ENV)


def probe(module):
    p = module.params
    result = {"files": {}, "directories": {}, "absent_present": [], "packages_missing": [], "services": {},
              "services_stale": {}, "sysctls": {}, "modules_missing": [], "swap_active": [], "fstab_swap": [],
              "kernel": os.uname()[2], "containerd_config_dump": None}
    for want in p["files"]:
        why = _check_path(want, "file")
        if why:
            result["files"][want["path"]] = why
    for want in p["directories"]:
        why = _check_path(want, "directory")
        if why:
            result["directories"][want["path"]] = why
    result["absent_present"] = [path for path in p["absent"] if _lstat(path) is not None]

    if p["packages"]:
        dpkg_query = module.get_bin_path("dpkg-query")
        if dpkg_query is None:
            module.fail_json(msg="node_baseline_probe: dpkg-query is not on PATH; this module reads packages on "
                                 "Debian and Ubuntu only")
        # rc 1 only says that some names are not installed; they are missing from the output
        rc, out, err = _run(module, [dpkg_query, "-W", "-f", "${Package}\t${Status}\n", "--"] + p["packages"])
        if rc not in (0, 1):
            module.fail_json(msg="dpkg-query failed (rc=%d): %s" % (rc, err.strip()), rc=rc, stderr=err)
        result["packages_missing"] = missing_packages(p["packages"], parse_dpkg_query(out))

    if p["services"]:
        names = [s["name"] for s in p["services"]]
        systemctl = module.get_bin_path("systemctl")
        if systemctl is None:
            units = dict((name, {}) for name in names)
        else:
            rc, out, err = _run(module, [systemctl, "show", "--property=Id,Names,LoadState,ActiveState,UnitFileState,ActiveEnterTimestampMonotonic",
                                         "--"] + names)
            if rc != 0:
                module.fail_json(msg="systemctl show %s failed (rc=%d): %s" % (" ".join(names), rc, err.strip()),
                                 rc=rc, stderr=err)
            units = match_units(names, parse_systemctl_show(out))
        now_wall, now_monotonic = time.time(), time.clock_gettime(time.CLOCK_MONOTONIC)
        for service in p["services"]:
            problems = service_drift(units[service["name"]], service["enabled"], service["started"])
            result["services"][service["name"]] = problems
            mtimes = dict((path, _mtime(path)) for path in service["restart_after"])
            stale = started_before(units[service["name"]], mtimes, now_wall, now_monotonic)
            if stale:
                result["services_stale"][service["name"]] = stale

    actual = {}
    for key in p["sysctls"]:
        value = _read(sysctl_path(key))
        actual[key] = None if value is None else value.strip()
    result["sysctls"] = sysctl_drift(p["sysctls"], actual)

    result["modules_missing"] = sorted(name for name, path in p["kernel_modules"].items() if not os.path.exists(path))

    if p["swap"]:
        result["swap_active"] = proc_swaps_active(_read("/proc/swaps") or "")
        result["fstab_swap"] = fstab_swap_entries(_read(p["fstab"]) or "")

    if p["containerd_config"]:
        containerd = module.get_bin_path("containerd")
        if containerd is not None and os.path.exists(p["containerd_config"]):
            rc, out, err = _run(module, [containerd, "--config", p["containerd_config"], "config", "dump"])
            if rc == 0:
                result["containerd_config_dump"] = out
            else:
                result["containerd_config_error"] = err.strip() or out.strip()
    result["drift"] = summary(result)
    result["holds"] = not result["drift"]
    return result


def main():
    path_spec = dict(path=dict(type="path", required=True), mode=dict(type="raw"), owner=dict(type="str"),
                     group=dict(type="str"))
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", default=[],
                       options=dict(path_spec, content=dict(type="str"), checksum=dict(type="str")),
                       mutually_exclusive=[("content", "checksum")], required_one_of=[("content", "checksum")]),
            directories=dict(type="list", elements="dict", default=[], options=path_spec),
            absent=dict(type="list", elements="path", default=[]),
            packages=dict(type="list", elements="str", default=[]),
            services=dict(type="list", elements="dict", default=[],
                          options=dict(name=dict(type="str", required=True), enabled=dict(type="bool", default=True),
                                       started=dict(type="bool", default=False),
                                       restart_after=dict(type="list", elements="path", default=[]))),
            sysctls=dict(type="dict", default={}),
            kernel_modules=dict(type="dict", default={}),
            swap=dict(type="bool", default=False),
            fstab=dict(type="path", default="/etc/fstab"),
            containerd_config=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    for kind in ("files", "directories"):
        for want in module.params[kind]:
            if not os.path.isabs(want["path"]):
                module.fail_json(msg="%s: path %r is not absolute" % (kind, want["path"]))
    for want in module.params["files"]:
        if want["content"] is not None:
            want["checksum"] = hashlib.sha1(to_bytes(want.pop("content"), errors="surrogate_or_strict")).hexdigest()
        if len(want["checksum"]) != 40 or not all(c in "0123456789abcdef" for c in want["checksum"].lower()):
            module.fail_json(msg="files: checksum of %s is not a SHA-1 in hex (40 characters): %r"
                                 % (want["path"], want["checksum"]))
        want["checksum"] = want["checksum"].lower()
    try:
        for kind in ("files", "directories"):
            for want in module.params[kind]:
                if want["mode"] is not None:
                    parse_mode(want["mode"], want["path"])
    except ProbeError as exc:
        module.fail_json(msg="node_baseline_probe: %s" % to_native(exc))
    for name, path in module.params["kernel_modules"].items():
        if not isinstance(path, str) or not os.path.isabs(path):
            module.fail_json(msg="kernel_modules: the probe path of %s is not an absolute path: %r" % (name, path))
    try:
        result = probe(module)
    except ProbeError as exc:
        module.fail_json(msg="node_baseline_probe: %s" % to_native(exc))
    except (IOError, OSError) as exc:
        module.fail_json(msg="node_baseline_probe could not read %s: %s"
                             % (getattr(exc, "filename", None) or "the node's state", to_native(exc.strerror or exc)))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
