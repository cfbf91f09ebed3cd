"""node_baseline's containerd layout against the real containerd binary (Debian's 1.6), and the merged-config check.

`containerd --config FILE config dump` prints containerd's own merged view of a configuration (the main file and
every imported file) without starting a daemon. The tests render node_baseline's two templates, put drop-ins in
conf.d the way the NVIDIA container toolkit writes them, and read what containerd makes of it.
"""

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import jinja2
import pytest

from ansible_collections.aiinfra.cluster.plugins.plugin_utils.containerd import (
    RegistryConfigError, merged_config_problems)

ROLE = Path(__file__).resolve().parents[4] / "roles" / "node_baseline"
TOOLKIT = "/usr/local/nvidia/toolkit"
NVIDIA = {"nvidia": {"binary": TOOLKIT + "/nvidia-container-runtime"},
          "nvidia-cdi": {"binary": TOOLKIT + "/nvidia-container-runtime.cdi"},
          "nvidia-legacy": {"binary": TOOLKIT + "/nvidia-container-runtime.legacy"}}

needs_containerd = pytest.mark.skipif(shutil.which("containerd") is None,
                                      reason="containerd is installed by scripts/setup.sh")

# The shape the toolkit's drop-in has when all it adds is its runtime (what a drop-in naturally holds).
RUNTIME_ONLY_DROPIN = """version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]
  runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]
    BinaryName = "/usr/local/nvidia/toolkit/nvidia-container-runtime"
"""


def _render(tmp, **overrides):
    conf = {
        "ansible_managed": "Managed by test",
        "node_baseline_containerd_root": str(tmp / "root"),
        "node_baseline_containerd_socket": str(tmp / "containerd.sock"),
        "node_baseline_containerd_dropin_dir": str(tmp / "conf.d"),
        "node_baseline_containerd_cri_config": str(tmp / "aiinfra-cri.toml"),
        "node_baseline_containerd_sandbox_image": "registry.k8s.io/pause:3.10",
        "node_baseline_containerd_snapshotter": "overlayfs",
        "node_baseline_containerd_cni_conf_dir": "/etc/cni/net.d",
        "node_baseline_containerd_cni_bin_dir": "/opt/cni/bin",
        "node_baseline_containerd_certs_dir": "/etc/containerd/certs.d",
        "node_baseline_containerd_runtime_list": NVIDIA,
        "node_baseline_containerd_restrict_oom_score_adj": False,
    }
    conf.update(overrides)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / "templates")), keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["to_json"] = json.dumps
    env.filters["bool"] = lambda value: str(value).lower() in ("true", "yes", "on", "1")
    # Ansible's mandatory fails on an undefined value with its message; StrictUndefined already fails on one here
    env.filters["mandatory"] = lambda value, msg=None: value
    (tmp / "conf.d").mkdir(exist_ok=True)
    (tmp / "config.toml").write_text(env.get_template("containerd-config.toml.j2").render(conf))
    (tmp / "aiinfra-cri.toml").write_text(env.get_template("containerd-cri.toml.j2").render(conf))
    return conf


def _expected(conf, runtimes=None):
    runtimes = NVIDIA if runtimes is None else runtimes
    return {"socket": conf["node_baseline_containerd_socket"], "sandbox_image": conf["node_baseline_containerd_sandbox_image"],
            "config_path": conf["node_baseline_containerd_certs_dir"], "cni_conf_dir": "/etc/cni/net.d",
            "cni_bin_dir": "/opt/cni/bin", "runtimes": runtimes}


def _dump(config):
    result = subprocess.run(["containerd", "--config", str(config), "config", "dump"], capture_output=True, text=True,
                            env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _full_dump_dropin(tmp, **old):
    """The shape toolkit v1.17 writes to CONTAINERD_CONFIG: the node's whole merged config as `containerd config dump`
    printed it when the toolkit ran, plus its runtime. Here it is stale: rendered (at the same paths) before
    node_baseline's settings changed: another sandbox image, no registry config_path, no extra runtimes. Call it
    before rendering the current files."""
    conf = {"node_baseline_containerd_sandbox_image": "registry.k8s.io/pause:3.6",
            "node_baseline_containerd_certs_dir": "", "node_baseline_containerd_runtime_list": {}}
    conf.update(old)
    _render(tmp, **conf)
    return _dump(tmp / "config.toml") + RUNTIME_ONLY_DROPIN.replace("version = 2\n", "")


@needs_containerd
@pytest.mark.parametrize("shape", ["runtime-only", "full-dump"])
def test_toolkit_dropin_cannot_wipe_the_cri_section(tmp_path, shape):
    dropin = RUNTIME_ONLY_DROPIN if shape == "runtime-only" else _full_dump_dropin(tmp_path)
    conf = _render(tmp_path)
    (tmp_path / "conf.d" / "99-nvidia.toml").write_text(dropin)
    text = _dump(tmp_path / "config.toml")
    assert merged_config_problems(text, _expected(conf)) == []
    dump = tomllib.loads(text)
    cri = dump["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10"
    assert cri["registry"]["config_path"] == "/etc/containerd/certs.d"
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert cri["containerd"]["runtimes"]["nvidia"]["options"] == {
        "BinaryName": TOOLKIT + "/nvidia-container-runtime", "SystemdCgroup": True}
    # the drop-in was read (containerd 1.6 lists the loaded files from a map: their order here means nothing)
    files = ("config.toml", "conf.d/99-nvidia.toml", "aiinfra-cri.toml")
    assert sorted(dump["imports"]) == sorted(str(tmp_path / f) for f in files)


@needs_containerd
def test_a_stale_full_dump_dropin_overrides_top_level_settings_and_the_check_says_so(tmp_path):
    """containerd merges top-level settings (grpc address, root) by value: a full-dump drop-in from before a socket
    change keeps the old socket. The role's check names it instead of leaving the kubelet on a dead socket."""
    dropin = _full_dump_dropin(tmp_path, node_baseline_containerd_socket="/run/old/containerd.sock")
    conf = _render(tmp_path)
    (tmp_path / "conf.d" / "99-nvidia.toml").write_text(dropin)
    assert merged_config_problems(_dump(tmp_path / "config.toml"), _expected(conf)) == [
        'grpc.address is "/run/old/containerd.sock", not "%s"' % conf["node_baseline_containerd_socket"]]


@needs_containerd
def test_no_extra_runtimes_without_gpu(tmp_path):
    conf = _render(tmp_path, node_baseline_containerd_runtime_list={})
    text = _dump(tmp_path / "config.toml")
    assert merged_config_problems(text, _expected(conf, runtimes={})) == []
    assert list(tomllib.loads(text)["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]) == ["runc"]
    # and the check notices when a GPU node's runtimes are not there
    assert merged_config_problems(text, _expected(conf)) == [
        "runtime nvidia is missing", "runtime nvidia-cdi is missing", "runtime nvidia-legacy is missing"]


@needs_containerd
def test_cri_settings_in_the_main_file_are_lost_to_a_dropin(tmp_path):
    """The layout this role had (CRI section in config.toml) plus an import: containerd 1.6 drops its CRI settings."""
    main = tmp_path / "config.toml"
    main.write_text('version = 2\nroot = "%s"\nstate = "%s"\nimports = ["%s/conf.d/*.toml"]\n'
                    '[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "registry.k8s.io/pause:3.10"\n'
                    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n'
                    '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n'
                    % (tmp_path / "root", tmp_path / "state", tmp_path))
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "99-nvidia.toml").write_text(RUNTIME_ONLY_DROPIN)
    problems = merged_config_problems(_dump(main), {"sandbox_image": "registry.k8s.io/pause:3.10",
                                                    "config_path": "/etc/containerd/certs.d", "runtimes": {}})
    assert problems == ['sandbox_image is "registry.k8s.io/pause:3.6", not "registry.k8s.io/pause:3.10"',
                        'registry.config_path is "", not "/etc/containerd/certs.d"',
                        "runtime runc is missing"]


def test_problems_name_each_setting():
    text = """
[grpc]
  address = "/run/other.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  [plugins."io.containerd.grpc.v1.cri".cni]
    conf_dir = "/etc/cni/net.d"
    bin_dir = "/opt/cni/bin"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]
    BinaryName = "/usr/bin/nvidia-container-runtime"
    SystemdCgroup = true
"""
    assert merged_config_problems(text, {"socket": "/run/containerd/containerd.sock", "cni_conf_dir": "/etc/cni/net.d",
                                         "config_path": "/etc/containerd/certs.d",
                                         "runtimes": {"nvidia": NVIDIA["nvidia"]}}) == [
        'grpc.address is "/run/other.sock", not "/run/containerd/containerd.sock"',
        'registry.config_path is unset, not "/etc/containerd/certs.d"',
        'runtime nvidia BinaryName is "/usr/bin/nvidia-container-runtime", not "%s/nvidia-container-runtime"' % TOOLKIT,
        "runtime runc does not use the systemd cgroup driver (SystemdCgroup)",
    ]


def test_no_cri_section_and_bad_text():
    assert merged_config_problems('version = 2\n[grpc]\n  address = "/x"\n', {}) == [
        "the CRI plugin (io.containerd.grpc.v1.cri) has no configuration"]
    with pytest.raises(RegistryConfigError, match="did not print TOML"):
        merged_config_problems("containerd: command not found", {})


@needs_containerd
@pytest.mark.parametrize("restrict", [False, True])
def test_restrict_oom_score_adj_reaches_the_merged_configuration_and_is_checked(tmp_path, restrict):
    """Nodes without CAP_SYS_RESOURCE (container nodes) need the CRI's restrict_oom_score_adj; the merged
    configuration carries the role's value and the check names a configuration that lacks it."""
    conf = _render(tmp_path, node_baseline_containerd_restrict_oom_score_adj=restrict)
    text = _dump(tmp_path / "config.toml")
    assert tomllib.loads(text)["plugins"]["io.containerd.grpc.v1.cri"]["restrict_oom_score_adj"] is restrict
    assert merged_config_problems(text, dict(_expected(conf), restrict_oom_score_adj=restrict)) == []
    assert merged_config_problems(text, dict(_expected(conf), restrict_oom_score_adj=not restrict)) == [
        "restrict_oom_score_adj is %s, not %s" % (json.dumps(restrict), json.dumps(not restrict))]
