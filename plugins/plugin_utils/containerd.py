# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""containerd registry host configuration (certs.d/<host:port>/hosts.toml): pure functions.

One entry of the node layer's registry list becomes one directory under certs.d, named exactly as the
registry appears in image references (the port stays in the name), holding a hosts.toml that the CRI
reads on every pull (config_path), so adding or changing a registry needs no containerd restart.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

# Registry namespace as written in image references: a hostname or IPv4 with an optional port,
# or a bracketed IPv6 address with an optional port.
_NAME_RE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$")
_URL_RE = re.compile(r"^(https?)://([^/\s]+)(/\S*)?$")
_CAPABILITIES = ("pull", "resolve", "push")
_UPSTREAMS = {"docker.io": "https://registry-1.docker.io"}


class RegistryConfigError(ValueError):
    pass


def _toml_str(value):
    # JSON string escaping is valid TOML basic-string escaping for the characters used here.
    return json.dumps(value)


def _check_port(name, port):
    if port is not None and not 1 <= int(port) <= 65535:
        raise RegistryConfigError("registry %r: port %s is out of range 1-65535" % (name, port))


def normalize(entry):
    """Validate one registry entry and fill in its defaults; raises RegistryConfigError with a clear message."""
    if not isinstance(entry, dict) or not entry.get("name"):
        raise RegistryConfigError("every registry entry needs a name (host or host:port, as in image references): %r" % (entry,))
    name = str(entry["name"])
    match = _NAME_RE.match(name)
    if not match:
        raise RegistryConfigError("registry name %r must be host or host:port with no scheme or path "
                                  "(e.g. harbor.lab.internal:30002 or docker.io)" % name)
    _check_port(name, match.group(1))
    scheme = entry.get("scheme", "https")
    if scheme not in ("http", "https"):
        raise RegistryConfigError("registry %r: scheme must be http or https, not %r" % (name, scheme))
    server = entry.get("server") or _UPSTREAMS.get(name) or "%s://%s" % (scheme, name)
    if not _URL_RE.match(server):
        raise RegistryConfigError("registry %r: server %r must be an http:// or https:// URL" % (name, server))
    mirrors = []
    for mirror in entry.get("mirrors") or []:
        if isinstance(mirror, str):
            mirror = {"url": mirror}
        url = mirror.get("url", "")
        if not _URL_RE.match(url):
            raise RegistryConfigError("registry %r: mirror url %r must be an http:// or https:// URL" % (name, url))
        caps = mirror.get("capabilities") or ["pull", "resolve"]
        bad = [c for c in caps if c not in _CAPABILITIES]
        if bad:
            raise RegistryConfigError("registry %r: mirror %s has unknown capabilities %s (allowed: %s)" % (
                name, url, bad, ", ".join(_CAPABILITIES)))
        mirrors.append({
            "url": url,
            "capabilities": list(caps),
            "skip_verify": bool(mirror.get("skip_verify", False)),
            "ca": mirror.get("ca"),
            "override_path": bool(mirror.get("override_path", False)),
        })
    state = entry.get("state", "present")
    if state not in ("present", "absent"):
        raise RegistryConfigError("registry %r: state must be present or absent, not %r" % (name, state))
    return {
        "name": name,
        "server": server,
        "skip_verify": bool(entry.get("skip_verify", False)),
        "ca": entry.get("ca"),
        "capabilities": list(entry.get("capabilities") or _CAPABILITIES),
        "mirrors": mirrors,
        "state": state,
    }


def _host_block(url, capabilities, skip_verify, ca, override_path=False):
    lines = ["", "[host.%s]" % _toml_str(url),
             "  capabilities = [%s]" % ", ".join(_toml_str(c) for c in capabilities)]
    if skip_verify:
        lines.append("  skip_verify = true")
    if ca:
        lines.append("  ca = %s" % _toml_str(ca))
    if override_path:
        lines.append("  override_path = true")
    return lines


def render_hosts_toml(entry, ca_path=None):
    """hosts.toml text for one registry entry (already normalized or raw).

    ``ca_path`` is where the role put the entry's CA bundle on the node, if it has one.
    Mirrors come first (containerd tries hosts in order), then the registry itself.
    """
    reg = normalize(entry)
    lines = ["# Managed by aiinfra.cluster (node_baseline); containerd reads this on every pull.",
             "server = %s" % _toml_str(reg["server"])]
    for mirror in reg["mirrors"]:
        lines += _host_block(mirror["url"], mirror["capabilities"], mirror["skip_verify"],
                             mirror["ca"], mirror["override_path"])
    if not reg["mirrors"] or reg["skip_verify"] or ca_path:
        lines += _host_block(reg["server"], reg["capabilities"], reg["skip_verify"], ca_path)
    return "\n".join(lines) + "\n"


def registry_files(entries, certs_dir):
    """Everything the role writes: [{name, dir, state, hosts_toml, ca_path, ca_content}] in input order."""
    out, seen = [], set()
    for entry in entries or []:
        reg = normalize(entry)
        if reg["name"] in seen:
            raise RegistryConfigError("registry %r is listed twice" % reg["name"])
        seen.add(reg["name"])
        directory = "%s/%s" % (certs_dir.rstrip("/"), reg["name"])
        ca_path = "%s/ca.crt" % directory if reg["ca"] else None
        out.append({
            "name": reg["name"],
            "dir": directory,
            "state": reg["state"],
            "hosts_toml": render_hosts_toml(entry, ca_path),
            "ca_path": ca_path,
            "ca_content": reg["ca"],
        })
    return out


_CRI = "io.containerd.grpc.v1.cri"


def merged_config_problems(dump_text, expected):
    """What containerd's merged configuration (``containerd config dump``) lacks of the settings node_baseline made.

    ``expected``: socket, sandbox_image, config_path, cni_conf_dir, cni_bin_dir (each optional) and runtimes
    ({name: {binary}}), restrict_oom_score_adj (optional); runc and every runtime must run with SystemdCgroup = true.
    Returns one line per problem,
    empty when everything is there. containerd 1.6/1.7 replace a whole plugin section with the one of each later
    imported file, so these are the settings a drop-in can take away.
    """
    try:
        import tomllib  # Python 3.11+, the controller's
    except ImportError:  # pragma: no cover - the controller runs 3.11+
        raise RegistryConfigError("reading containerd's configuration needs Python 3.11+ (tomllib) on the controller")
    try:
        dump = tomllib.loads(dump_text or "")
    except ValueError as exc:
        raise RegistryConfigError("containerd config dump did not print TOML (%s): %s" % (exc, (dump_text or "")[:200]))
    problems = []
    cri = dump.get("plugins", {}).get(_CRI)
    if not isinstance(cri, dict):
        return ["the CRI plugin (%s) has no configuration" % _CRI]

    def check(label, actual, want):
        if want is not None and actual != want:
            problems.append("%s is %s, not %s" % (label, _toml_str(actual) if actual is not None else "unset", _toml_str(want)))

    check("grpc.address", dump.get("grpc", {}).get("address"), expected.get("socket"))
    check("sandbox_image", cri.get("sandbox_image"), expected.get("sandbox_image"))
    check("registry.config_path", cri.get("registry", {}).get("config_path"), expected.get("config_path"))
    check("cni.conf_dir", cri.get("cni", {}).get("conf_dir"), expected.get("cni_conf_dir"))
    check("cni.bin_dir", cri.get("cni", {}).get("bin_dir"), expected.get("cni_bin_dir"))
    check("restrict_oom_score_adj", cri.get("restrict_oom_score_adj"), expected.get("restrict_oom_score_adj"))
    runtimes = cri.get("containerd", {}).get("runtimes", {})
    wanted = dict(expected.get("runtimes") or {})
    wanted.setdefault("runc", {})
    for name in sorted(wanted):
        runtime = runtimes.get(name)
        if runtime is None:
            problems.append("runtime %s is missing" % name)
            continue
        options = runtime.get("options") or {}
        if options.get("SystemdCgroup") is not True:
            problems.append("runtime %s does not use the systemd cgroup driver (SystemdCgroup)" % name)
        binary = (wanted[name] or {}).get("binary")
        if binary:
            check("runtime %s BinaryName" % name, options.get("BinaryName"), binary)
    return problems
