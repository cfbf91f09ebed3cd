"""After reset.yml, add_node.yml and a second converge (molecule/lifecycle/side_effect.yml): no CNI leftovers on any
node, and the node added through add_node.yml has the whole node baseline."""


def test_reset_left_no_cni_leftovers(host):
    """side_effect.yml put Cilium's veth pair and a CNI config on every node, then ran playbooks/reset.yml."""
    links = host.check_output("ip -o link show")
    assert "cilium_host" not in links and "cilium_net" not in links
    assert not host.file("/etc/cni/net.d/05-cilium.conflist").exists


def test_reset_kept_the_node_baseline(host):
    assert host.service("containerd").is_running
    assert host.file("/etc/containerd/config.toml").exists


def test_swap_entries_disabled_in_fstab(host):
    """side_effect.yml put node4's swap entry back before add_node.yml: add_node.yml's baseline disabled it again."""
    fstab = host.file("/etc/fstab").content_string
    active = [line for line in fstab.splitlines() if line.split()[2:3] == ["swap"] and not line.lstrip().startswith("#")]
    assert active == []
    assert host.file("/proc/swaps").content_string.strip().splitlines()[1:] == []


def test_kernel_settings_persisted(host):
    assert host.sysctl("net.ipv4.ip_forward") == 1
    assert host.file("/etc/modules-load.d/90-aiinfra-kubernetes.conf").exists
    assert host.file("/proc/sys/net/bridge/bridge-nf-call-iptables").exists
