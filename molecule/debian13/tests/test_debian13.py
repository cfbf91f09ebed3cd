"""The host layer on a Debian 13 node beside a Debian 12 one, read from the nodes themselves: the release, swap,
persisted modules and sysctls, time sync on the inventory's servers, and containerd's own parsed configuration."""

import tomllib

NTP = ["0.debian.pool.ntp.org", "1.debian.pool.ntp.org"]


def test_release(host):
    expected = {"node1": "12", "node2": "13"}[host.backend.host]
    assert host.system_info.distribution == "debian"
    assert host.system_info.release.split(".")[0] == expected


def test_no_swap_and_persisted_kernel_state(host):
    assert host.file("/proc/swaps").content_string.strip().splitlines()[1:] == []
    modules = host.file("/etc/modules-load.d/90-aiinfra-kubernetes.conf").content_string.split()
    assert "overlay" in modules and "br_netfilter" in modules
    sysctls = host.file("/etc/sysctl.d/90-aiinfra-kubernetes.conf").content_string.split()
    assert "net.ipv4.ip_forward=1" in sysctls and "net.bridge.bridge-nf-call-iptables=1" in sysctls
    assert host.sysctl("net.ipv4.ip_forward") == 1


def test_time_sync_on_the_inventory_servers(host):
    assert host.service("systemd-timesyncd").is_enabled
    assert "NTP=%s" % " ".join(NTP) in host.check_output("systemd-analyze cat-config systemd/timesyncd.conf")


def test_containerd_runs_with_the_baseline_configuration(host):
    svc = host.service("containerd")
    assert svc.is_running and svc.is_enabled
    cri = tomllib.loads(host.check_output("containerd config dump"))["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert cri["registry"]["config_path"] == "/etc/containerd/certs.d"
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10"
