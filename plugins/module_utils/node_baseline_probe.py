# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node baseline's state, read in one round trip and compared with what node_baseline wants.

Pure functions: parsers of what the node shows (/proc/swaps, /etc/fstab, ``dpkg-query``, ``systemctl show``,
/proc/sys values) and comparisons that return what drifted. The module (plugins/modules/node_baseline_probe.py)
reads the files and runs the commands; nothing here touches the system, and nothing is remembered between runs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import stat

# The same pattern node_baseline's fstab task comments out: a non-comment line whose third field is "swap".
FSTAB_SWAP_RE = re.compile(r'^(\s*[^#\s]\S*\s+\S+\s+swap\s+.*)$')

# dpkg's "Status" triple for a package that is installed (want install or hold, no error flag, installed).
INSTALLED_STATES = ("install ok installed", "hold ok installed")


class ProbeError(Exception):
    """Input the probe cannot work with: one message naming the field."""


def fstab_swap_entries(text):
    """The active (not commented out) swap lines of an fstab text, as node_baseline's fstab task matches them."""
    return [line for line in text.splitlines() if FSTAB_SWAP_RE.match(line)]


def proc_swaps_active(text):
    """The swap areas in use, from /proc/swaps (a header line, then one area per line)."""
    lines = text.splitlines()
    if not lines:
        return []
    if not lines[0].startswith("Filename"):
        raise ProbeError("/proc/swaps does not start with its header line (Filename Type Size Used Priority): %r"
                         % lines[0][:80])
    return [line.split()[0] for line in lines[1:] if line.strip()]


def sysctl_path(key):
    """/proc/sys path of a sysctl name: dots separate levels, a slash stands for a dot inside a level
    (e.g. net.ipv4.conf.eth0/100.rp_filter, as sysctl(8) writes VLAN interfaces)."""
    if not key or key.startswith(".") or key.endswith(".") or ".." in key or key.startswith("/"):
        raise ProbeError("sysctl name %r is not a dotted name like net.ipv4.ip_forward" % key)
    return "/proc/sys/" + key.translate(str.maketrans("./", "/."))


def normalize_sysctl_value(value):
    """Values compare field by field: /proc separates fields with tabs, sysctl.d files and inventories with spaces."""
    if isinstance(value, bool):
        value = int(value)
    return " ".join(str(value).split())


def sysctl_drift(wanted, actual):
    """sysctls whose runtime value is not the wanted one: {name: actual value, or None when it does not exist}.

    ``wanted`` maps names to values (only those to be applied at runtime on this node); ``actual`` maps names to what
    /proc/sys holds (None: no such file, e.g. net.bridge.* before br_netfilter is loaded)."""
    drift = {}
    for key in sorted(wanted):
        have = actual.get(key)
        if have is None or normalize_sysctl_value(have) != normalize_sysctl_value(wanted[key]):
            drift[key] = None if have is None else normalize_sysctl_value(have)
    return drift


def parse_dpkg_query(stdout):
    """{package: status} from ``dpkg-query -W -f '${Package}\\t${Status}\\n'`` (one line per installed architecture)."""
    states = {}
    for line in stdout.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise ProbeError("dpkg-query printed a line that is not 'package<TAB>status': %r" % line[:120])
        name, status = fields[0].strip(), " ".join(fields[1].split())
        # several architectures of one package: installed if any of them is
        if states.get(name) not in INSTALLED_STATES:
            states[name] = status
    return states


def missing_packages(wanted, states):
    """Wanted package names that dpkg does not report installed. A name apt would resolve differently (a version,
    an architecture, a virtual package) is never found here, so apt gets to decide: never a false 'installed'."""
    return [name for name in wanted if states.get(name) not in INSTALLED_STATES]


def parse_systemctl_show(stdout):
    """{unit name as asked: {Property: value}} from ``systemctl show -p Id,Names,LoadState,ActiveState,UnitFileState
    UNIT...`` (blocks separated by an empty line, in the order asked; Names lists the aliases)."""
    blocks, current = [], {}
    for line in stdout.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        if "=" not in line:
            raise ProbeError("systemctl show printed a line that is not Property=value: %r" % line[:120])
        key, value = line.split("=", 1)
        current[key] = value
    if current:
        blocks.append(current)
    return blocks


def _unit_names(name):
    return {name, name + ".service"} if "." not in name else {name}


def match_units(wanted_names, blocks):
    """Pair each asked name with its block (by Id or one of its Names); a name without a block maps to {}."""
    found = {}
    for name in wanted_names:
        names = _unit_names(name)
        for block in blocks:
            aliases = set(block.get("Names", "").split()) | {block.get("Id", "")}
            if names & aliases:
                found[name] = block
                break
        else:
            found[name] = {}
    return found


def service_drift(props, enabled, started):
    """What does not hold for one unit: [] when it is loaded, enabled (UnitFileState exactly 'enabled', when wanted)
    and active (when wanted). Anything unusual (static, masked, not found) counts as drift: the systemd task then
    decides, so the probe never hides a state it does not understand."""
    problems = []
    if props.get("LoadState") != "loaded":
        return ["not loaded (%s)" % (props.get("LoadState") or "unknown")]
    if enabled and props.get("UnitFileState") != "enabled":
        problems.append("not enabled (%s)" % (props.get("UnitFileState") or "unknown"))
    if started and props.get("ActiveState") != "active":
        problems.append("not active (%s)" % (props.get("ActiveState") or "unknown"))
    return problems


def started_before(props, mtimes, now_wall, now_monotonic):
    """The paths (of ``mtimes``, {path: modification time, seconds since the epoch}) changed after the unit last
    became active, i.e. the running process has not read them; [] when the unit is not active or all are older.
    ``props`` holds ActiveState and ActiveEnterTimestampMonotonic (microseconds on CLOCK_MONOTONIC, as systemd
    writes it); ``now_wall``/``now_monotonic``: time.time() and CLOCK_MONOTONIC read together, in seconds."""
    if props.get("ActiveState") != "active":
        return []
    try:
        entered = int(props.get("ActiveEnterTimestampMonotonic") or 0)
    except ValueError:
        raise ProbeError("systemctl show printed ActiveEnterTimestampMonotonic=%r, not a number"
                         % props.get("ActiveEnterTimestampMonotonic"))
    if entered <= 0:
        return []
    started_wall = now_wall - (now_monotonic - entered / 1e6)
    return sorted(path for path, mtime in mtimes.items() if mtime is not None and mtime > started_wall)


def parse_mode(mode, what):
    """An octal mode string ('0644') or number to an int; refuses anything else."""
    if isinstance(mode, int) and not isinstance(mode, bool):
        value = mode
    elif isinstance(mode, str) and re.match(r'^0?[0-7]{3,4}$', mode):
        value = int(mode, 8)
    else:
        raise ProbeError("%s: mode %r is not an octal mode like '0644'" % (what, mode))
    if value > 0o7777:
        raise ProbeError("%s: mode %r is out of range" % (what, mode))
    return value


def path_drift(want, st, owner, group, checksum=None, kind="file"):
    """Why one path does not hold: None when it does.

    ``want``: {path, mode, owner, group, checksum (files)}; ``st``: its os.lstat result or None when missing;
    ``owner``/``group``: the names of its uid/gid (None when they have no name); ``checksum``: the SHA-1 of a file's
    content (files only)."""
    if st is None:
        return "missing"
    if kind == "directory":
        if not stat.S_ISDIR(st.st_mode):
            return "not a directory"
    elif not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if kind == "file" and checksum != want["checksum"]:
        return "content differs"
    mode = want.get("mode")
    if mode is not None and stat.S_IMODE(st.st_mode) != parse_mode(mode, want["path"]):
        return "mode is %04o, want %04o" % (stat.S_IMODE(st.st_mode), parse_mode(mode, want["path"]))
    for label, have, wanted in (("owner", owner, want.get("owner")), ("group", group, want.get("group"))):
        if wanted is not None and have != wanted:
            return "%s is %s, want %s" % (label, have, wanted)
    return None


def summary(result):
    """One line per thing that does not hold, for the play's output (the role's tasks act on the fields)."""
    lines = []
    for path, why in sorted(result.get("files", {}).items()):
        lines.append("file %s: %s" % (path, why))
    for path, why in sorted(result.get("directories", {}).items()):
        lines.append("directory %s: %s" % (path, why))
    for path in result.get("absent_present", []):
        lines.append("%s exists, want it absent" % path)
    if result.get("packages_missing"):
        lines.append("packages not installed: %s" % ", ".join(result["packages_missing"]))
    for name, problems in sorted(result.get("services", {}).items()):
        if problems:
            lines.append("service %s: %s" % (name, "; ".join(problems)))
    for name, paths in sorted(result.get("services_stale", {}).items()):
        lines.append("service %s runs on an older configuration: %s changed after it started" % (name, ", ".join(paths)))
    for key, have in sorted(result.get("sysctls", {}).items()):
        lines.append("sysctl %s is %s" % (key, "missing" if have is None else repr(have)))
    if result.get("modules_missing"):
        lines.append("kernel modules not present: %s" % ", ".join(result["modules_missing"]))
    if result.get("swap_active"):
        lines.append("swap in use: %s" % ", ".join(result["swap_active"]))
    if result.get("fstab_swap"):
        lines.append("swap entries active in fstab: %d" % len(result["fstab_swap"]))
    return lines
