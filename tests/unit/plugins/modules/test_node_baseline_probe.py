"""node_baseline_probe run as Ansible runs it (its own process, JSON arguments) against a real file tree, the real
/proc/sys, and stand-ins for dpkg-query, systemctl and containerd on PATH that print captured output: it reports
exactly what does not hold, changes nothing (check mode or not), and refuses bad input with one message."""

import hashlib
import os
import stat

import pytest

from ansible_collections.aiinfra.cluster.tests.unit.plugins.modules.modrun import run_module

DPKG = "containerd\tinstall ok installed\ncurl\tinstall ok installed\nchrony\tdeinstall ok config-files\n"
SHOW = ("Id=containerd.service\nNames=containerd.service\nLoadState=loaded\nActiveState=active\n"
        "UnitFileState=enabled\n\nId=systemd-timesyncd.service\nNames=systemd-timesyncd.service\n"
        "LoadState=loaded\nActiveState=inactive\nUnitFileState=disabled\n")
DUMP = 'version = 2\n[grpc]\n  address = "/run/containerd/containerd.sock"\n'


def tool(bindir, name, stdout, rc=0, log=None):
    path = os.path.join(bindir, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n%scat <<'EOF_OUT'\n%sEOF_OUT\nexit %d\n"
                % ('echo "$0 $*" >> %s\n' % log if log else "", stdout, rc))
    os.chmod(path, 0o755)


@pytest.fixture
def node(tmp_path):
    """A small node: files, directories, an fstab, module probe paths, and the three tools."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = str(tmp_path / "calls.log")
    tool(str(bindir), "dpkg-query", DPKG, rc=1, log=log)  # rc 1: some names not installed
    tool(str(bindir), "systemctl", SHOW, log=log)
    tool(str(bindir), "containerd", DUMP, log=log)
    etc = tmp_path / "etc"
    (etc / "certs.d").mkdir(parents=True)
    os.chmod(str(etc / "certs.d"), 0o755)
    for name, text in (("sysctl.conf", "net.ipv4.ip_forward=1\n"), ("config.toml", "version = 2\n")):
        (etc / name).write_text(text)
        os.chmod(str(etc / name), 0o644)
    (etc / "fstab").write_text("UUID=1 / ext4 defaults 0 1\n# /swapfile none swap sw 0 0  # disabled\n")
    (tmp_path / "module_overlay").mkdir()
    return {"root": tmp_path, "bin": str(bindir), "etc": etc, "log": log}


def sha1(text):
    return hashlib.sha1(text.encode()).hexdigest()


def args(node, **over):
    etc = node["etc"]
    current = open("/proc/sys/net/ipv4/ip_forward").read().strip()
    base = {
        "files": [{"path": str(etc / "sysctl.conf"), "content": "net.ipv4.ip_forward=1\n", "mode": "0644"},
                  {"path": str(etc / "config.toml"), "checksum": sha1("version = 2\n"), "mode": "0644"}],
        "directories": [{"path": str(etc / "certs.d"), "mode": "0755"}],
        "absent": [str(etc / "certs.d" / "old:5000")],
        "packages": ["containerd", "curl"],
        "services": [{"name": "containerd", "started": True}, {"name": "systemd-timesyncd", "started": False,
                                                               "enabled": False}],
        "sysctls": {"net.ipv4.ip_forward": current},
        "kernel_modules": {"overlay": str(node["root"] / "module_overlay")},
        "swap": True,
        "fstab": str(etc / "fstab"),
        "containerd_config": str(etc / "config.toml"),
    }
    base.update(over)
    return base


def snapshot(root):
    return sorted((p, os.lstat(os.path.join(d, p)).st_mtime_ns, os.lstat(os.path.join(d, p)).st_mode)
                  for d, dirs, files in os.walk(str(root)) for p in dirs + files if p != "calls.log")


@pytest.mark.parametrize("check_mode", [False, True])
def test_all_holds_and_nothing_is_written(node, check_mode):
    before = snapshot(node["root"])
    run = run_module("node_baseline_probe", dict(args(node), _ansible_check_mode=check_mode), path_prepend=node["bin"])
    assert not run.crashed, run.stderr
    r = run.result
    assert r["changed"] is False and r["holds"] is True and r["drift"] == [], r
    assert r["files"] == {} and r["directories"] == {} and r["packages_missing"] == [] and r["sysctls"] == {}
    assert r["services"] == {"containerd": [], "systemd-timesyncd": []}
    assert r["containerd_config_dump"] == DUMP
    assert r["kernel"] == os.uname()[2]
    assert snapshot(node["root"]) == before
    calls = open(node["log"]).read()
    assert "dpkg-query -W -f ${Package}\t${Status}\n -- containerd curl" in calls
    assert "containerd --config %s config dump" % (node["etc"] / "config.toml") in calls


def test_each_kind_of_drift_is_reported(node):
    etc = node["etc"]
    (etc / "config.toml").write_text("version = 2\n# edited\n")           # a file edited
    os.chmod(str(etc / "sysctl.conf"), 0o666)                              # a mode changed
    os.chmod(str(etc / "certs.d"), 0o700)
    (etc / "certs.d" / "old:5000").mkdir()                                 # a registry that must be gone
    with open(str(etc / "fstab"), "a") as f:
        f.write("/swapfile none swap sw 0 0\n")                            # swap back in fstab
    os.rmdir(str(node["root"] / "module_overlay"))                          # a module gone
    wanted = "0" if open("/proc/sys/net/ipv4/ip_forward").read().strip() == "1" else "1"
    run = run_module("node_baseline_probe", args(node, packages=["containerd", "chrony", "nfs-common"],
                                                 services=[{"name": "systemd-timesyncd", "started": False}],
                                                 sysctls={"net.ipv4.ip_forward": wanted,
                                                          "net.aiinfra.no_such_key": 1}),
                     path_prepend=node["bin"])
    assert not run.crashed, run.stderr
    r = run.result
    assert r["holds"] is False and r["changed"] is False
    assert r["files"] == {str(etc / "config.toml"): "content differs", str(etc / "sysctl.conf"): "mode is 0666, want 0644"}
    assert r["directories"] == {str(etc / "certs.d"): "mode is 0700, want 0755"}
    assert r["absent_present"] == [str(etc / "certs.d" / "old:5000")]
    assert r["packages_missing"] == ["chrony", "nfs-common"]
    assert r["services"] == {"systemd-timesyncd": ["not enabled (disabled)"]}
    assert r["sysctls"] == {"net.ipv4.ip_forward": "1" if wanted == "0" else "0", "net.aiinfra.no_such_key": None}
    assert r["modules_missing"] == ["overlay"]
    assert r["fstab_swap"] == ["/swapfile none swap sw 0 0"]
    assert len(r["drift"]) == 10, r["drift"]


def test_a_missing_file_package_and_containerd_config(node, tmp_path):
    bindir = tmp_path / "bin2"
    bindir.mkdir()
    tool(str(bindir), "dpkg-query", "", rc=1)
    # containerd not installed: PATH holds only the stand-in dpkg-query and the system's directories without it
    env_path = str(bindir)
    run = run_module("node_baseline_probe", {"files": [{"path": str(node["etc"] / "nope.toml"), "content": "x"}],
                                             "packages": ["containerd"], "containerd_config": "/nonexistent/config.toml"},
                     path_prepend=env_path)
    assert not run.crashed, run.stderr
    assert run.result["files"] == {str(node["etc"] / "nope.toml"): "missing"}
    assert run.result["packages_missing"] == ["containerd"]
    assert run.result["containerd_config_dump"] is None


def test_a_failing_dump_is_reported_not_raised(node):
    with open(os.path.join(node["bin"], "containerd"), "w") as f:
        f.write("#!/bin/sh\necho 'failed to load TOML: near line 3' >&2\nexit 1\n")
    os.chmod(os.path.join(node["bin"], "containerd"), stat.S_IRWXU)
    run = run_module("node_baseline_probe", args(node), path_prepend=node["bin"])
    assert not run.crashed, run.stderr
    assert run.result["containerd_config_dump"] is None
    assert "failed to load TOML" in run.result["containerd_config_error"]


@pytest.mark.parametrize("bad,words", [
    ({"files": [{"path": "relative/file", "content": "x"}]}, "is not absolute"),
    ({"files": [{"path": "/etc/x", "checksum": "not-a-sha1"}]}, "is not a SHA-1"),
    ({"files": [{"path": "/etc/x"}]}, "one of the following is required: content, checksum"),
    ({"files": [{"path": "/etc/x", "content": "a", "checksum": "a" * 40}]}, "mutually exclusive"),
    ({"files": [{"path": "/", "content": "a", "mode": "rw-r--r--"}]}, "mode 'rw-r--r--' is not an octal mode"),
    ({"kernel_modules": {"overlay": "sys/module/overlay"}}, "probe path of overlay is not an absolute path"),
    ({"sysctls": {"net..ipv4": 1}}, "is not a dotted name"),
])
def test_bad_input_fails_with_one_message(bad, words):
    run = run_module("node_baseline_probe", bad)
    assert not run.crashed, run.stdout + run.stderr
    assert run.result["failed"] is True
    assert words in run.result["msg"], run.result["msg"]


def test_tool_failure_fails_with_its_message(node):
    tool(node["bin"], "systemctl", "", rc=1)
    with open(os.path.join(node["bin"], "systemctl"), "w") as f:
        f.write("#!/bin/sh\necho 'System has not been booted with systemd' >&2\nexit 1\n")
    run = run_module("node_baseline_probe", args(node), path_prepend=node["bin"])
    assert not run.crashed, run.stderr
    assert run.result["failed"] is True
    assert "systemctl show containerd systemd-timesyncd failed (rc=1): System has not been booted" in run.result["msg"]


def test_a_configuration_changed_after_the_service_started_is_reported(node):
    """The restart a failed run never made: containerd active since before its config.toml changed."""
    import time
    etc = node["etc"]
    up_for = time.clock_gettime(time.CLOCK_MONOTONIC)
    # containerd became active 60 s ago; config.toml was written 10 s ago, sysctl.conf 120 s ago
    entered = int((up_for - 60) * 10 ** 6)
    now = time.time()
    os.utime(str(etc / "config.toml"), (now - 10, now - 10))
    os.utime(str(etc / "sysctl.conf"), (now - 120, now - 120))
    tool(node["bin"], "systemctl", SHOW.replace("ActiveState=active\n", "ActiveState=active\nActiveEnterTimestampMonotonic=%d\n"
                                                % entered, 1))
    services = [{"name": "containerd", "started": True,
                 "restart_after": [str(etc / "config.toml"), str(etc / "sysctl.conf")]}]
    run = run_module("node_baseline_probe", args(node, services=services), path_prepend=node["bin"])
    assert not run.crashed, run.stderr
    r = run.result
    assert r["services_stale"] == {"containerd": [str(etc / "config.toml")]}, r
    assert r["holds"] is False
    assert ("service containerd runs on an older configuration: %s changed after it started" % (etc / "config.toml")
            in r["drift"])
    # restarted after the write: nothing stale
    tool(node["bin"], "systemctl", SHOW.replace("ActiveState=active\n", "ActiveState=active\nActiveEnterTimestampMonotonic=%d\n"
                                                % int((up_for - 1) * 10 ** 6), 1))
    r = run_module("node_baseline_probe", args(node, services=services), path_prepend=node["bin"]).result
    assert r["services_stale"] == {}
