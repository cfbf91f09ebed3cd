import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.aiinfra.cluster.plugins.modules import cluster_preflight
from ansible_collections.aiinfra.cluster.tests.unit.plugins.modules.harness import ModuleExit


def host(name, ip, groups):
    return {"name": name, "ip": ip, "hostname": name, "groups": groups, "distribution": "Ubuntu",
            "distribution_version": "24.04", "memory_mb": 8000, "disk_free_mb": 90000,
            "ipv4": [{"address": ip, "prefix": "24"}]}


def run(args):
    with patch_module_args(args):
        with pytest.raises(ModuleExit) as exc:
            cluster_preflight.main()
    return exc.value


GOOD = [host("m1", "10.1.0.11", ["k8s_control_plane"]), host("w1", "10.1.0.21", ["k8s_workers"])]


@pytest.mark.parametrize("check_mode", [False, True])
def test_valid_inventory_passes_unchanged(check_mode):
    out = run({"hosts": GOOD, "distribution": "kubeadm", "kubernetes_version": "v1.32.1",
               "_ansible_check_mode": check_mode})
    assert out.kind == "exit"
    assert out.result["changed"] is False and out.result["problems"] == [] and out.result["hosts_checked"] == 2


def test_problems_fail_with_one_line_each():
    bad = GOOD + [host("m2", "10.1.0.12", ["k8s_control_plane"])]
    out = run({"hosts": bad, "distribution": "k3s", "kubernetes_version": "1.32", "api_vip": "10.1.0.12"})
    assert out.kind == "fail"
    msg = out.result["msg"]
    assert msg.startswith("The inventory has 3 problem(s); nothing was changed.")
    assert "\n- k8s_version is '1.32'" in msg
    assert "\n- Group k8s_control_plane has 2 hosts (m1, m2)" in msg
    assert "\n- k8s_api_vip 10.1.0.12 is the node IP of m2" in msg
    assert out.result["changed"] is False and len(out.result["problems"]) == 3


def test_report_only_mode_returns_problems():
    out = run({"hosts": GOOD, "distribution": "k3s", "kubernetes_version": "v1.32.1+k3s1",
               "fail_on_problems": False, "groups": {"control_plane": "cp", "worker": "k8s_workers", "gpu": "gpu"}})
    assert out.kind == "exit"
    assert out.result["problems"] == ["Group cp is empty: at least one control-plane host is needed (1, 3 or 5)."]


def test_documentation_matches_argument_spec():
    import yaml
    doc = yaml.safe_load(cluster_preflight.DOCUMENTATION)
    assert doc["attributes"]["check_mode"]["support"] == "full"
    assert set(doc["options"]) == {"hosts", "distribution", "kubernetes_version", "api_vip", "groups",
                                   "min_resources", "disk_path", "supported_os", "registry", "node_ports", "storage",
                                   "fail_on_problems", "stage", "metallb", "known_variables", "variable_prefixes",
                                   "unknown_variables", "variable_sources", "rdma", "data"}
    json.dumps(doc)


def bare(name, ip, groups, **extra):
    """A host as the inventory stage describes it: no facts at all."""
    out = {"name": name, "ip": ip, "groups": groups}
    out.update(extra)
    return out


INVENTORY = [bare("m1", "10.1.0.11", ["k8s_control_plane"]), bare("w1", "10.1.0.21", ["k8s_workers"])]


def test_inventory_stage_needs_no_facts_and_skips_host_rules():
    """Hosts without OS, memory, disk or interfaces pass the inventory stage (the host rules do not run)."""
    out = run({"stage": "inventory", "hosts": INVENTORY, "distribution": "k3s", "kubernetes_version": "v1.32.1+k3s1"})
    assert out.kind == "exit" and out.result["problems"] == [] and out.result["changed"] is False
    # the same hosts through every rule: the host rules complain about the missing facts
    out = run({"stage": "all", "hosts": INVENTORY, "distribution": "k3s", "kubernetes_version": "v1.32.1+k3s1",
               "fail_on_problems": False})
    assert any("runs None" in p for p in out.result["problems"])


def test_hosts_stage_needs_no_distribution():
    out = run({"stage": "hosts", "hosts": GOOD})
    assert out.kind == "exit" and out.result["problems"] == []
    out = run({"stage": "inventory", "hosts": INVENTORY})
    assert out.kind == "fail" and "distribution" in out.result["msg"]


def test_inventory_stage_checks_metallb_and_mig():
    gpu = bare("g1", "10.1.0.31", ["k8s_workers", "gpu_nodes"], gpu={
        "gpu_mig_strategy": "single", "gpu_time_slicing_replicas": 1, "gpu_model": "A30-24GB",
        "gpu_mig_layout": {"1g.10gb": 7}})
    out = run({"stage": "inventory", "hosts": INVENTORY + [gpu], "distribution": "k3s",
               "kubernetes_version": "v1.32.1+k3s1", "api_vip": "10.1.0.10",
               "metallb": {"enabled": True, "subnet": "10.1.0.0/24",
                           "pools": [{"name": "lab", "addresses": ["10.1.0.20-10.1.0.29"]}]}})
    assert out.kind == "fail"
    assert out.result["problems"] == [
        "Host g1: gpu_mig_layout {1g.10gb: 7} asks for 1g.10gb, which the A30-24GB does not have; allowed profiles: "
        "1g.6gb (up to 4), 2g.12gb (up to 2), 4g.24gb (up to 1).",
        "MetalLB pool 'lab': 10.1.0.20-10.1.0.29 contains 10.1.0.21, which is already in use (node w1).",
    ]
    assert out.result["msg"].count("\n- ") == 2


@pytest.mark.parametrize("mode,kind,problems,warned", [
    ("error", "fail", 1, 0), ("warn", "exit", 0, 1), ("ignore", "exit", 0, 0)])
def test_unknown_variables_error_warn_or_ignore(mode, kind, problems, warned, monkeypatch):
    warnings = []
    monkeypatch.setattr(cluster_preflight.AnsibleModule, "warn", lambda self, msg: warnings.append(msg))
    hosts = [dict(h, variables=["k8s_distrubution"]) for h in INVENTORY]
    out = run({"stage": "inventory", "hosts": hosts, "distribution": "k3s", "kubernetes_version": "v1.32.1+k3s1",
               "known_variables": ["k8s_distribution", "k8s_version"], "variable_prefixes": ["k8s_"],
               "unknown_variables": mode})
    line = "k8s_distrubution (set for all hosts): no role of aiinfra.cluster reads it; did you mean k8s_distribution?"
    assert out.kind == kind
    assert len(out.result["problems"]) == problems
    assert warnings == [line] * warned
    assert out.result["unknown_variables"] == [line]


def test_known_names_are_read_from_variable_sources(tmp_path):
    """The names a role reads come from the collection's files (defaults, tasks, templates), read by the module on
    the controller; a directory that is not there fails naming it."""
    (tmp_path / "roles" / "k3s" / "defaults").mkdir(parents=True)
    (tmp_path / "roles" / "k3s" / "defaults" / "main.yml").write_text("k3s_version: '{{ k8s_version }}'\n")
    (tmp_path / "roles" / "k3s" / "templates").mkdir()
    (tmp_path / "roles" / "k3s" / "templates" / "config.yaml.j2").write_text("node-ip: {{ k8s_node_ip }}\n")
    (tmp_path / "roles" / "k3s" / "README.md").write_text("k8s_readme_only: not read\n")
    hosts = [dict(h, variables=["k8s_version", "k8s_node_ip", "k3s_version", "k8s_readme_only", "k3s_verison"])
             for h in INVENTORY]
    args = {"stage": "inventory", "hosts": hosts, "distribution": "k3s", "kubernetes_version": "v1.32.1+k3s1",
            "variable_sources": [str(tmp_path / "roles")], "variable_prefixes": ["k8s_", "k3s_"]}
    out = run(args)
    assert out.kind == "fail"
    assert out.result["problems"] == [
        "k3s_verison (set for all hosts): no role of aiinfra.cluster reads it; did you mean k3s_version?",
        "k8s_readme_only (set for all hosts): no role of aiinfra.cluster reads it; check its spelling (or set "
        "preflight_unknown_variables: warn to keep variables of your own).",
    ]
    out = run(dict(args, variable_sources=[str(tmp_path / "nowhere")]))
    assert out.kind == "fail" and "variable_sources: %s is not a directory" % (tmp_path / "nowhere") in out.result["msg"]
