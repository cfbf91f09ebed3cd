"""The unknown-variable rule knows what the collection reads from its own roles and playbooks, read at preflight time
(no generated list to go stale): names_read over the real tree knows the inventory settings, the lab inventory is
clean, and a misspelled name is reported with the closest known one."""

import glob
import os

import yaml

from ansible_collections.aiinfra.cluster.plugins.module_utils.preflight import names_read, unknown_variables

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
ROLES = sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
               for p in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "main.yml")))
PREFIXES = ["k8s_", "gpu_"] + [r + "_" for r in ROLES]


def tree_texts():
    """What the preflight role passes as variable_sources: the roles and playbooks directories."""
    texts = []
    for top in ("roles", "playbooks"):
        for root, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith((".yml", ".yaml", ".j2")):
                    with open(os.path.join(root, name)) as f:
                        texts.append(f.read())
    return texts


KNOWN = names_read(tree_texts(), PREFIXES)


def test_names_read_finds_prefixed_names_only():
    texts = ["x: '{{ k8s_distribution }}'\nk3s_version: 1\n# k8s_", "{{ hostvars[h].gpu_mig_config | default('') }}",
             "not_ours_k8s_thing: 1\nmy_k8s_x: 2"]
    assert names_read(texts, ["k8s_", "gpu_", "k3s_"]) == {"k8s_distribution", "k3s_version", "gpu_mig_config"}
    assert names_read(texts, []) == set()


def test_the_inventory_settings_roles_read_are_known():
    for name in ("k8s_distribution", "k8s_version", "k8s_api_vip", "k8s_node_ip", "k8s_node_subnet", "gpu_mig_strategy",
                 "gpu_time_slicing_replicas", "gpu_mig_config", "gpu_mig_layout", "gpu_model", "k8s_metallb_pools",
                 "preflight_unknown_variables", "node_baseline_ntp_servers"):
        assert name in KNOWN, name
    assert "k8s_distrubution" not in KNOWN


def ours(names):
    return set(n for n in names if n.startswith(tuple(PREFIXES)))


def test_every_role_default_and_argument_is_known():
    """Every role default and argument-spec option that looks like the collection's is known (the others, such as
    render_dir, are never checked)."""
    checked = 0
    for role in ROLES:
        path = os.path.join(ROOT, "roles", role, "defaults", "main.yml")
        if os.path.exists(path):
            with open(path) as f:
                names = ours(yaml.safe_load(f) or {})
            assert names <= KNOWN, (role, names - KNOWN)
            checked += len(names)
        path = os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")
        if os.path.exists(path):
            with open(path) as f:
                for entry in ((yaml.safe_load(f) or {}).get("argument_specs") or {}).values():
                    names = ours(entry.get("options") or {})
                    assert names <= KNOWN, (role, names - KNOWN)
                    checked += len(names)
    assert checked > 100


def test_lab_inventory_has_no_unknown_variables():
    """The documented lab inventory must pass the rule it documents (every variable in it is read by a role)."""
    names = set()
    for path in glob.glob(os.path.join(ROOT, "inventories", "lab", "group_vars", "*.yml")):
        with open(path) as f:
            names.update((yaml.safe_load(f) or {}).keys())
    assert names & KNOWN
    assert unknown_variables([{"name": "m1", "variables": sorted(names)}], KNOWN, PREFIXES) == []


def test_misspelled_setting_is_reported_with_the_closest_name():
    hosts = [{"name": "m1", "variables": ["k8s_distrubution", "node_baseline_ntp_server"]},
             {"name": "w1", "variables": ["k8s_distrubution"]}]
    assert unknown_variables(hosts, KNOWN, PREFIXES) == [
        "k8s_distrubution (set for all hosts): no role of aiinfra.cluster reads it; did you mean k8s_distribution?",
        "node_baseline_ntp_server (set for host m1): no role of aiinfra.cluster reads it; did you mean "
        "node_baseline_ntp_servers?",
    ]
