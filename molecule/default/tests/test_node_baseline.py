"""Verify node_baseline on the real test-bed nodes (testinfra over the molecule inventory)."""

import json
import os
import subprocess
import sys
import tomllib

import pytest
import yaml

REGISTRY = "198.18.1.11:30002"  # the platform registry address (the facts layer's k8s_registry -> certs.d)
CERTS = "/etc/containerd/certs.d"
CRI = "io.containerd.grpc.v1.cri"
SOCKET = "/run/containerd/containerd.sock"
TOOLKIT = "/usr/local/nvidia/toolkit"
NTP = ["0.debian.pool.ntp.org", "198.18.1.1"]
CRI_CLIENT = "python3 /usr/local/lib/aiinfra-test-cri.py"  # molecule/default/cri.py, copied by prepare.yml


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


def test_time_sync_enabled_and_pointed_at_the_ntp_list(host):
    """issue #17: a non-empty NTP list needs the drop-in directory; node2 runs chrony, the others timesyncd."""
    if host.backend.host == "node2":
        assert host.service("chrony").is_enabled
        sources = host.file("/etc/chrony/sources.d/90-aiinfra.sources").content_string.splitlines()
        assert [line for line in sources if line.startswith("server ")] == ["server %s iburst" % s for s in NTP]
    else:
        assert host.service("systemd-timesyncd").is_enabled
        conf = host.file("/etc/systemd/timesyncd.conf.d/90-aiinfra.conf").content_string
        assert "NTP=%s" % " ".join(NTP) in conf.splitlines()
        # systemd-timesyncd's own parsed view of the drop-in
        assert "NTP=%s" % " ".join(NTP) in host.check_output("systemd-analyze cat-config systemd/timesyncd.conf")


def test_containerd_running_with_systemd_cgroups_and_certs_d(host):
    svc = host.service("containerd")
    assert svc.is_running and svc.is_enabled
    # containerd's own parsed view of its configuration, not our file
    dump = tomllib.loads(host.check_output("containerd config dump"))
    cri = dump["plugins"][CRI]
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert cri["registry"]["config_path"] == CERTS
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10"
    assert (cri["cni"]["conf_dir"], cri["cni"]["bin_dir"]) == ("/etc/cni/net.d", "/opt/cni/bin")
    assert dump["grpc"]["address"] == SOCKET


def test_toolkit_dropin_survived_the_second_converge_and_wiped_nothing(host):
    """side_effect.yml wrote /etc/containerd/conf.d/99-nvidia.toml as the NVIDIA toolkit does (node2: the toolkit
    v1.17 shape, the whole dumped config plus its runtime; node1/node3: the runtime alone) and restarted containerd;
    then site.yml converged again with changed=0. The drop-in is still there and read, and containerd's merged
    config keeps every CRI setting of node_baseline, because its CRI section is imported after the drop-ins."""
    dropin = host.file("/etc/containerd/conf.d/99-nvidia.toml")
    assert dropin.exists and TOOLKIT + "/nvidia-container-runtime" in dropin.content_string
    dump = tomllib.loads(host.check_output("containerd config dump"))
    # every file was read (containerd 1.6 lists them from a map: the order of this list means nothing)
    assert sorted(dump["imports"]) == ["/etc/containerd/aiinfra-cri.toml", "/etc/containerd/conf.d/99-nvidia.toml",
                                       "/etc/containerd/config.toml"]
    cri = dump["plugins"][CRI]
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10"
    assert cri["registry"]["config_path"] == CERTS
    runtimes = cri["containerd"]["runtimes"]
    assert runtimes["runc"]["options"]["SystemdCgroup"] is True
    if host.backend.host == "node3":  # node_baseline_containerd_nvidia_runtimes, as on gpu_nodes
        for name, binary in (("nvidia", "nvidia-container-runtime"), ("nvidia-cdi", "nvidia-container-runtime.cdi"),
                             ("nvidia-legacy", "nvidia-container-runtime.legacy")):
            assert runtimes[name]["options"] == {"BinaryName": "%s/%s" % (TOOLKIT, binary), "SystemdCgroup": True}
    else:  # the CRI section is node_baseline's: a drop-in's runtime does not reach it on containerd 1.6
        assert sorted(runtimes) == ["runc"]
    assert host.service("containerd").is_running


@pytest.fixture(scope="module")
def k3s_configs(tmp_path_factory):
    """Every node's k3s config.yaml as the k3s role renders it for this inventory (k3s cannot be downloaded here)."""
    root = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    out = tmp_path_factory.mktemp("render")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(root, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(root, ".collections"))
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "playbooks/render.yml",
                          "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-e", "render_dir=%s" % out,
                          "-e", json.dumps({"render_roles": ["k3s"]})],
                         cwd=root, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    nodes = out / "k3s" / "nodes"
    return {node: yaml.safe_load((nodes / node / "config.yaml").read_text()) for node in os.listdir(nodes)}


def test_k3s_config_names_the_socket_of_this_containerd(host, k3s_configs):
    cfg = k3s_configs[host.backend.host]
    assert cfg["container-runtime-endpoint"] == "unix://" + SOCKET
    assert cfg["kubelet-arg"] == ["cgroup-driver=systemd"]  # runc's SystemdCgroup above
    assert host.socket("unix://" + SOCKET).is_listening
    assert not host.file("/run/k3s/containerd/containerd.sock").exists  # no second containerd


def test_platform_registry_pull_through_the_cri_k3s_uses(host, k3s_configs):
    """The kubelet's path: the CRI (runtime.v1 ImageService) at the socket the rendered k3s config names pulls from
    the plain-HTTP platform registry through node_baseline's certs.d, into the k8s.io namespace."""
    endpoint = k3s_configs[host.backend.host]["container-runtime-endpoint"]
    version = json.loads(host.check_output(CRI_CLIENT + " --endpoint %s version", endpoint))
    assert (version["runtime_name"], version["runtime_api_version"]) == ("containerd", "v1")
    ref = f"{REGISTRY}/aiinfra/busybox:1.36"
    host.run(CRI_CLIENT + " --endpoint %s remove %s", endpoint, ref)
    assert ref not in host.check_output("ctr -n k8s.io images ls -q")
    pulled = host.run(CRI_CLIENT + " --endpoint %s pull %s", endpoint, ref)
    assert pulled.rc == 0, pulled.stdout + pulled.stderr
    assert json.loads(pulled.stdout)["image_ref"].startswith("sha256:")
    assert ref in host.check_output("ctr -n k8s.io images ls -q")


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


TLS_REGISTRY = "198.18.1.11:5443"  # node1's TLS registry, certificate from prepare.yml's CA (issue #16)


def test_tls_registry_verified_with_the_ca_node_baseline_wrote(host):
    """Every node verifies the TLS registry with the CA next to its hosts.toml, and is refused without it."""
    ca = host.file(f"{CERTS}/{TLS_REGISTRY}/ca.crt")
    assert ca.exists and "BEGIN CERTIFICATE" in ca.content_string
    conf = tomllib.loads(host.file(f"{CERTS}/{TLS_REGISTRY}/hosts.toml").content_string)
    assert conf["server"] == f"https://{TLS_REGISTRY}"
    assert conf["host"][f"https://{TLS_REGISTRY}"]["ca"] == f"{CERTS}/{TLS_REGISTRY}/ca.crt"
    assert "skip_verify" not in conf["host"][f"https://{TLS_REGISTRY}"]
    ref = f"{TLS_REGISTRY}/aiinfra/busybox:1.36"
    host.run("mkdir -p /tmp/empty-certs.d")
    without = _pull(host, ref, "/tmp/empty-certs.d")
    assert without.rc != 0
    assert "certificate signed by unknown authority" in without.stderr, without.stderr
    with_ca = _pull(host, ref, CERTS)
    assert with_ca.rc == 0, with_ca.stderr
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


def test_longhorn_prerequisites(host):
    for package in ("open-iscsi", "nfs-common"):
        assert host.package(package).is_installed, package
    assert host.service("iscsid").is_enabled
    # the initiator name Longhorn's manager reads is generated by the package
    assert host.file("/etc/iscsi/initiatorname.iscsi").contains("^InitiatorName=iqn.")


def _baseline_run(*extra):
    """site.yml's baseline layer on node1 (the preflight plays run with it), as a user re-runs it. Returns node1's
    changed count from the recap and the (task, item) of every result that changed, read from the json callback."""
    root = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(root, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(root, ".collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)  # no other callback writes to stdout
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "playbooks/site.yml",
                          "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--limit", "node1", "--tags", "baseline"]
                         + list(extra), cwd=root, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    out = json.loads(run.stdout)
    changed = set()
    for play in out["plays"]:
        for task in play["tasks"]:
            result = task["hosts"].get("node1", {})
            for item in result.get("results", [result]):
                if item.get("changed"):
                    label = item.get("item", "")
                    if isinstance(label, dict):
                        label = label.get("key", label.get("name", ""))
                    changed.add((task["task"]["name"], label))
    return out["stats"]["node1"]["changed"], changed


def test_each_kind_of_drift_is_noticed_and_repaired(host):
    """issue #18: node_baseline reads the node's state in one probe every run (nothing remembered). Each kind of drift
    made here behind its back - a sysctl changed, a registry file edited, containerd's config changed, a swap entry
    back in fstab, a module gone from modules-load.d, containerd stopped and disabled, time sync disabled - is repaired
    by the next run (changed > 0, each one by name), and the run after it reports changed=0."""
    if host.backend.host != "node1":
        pytest.skip("the drift is made on node1 only (one repair run)")
    hosts_toml = f"{CERTS}/{REGISTRY}/hosts.toml"
    fstab_line = "/drift.swap none swap sw 0 0"
    for cmd in ("sysctl -w net.ipv4.ip_forward=0",
                "echo '# edited behind the role' >> %s" % hosts_toml,
                "sed -i 's/SystemdCgroup = true/SystemdCgroup = false/' /etc/containerd/aiinfra-cri.toml",
                "echo '%s' >> /etc/fstab" % fstab_line,
                "sed -i '/^br_netfilter$/d' /etc/modules-load.d/90-aiinfra-kubernetes.conf",
                "systemctl disable --now containerd",
                "systemctl disable systemd-timesyncd"):
        assert host.run(cmd).rc == 0, cmd
    assert host.sysctl("net.ipv4.ip_forward") == 0 and not host.service("containerd").is_running

    count, changed = _baseline_run()
    repaired = {label for _task, label in changed}
    assert count >= 7, changed
    for label in ("net.ipv4.ip_forward", hosts_toml, "/etc/containerd/aiinfra-cri.toml",
                  "/etc/modules-load.d/90-aiinfra-kubernetes.conf", "systemd-timesyncd"):
        assert label in repaired, (label, changed)
    tasks = {task for task, _label in changed}
    for task in ("Keep swap off across reboots (comment out swap entries in /etc/fstab)", "Enable and start containerd",
                 "Restart containerd"):
        assert any(name.endswith(task) for name in tasks), (task, changed)
    assert host.sysctl("net.ipv4.ip_forward") == 1
    assert "# edited behind the role" not in host.file(hosts_toml).content_string
    assert "# %s" % fstab_line in host.file("/etc/fstab").content_string  # commented out again
    assert "br_netfilter" in host.file("/etc/modules-load.d/90-aiinfra-kubernetes.conf").content_string.split()
    assert host.service("containerd").is_running and host.service("containerd").is_enabled
    assert host.service("systemd-timesyncd").is_enabled
    dump = tomllib.loads(host.check_output("containerd config dump"))
    assert dump["plugins"][CRI]["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True

    count, changed = _baseline_run()
    assert count == 0, changed
    count, changed = _baseline_run("--check")
    assert count == 0, changed
