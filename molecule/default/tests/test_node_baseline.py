"""Verify node_baseline on the real test-bed nodes (testinfra over the molecule inventory)."""

import tomllib

import pytest

REGISTRY = "198.18.1.11:5000"
CERTS = "/etc/containerd/certs.d"


def test_swap_entries_disabled_in_fstab(host):
    fstab = host.file("/etc/fstab").content_string
    active = [line for line in fstab.splitlines() if line.split()[2:3] == ["swap"] and not line.lstrip().startswith("#")]
    assert active == []
    assert "# /swapfile none swap sw 0 0" in fstab  # the entry prepare.yml added is kept, commented


def test_no_swap_active(host):
    assert host.file("/proc/swaps").content_string.strip().splitlines()[1:] == []


def test_kernel_modules_persisted_and_present(host):
    conf = host.file("/etc/modules-load.d/90-aiinfra-kubernetes.conf")
    assert conf.content_string.split("\n")[1:3] == ["overlay", "br_netfilter"]
    assert host.file("/sys/module/overlay").is_directory
    assert "overlay" in host.file("/proc/filesystems").content_string
    assert host.file("/proc/sys/net/bridge/bridge-nf-call-iptables").exists


@pytest.mark.parametrize("key,value", [
    ("net.ipv4.ip_forward", 1),
    ("net.bridge.bridge-nf-call-iptables", 1),
    ("net.bridge.bridge-nf-call-ip6tables", 1),
])
def test_network_sysctls_applied(host, key, value):
    assert host.sysctl(key) == value


def test_sysctls_persisted(host):
    lines = host.file("/etc/sysctl.d/90-aiinfra-kubernetes.conf").content_string.split()
    for expected in ("net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1",
                     "fs.inotify.max_user_instances=8192", "fs.inotify.max_user_watches=524288"):
        assert expected in lines


def test_time_sync_enabled(host):
    assert host.service("systemd-timesyncd").is_enabled


def test_containerd_running_with_systemd_cgroups_and_certs_d(host):
    svc = host.service("containerd")
    assert svc.is_running and svc.is_enabled
    # containerd's own parsed view of its configuration, not our file
    dump = tomllib.loads(host.check_output("containerd config dump"))
    cri = dump["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert cri["registry"]["config_path"] == CERTS


def test_registry_hosts_toml(host):
    plain = tomllib.loads(host.file(f"{CERTS}/{REGISTRY}/hosts.toml").content_string)
    assert plain["server"] == f"http://{REGISTRY}"
    assert plain["host"][f"http://{REGISTRY}"]["capabilities"] == ["pull", "resolve", "push"]
    mirror = tomllib.loads(host.file(f"{CERTS}/docker.io/hosts.toml").content_string)
    assert mirror["server"] == "https://registry-1.docker.io"
    assert mirror["host"][f"http://{REGISTRY}"]["capabilities"] == ["pull", "resolve"]


def _pull(host, ref, hosts_dir):
    host.run("ctr -n aiinfra-test images rm %s", ref)
    return host.run("ctr -n aiinfra-test images pull --hosts-dir %s %s", hosts_dir, ref)


def test_pull_from_plain_http_registry_needs_hosts_toml(host):
    ref = f"{REGISTRY}/aiinfra/busybox:1.36"
    host.run("mkdir -p /tmp/empty-certs.d")
    without = _pull(host, ref, "/tmp/empty-certs.d")
    assert without.rc != 0
    assert "server gave HTTP response to HTTPS client" in without.stderr
    with_role = _pull(host, ref, CERTS)
    assert with_role.rc == 0, with_role.stderr
    assert ref in host.check_output("ctr -n aiinfra-test images ls -q")


def test_docker_io_pull_goes_to_mirror(host):
    result = _pull(host, "docker.io/library/busybox:1.36", CERTS)
    assert result.rc == 0, result.stderr


def test_pulled_image_runs(host):
    ref = f"{REGISTRY}/aiinfra/busybox:1.36"
    assert _pull(host, ref, CERTS).rc == 0
    host.run("ctr -n aiinfra-test tasks kill -s KILL smoke; ctr -n aiinfra-test containers rm smoke")
    out = host.run("ctr -n aiinfra-test run --rm %s smoke /bin/echo hello-from-registry", ref)
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "hello-from-registry"


def test_reset_left_no_cni_leftovers(host):
    """side_effect.yml put Cilium's veth pair and a CNI config on every node, then ran playbooks/reset.yml."""
    links = host.check_output("ip -o link show")
    assert "cilium_host" not in links and "cilium_net" not in links
    assert not host.file("/etc/cni/net.d/05-cilium.conflist").exists
