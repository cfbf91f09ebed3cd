"""The node baseline probe's parsers and comparisons: each kind of drift node_baseline repairs is noticed, and a
state that holds is reported as holding (issue #18: the role skips its repair tasks on that answer)."""

import os
import stat

import pytest

from ansible_collections.aiinfra.cluster.plugins.module_utils.node_baseline_probe import (
    ProbeError, fstab_swap_entries, match_units, missing_packages, normalize_sysctl_value, parse_dpkg_query, parse_mode,
    parse_systemctl_show, path_drift, proc_swaps_active, service_drift, started_before, summary, sysctl_drift,
    sysctl_path,
)

FSTAB = """# /etc/fstab: static file system information.
UUID=0a1b / ext4 errors=remount-ro 0 1
/swapfile none swap sw 0 0
# /swap.old none swap sw 0 0
#/dev/sdb2 none swap sw 0 0
  /dev/sda3   none   swap   sw,pri=5   0 0
# /swapfile none swap sw 0 0  # disabled by aiinfra.cluster: the kubelet needs swap off
tmpfs /tmp tmpfs defaults 0 0
"""


def test_fstab_active_swap_lines_only():
    assert fstab_swap_entries(FSTAB) == ["/swapfile none swap sw 0 0", "  /dev/sda3   none   swap   sw,pri=5   0 0"]


def test_fstab_after_the_role_commented_them_holds():
    commented = "\n".join("# %s  # disabled" % line if line in fstab_swap_entries(FSTAB) else line
                          for line in FSTAB.splitlines())
    assert fstab_swap_entries(commented) == []


@pytest.mark.parametrize("text,active", [
    ("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n", []),
    ("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/swapfile                               file\t\t"
     "1048572\t\t0\t\t-2\n/dev/sda3 partition 2097148 0 -3\n", ["/swapfile", "/dev/sda3"]),
    ("", []),
])
def test_proc_swaps(text, active):
    assert proc_swaps_active(text) == active


def test_proc_swaps_without_its_header_is_refused():
    with pytest.raises(ProbeError, match="header"):
        proc_swaps_active("/swapfile file 1 0 -2\n")


@pytest.mark.parametrize("key,path", [
    ("net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"),
    ("net.bridge.bridge-nf-call-iptables", "/proc/sys/net/bridge/bridge-nf-call-iptables"),
    ("net.ipv4.conf.eth0/100.rp_filter", "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"),
    ("fs.inotify.max_user_instances", "/proc/sys/fs/inotify/max_user_instances"),
])
def test_sysctl_path(key, path):
    assert sysctl_path(key) == path


@pytest.mark.parametrize("key", ["", ".net.ipv4", "net.ipv4.", "net..ipv4", "/etc/passwd"])
def test_sysctl_path_refuses_what_is_not_a_dotted_name(key):
    with pytest.raises(ProbeError, match="dotted name"):
        sysctl_path(key)


@pytest.mark.parametrize("value,normal", [(1, "1"), (True, "1"), ("32768\t60999", "32768 60999"),
                                          (" 4096  87380 6291456 ", "4096 87380 6291456")])
def test_sysctl_values_compare_field_by_field(value, normal):
    assert normalize_sysctl_value(value) == normal


WANTED = {"net.ipv4.ip_forward": 1, "net.bridge.bridge-nf-call-iptables": 1,
          "net.ipv4.ip_local_port_range": "32768 60999", "fs.inotify.max_user_instances": 8192}


@pytest.mark.parametrize("actual,drift", [
    ({"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1",
      "net.ipv4.ip_local_port_range": "32768\t60999", "fs.inotify.max_user_instances": "8192"}, {}),
    # a sysctl changed behind the role's back
    ({"net.ipv4.ip_forward": "0", "net.bridge.bridge-nf-call-iptables": "1",
      "net.ipv4.ip_local_port_range": "32768\t60999", "fs.inotify.max_user_instances": "128"},
     {"net.ipv4.ip_forward": "0", "fs.inotify.max_user_instances": "128"}),
    # br_netfilter unloaded: its sysctls are gone
    ({"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": None,
      "net.ipv4.ip_local_port_range": "1024 65000", "fs.inotify.max_user_instances": "8192"},
     {"net.bridge.bridge-nf-call-iptables": None, "net.ipv4.ip_local_port_range": "1024 65000"}),
])
def test_sysctl_drift(actual, drift):
    assert sysctl_drift(WANTED, actual) == drift


# captured from Debian 12: dpkg-query -W -f '${Package}\t${Status}\n' -- containerd curl chrony iptables libc6
DPKG = ("containerd\tinstall ok installed\ncurl\tinstall ok installed\nchrony\tdeinstall ok config-files\n"
        "iptables\thold ok installed\nlibc6\tinstall ok installed\nlibc6\tinstall ok not-installed\n")


def test_dpkg_query_parse_and_missing_packages():
    states = parse_dpkg_query(DPKG)
    assert states["chrony"] == "deinstall ok config-files"
    assert states["libc6"] == "install ok installed"  # installed for one architecture is installed
    assert missing_packages(["containerd", "curl", "iptables", "libc6"], states) == []
    # removed (config files left), never known, a version or an architecture: apt decides
    assert missing_packages(["chrony", "nfs-common", "curl=7.88.1-10", "curl:arm64", "containerd"], states) == [
        "chrony", "nfs-common", "curl=7.88.1-10", "curl:arm64"]


def test_dpkg_query_output_of_another_shape_is_refused():
    with pytest.raises(ProbeError, match="package<TAB>status"):
        parse_dpkg_query("containerd install ok installed\n")


# captured from a Debian 12 test-bed node:
# systemctl show --property=Id,Names,LoadState,ActiveState,UnitFileState -- containerd systemd-timesyncd chrony iscsid
SHOW = """Id=containerd.service
Names=containerd.service
LoadState=loaded
ActiveState=active
UnitFileState=enabled

Id=systemd-timesyncd.service
Names=systemd-timesyncd.service dbus-org.freedesktop.timesync1.service
LoadState=loaded
ActiveState=inactive
UnitFileState=disabled

Id=chrony.service
Names=chrony.service
LoadState=not-found
ActiveState=inactive
UnitFileState=

Id=iscsid.service
Names=iscsid.service
LoadState=masked
ActiveState=inactive
UnitFileState=masked
"""


def test_systemctl_show_blocks_matched_to_the_names_asked():
    units = match_units(["containerd", "dbus-org.freedesktop.timesync1.service", "chrony", "iscsid", "gone"],
                        parse_systemctl_show(SHOW))
    assert units["containerd"]["ActiveState"] == "active"
    assert units["dbus-org.freedesktop.timesync1.service"]["Id"] == "systemd-timesyncd.service"  # by alias
    assert units["gone"] == {}


@pytest.mark.parametrize("unit,enabled,started,problems", [
    ("containerd", True, True, []),
    ("systemd-timesyncd", True, False, ["not enabled (disabled)"]),  # disabled behind the role's back
    ("systemd-timesyncd", False, True, ["not active (inactive)"]),
    ("chrony", True, True, ["not loaded (not-found)"]),
    ("iscsid", True, False, ["not loaded (masked)"]),
    ("gone", True, False, ["not loaded (unknown)"]),
])
def test_service_drift(unit, enabled, started, problems):
    units = match_units([unit], parse_systemctl_show(SHOW))
    assert service_drift(units[unit], enabled, started) == problems


def test_service_unit_file_states_other_than_enabled_are_drift():
    for state in ("static", "alias", "enabled-runtime", "indirect", "generated"):
        props = {"LoadState": "loaded", "ActiveState": "active", "UnitFileState": state}
        assert service_drift(props, True, True) == ["not enabled (%s)" % state]


def test_systemctl_show_output_of_another_shape_is_refused():
    with pytest.raises(ProbeError, match="Property=value"):
        parse_systemctl_show("containerd.service loaded active running\n")


@pytest.mark.parametrize("mode,value", [("0644", 0o644), ("644", 0o644), ("0755", 0o755), ("1777", 0o1777),
                                        (0o600, 0o600)])
def test_parse_mode(mode, value):
    assert parse_mode(mode, "/x") == value


@pytest.mark.parametrize("mode", ["rw-r--r--", "0999", "u=rw", True, None, "07777777"])
def test_parse_mode_refuses(mode):
    with pytest.raises(ProbeError, match="/x: mode"):
        parse_mode(mode, "/x")


class St(object):
    def __init__(self, mode):
        self.st_mode = mode


FILE = {"path": "/etc/containerd/aiinfra-cri.toml", "checksum": "a" * 40, "mode": "0644", "owner": "root",
        "group": "root"}


@pytest.mark.parametrize("st,owner,group,checksum,why", [
    (St(stat.S_IFREG | 0o644), "root", "root", "a" * 40, None),
    (None, None, None, None, "missing"),
    (St(stat.S_IFREG | 0o644), "root", "root", "b" * 40, "content differs"),  # the file was edited
    (St(stat.S_IFREG | 0o666), "root", "root", "a" * 40, "mode is 0666, want 0644"),
    (St(stat.S_IFREG | 0o644), "nobody", "root", "a" * 40, "owner is nobody, want root"),
    (St(stat.S_IFREG | 0o644), "root", None, "a" * 40, "group is None, want root"),
    (St(stat.S_IFDIR | 0o755), "root", "root", None, "not a regular file"),
    (St(stat.S_IFLNK | 0o777), "root", "root", None, "not a regular file"),
])
def test_file_drift(st, owner, group, checksum, why):
    assert path_drift(FILE, st, owner, group, checksum=checksum) == why


@pytest.mark.parametrize("st,why", [
    (St(stat.S_IFDIR | 0o755), None),
    (St(stat.S_IFDIR | 0o700), "mode is 0700, want 0755"),
    (St(stat.S_IFREG | 0o755), "not a directory"),
    (None, "missing"),
])
def test_directory_drift(st, why):
    want = {"path": "/etc/containerd/certs.d", "mode": "0755", "owner": "root", "group": "root"}
    assert path_drift(want, st, "root", "root", kind="directory") == why


def test_unset_mode_and_owner_are_not_compared():
    assert path_drift({"path": "/x", "checksum": "a" * 40}, St(stat.S_IFREG | 0o600), "nobody", "nogroup",
                      checksum="a" * 40) is None


def test_real_lstat_results_compare(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    os.chmod(str(path), 0o640)
    want = {"path": str(path), "checksum": "c" * 40, "mode": "0640"}
    assert path_drift(want, os.lstat(str(path)), None, None, checksum="c" * 40) is None
    os.chmod(str(path), 0o644)
    assert path_drift(want, os.lstat(str(path)), None, None, checksum="c" * 40) == "mode is 0644, want 0640"


def test_summary_names_every_kind_and_is_empty_when_all_holds():
    assert summary({"files": {}, "directories": {}, "absent_present": [], "packages_missing": [],
                    "services": {"containerd": []}, "sysctls": {}, "modules_missing": [], "swap_active": [],
                    "fstab_swap": []}) == []
    lines = summary({"files": {"/etc/containerd/config.toml": "content differs"},
                     "directories": {"/etc/containerd/certs.d": "missing"},
                     "absent_present": ["/etc/containerd/certs.d/old:5000"], "packages_missing": ["containerd"],
                     "services": {"containerd": ["not active (inactive)"], "chrony": []},
                     "sysctls": {"net.ipv4.ip_forward": "0", "net.bridge.bridge-nf-call-iptables": None},
                     "modules_missing": ["br_netfilter"], "swap_active": ["/swapfile"],
                     "fstab_swap": ["/swapfile none swap sw 0 0"]})
    assert lines == [
        "file /etc/containerd/config.toml: content differs",
        "directory /etc/containerd/certs.d: missing",
        "/etc/containerd/certs.d/old:5000 exists, want it absent",
        "packages not installed: containerd",
        "service containerd: not active (inactive)",
        "sysctl net.bridge.bridge-nf-call-iptables is missing",
        "sysctl net.ipv4.ip_forward is '0'",
        "kernel modules not present: br_netfilter",
        "swap in use: /swapfile",
        "swap entries active in fstab: 1",
    ]


# started_before: the unit became active 100 s after boot; now is 1000 s after boot, wall clock 1_000_000.
ACTIVE = {"ActiveState": "active", "ActiveEnterTimestampMonotonic": str(100 * 10 ** 6)}
STARTED_WALL = 1000000 - (1000 - 100)


@pytest.mark.parametrize("props, mtimes, stale", [
    (ACTIVE, {"/a": STARTED_WALL - 5, "/b": STARTED_WALL - 0.5}, []),
    (ACTIVE, {"/a": STARTED_WALL + 2, "/b": STARTED_WALL - 1}, ["/a"]),
    (ACTIVE, {"/b": STARTED_WALL + 1, "/a": STARTED_WALL + 3}, ["/a", "/b"]),
    (ACTIVE, {"/missing": None}, []),
    ({"ActiveState": "inactive", "ActiveEnterTimestampMonotonic": "0"}, {"/a": STARTED_WALL + 9}, []),
    ({"ActiveState": "active", "ActiveEnterTimestampMonotonic": "0"}, {"/a": STARTED_WALL + 9}, []),
])
def test_started_before_names_files_changed_after_the_unit_started(props, mtimes, stale):
    assert started_before(props, mtimes, 1000000, 1000) == stale


def test_started_before_refuses_a_timestamp_that_is_not_a_number():
    with pytest.raises(ProbeError, match="ActiveEnterTimestampMonotonic"):
        started_before({"ActiveState": "active", "ActiveEnterTimestampMonotonic": "n/a"}, {"/a": 1}, 10, 10)


def test_summary_names_a_service_running_on_an_older_configuration():
    lines = summary({"services_stale": {"containerd": ["/etc/containerd/aiinfra-cri.toml"]}})
    assert lines == ["service containerd runs on an older configuration: /etc/containerd/aiinfra-cri.toml changed "
                     "after it started"]
