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
    """Each check_* rule must be exercised by at least one case that expects a problem from it."""
    rules = [name for name in dir(preflight) if name.startswith("check_")]
    hit = set()
    for case in DATA["cases"]:
        if not case["expect"]:
            continue
        hosts, settings = build(case)
        groups = dict(preflight.DEFAULT_GROUPS)
        for rule in rules:
            func = getattr(preflight, rule)
            args = {"check_distribution": (settings,), "check_version": (settings,),
                    "check_control_plane_count": (hosts, groups), "check_exclusive_groups": (hosts, groups),
                    "check_duplicates": (hosts,), "check_vip": (hosts, settings, groups),
                    "check_os": (hosts, settings), "check_resources": (hosts, settings, groups),
                    "check_gpu_vars": (hosts, groups),
                    "check_registry": (settings.get("registry"),
                                       preflight.registry_endpoint(settings.get("registry"))),
                    "check_node_ports": (settings.get("node_ports"),),
                    "check_storage": (settings.get("storage"), hosts)}[rule]
            if func(*args):
                hit.add(rule)
    assert sorted(hit) == sorted(rules)


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
