import copy
import os

import pytest
import yaml

from ansible_collections.aiinfra.cluster.plugins.module_utils import preflight

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "preflight_cases.yml")
with open(FIXTURE) as f:
    DATA = yaml.safe_load(f)


def host_defaults(name, spec):
    ip = spec.get("ip")
    host = {
        "name": name,
        "hostname": name,
        "distribution": "Debian",
        "distribution_version": "12",
        "memory_mb": 4000,
        "disk_free_mb": 50000,
        "ipv4": [{"address": ip, "prefix": "24", "netmask": "255.255.255.0"}],
        "gpu": {"gpu_mig_strategy": None, "gpu_time_slicing_replicas": None},
        "variables": [],
    }
    host.update(spec)
    return host


def build(case):
    hosts = copy.deepcopy(DATA["base"]["hosts"])
    for name, patch in (case.get("hosts") or {}).items():
        if patch is None:
            hosts.pop(name)
        else:
            hosts.setdefault(name, {}).update(patch)
    settings = copy.deepcopy(DATA["base"]["settings"])
    settings.update(case.get("settings") or {})
    return [host_defaults(n, s) for n, s in hosts.items()], settings


@pytest.mark.parametrize("case", DATA["cases"], ids=[c["id"] for c in DATA["cases"]])
def test_case(case):
    hosts, settings = build(case)
    problems = preflight.validate(hosts, settings)
    assert len(problems) == len(case["expect"]), problems
    for got, want in zip(problems, case["expect"]):
        assert want in got


def test_every_rule_has_a_failing_case():
    """Each check_* rule must be exercised by at least one case that expects a problem from it, and every rule is
    in RULES (so validate runs it) under a known stage."""
    rules = sorted(name for name in dir(preflight) if name.startswith("check_"))
    assert sorted(rule.__name__ for stage, rule in preflight.RULES) == rules
    assert set(stage for stage, rule in preflight.RULES) == set(preflight.STAGES)
    hit = set()
    for case in DATA["cases"]:
        if not case["expect"]:
            continue
        hosts, settings = build(case)
        groups = dict(preflight.DEFAULT_GROUPS)
        for rule in rules:
            if getattr(preflight, rule)(hosts, settings, groups):
                hit.add(rule)
    assert sorted(hit) == rules


@pytest.mark.parametrize("case", [c for c in DATA["cases"] if c["expect"]], ids=lambda c: c["id"])
def test_inventory_stage_needs_no_facts(case):
    """The inventory stage gives the same problems for hosts described by the inventory alone (no OS, memory, disk,
    hostname or interfaces) as the full run gives from its inventory rules: none of them reads a fact."""
    hosts, settings = build(case)
    bare = [dict((k, v) for k, v in h.items() if k in ("name", "ip", "groups", "gpu", "variables", "rook_devices")) for h in hosts]
    groups = dict(preflight.DEFAULT_GROUPS)
    want = []
    for stage, rule in preflight.RULES:
        if stage == "inventory":
            want += rule(hosts, settings, groups)
    assert preflight.validate(bare, settings, "inventory") == want


def test_stages_split_the_rules():
    hosts, settings = build({"settings": {"distribution": "nomad"}, "hosts": {"w1": {"memory_mb": 100}}})
    assert preflight.validate(hosts, settings, "inventory") == ["k8s_distribution is 'nomad': it must be one of k3s, kubeadm."]
    assert preflight.validate(hosts, settings, "hosts") == [
        "Host w1 has 100 MiB of memory; a worker node needs at least 900 MiB."]
    assert preflight.validate(hosts, settings) == (preflight.validate(hosts, settings, "inventory")
                                                   + preflight.validate(hosts, settings, "hosts"))
    with pytest.raises(ValueError):
        preflight.validate(hosts, settings, "facts")


def test_interface_network_uses_netmask_when_prefix_missing():
    host = {"ip": "192.168.56.11", "ipv4": [{"address": "192.168.56.11", "netmask": "255.255.255.0"}]}
    assert str(preflight.interface_network(host)) == "192.168.56.0/24"


def test_interface_network_none_when_ip_absent():
    assert preflight.interface_network({"ip": "10.0.0.1", "ipv4": [{"address": "10.0.0.2", "prefix": "24"}]}) is None


def test_registry_endpoint():
    assert preflight.registry_endpoint({"enabled": False}) is None
    assert preflight.registry_endpoint(None) is None
    # values as Ansible templates them: strings
    plain = preflight.registry_endpoint({"enabled": "True", "host": "10.0.0.11", "node_port": "30002", "tls": "False"})
    assert plain == {"address": "10.0.0.11:30002", "scheme": "http", "external_url": "http://10.0.0.11:30002",
                     "host": "10.0.0.11", "node_port": 30002, "tls": False}
    named = preflight.registry_endpoint({"enabled": True, "host": "harbor.lab", "node_port": 30443, "tls": True})
    assert named["address"] == "harbor.lab:30443" and named["external_url"] == "https://harbor.lab:30443"
