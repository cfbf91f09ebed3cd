"""The architecture's promises, read from the tree (issue #14): one facts layer, each NodePort and each layer switch
written once, cluster layers on the controller, no role reading another role's defaults."""

import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = os.path.join(ROOT, "roles")
FACTS = os.path.join(ROLES, "k8s", "defaults", "main.yml")
NODE_ROLES = {"k8s", "preflight", "node_baseline", "control_plane_vip", "k3s", "kubeadm", "etcd", "etcd_backup"}


def _load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def _files(top, suffixes=(".yml", ".yaml", ".j2")):
    for dirpath, _dirs, names in os.walk(top):
        for name in names:
            if name.endswith(suffixes):
                yield os.path.join(dirpath, name)


def _without_comments(text):
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


FACTS_DEFAULTS = _load(FACTS)
LAYER_ROLES = FACTS_DEFAULTS["k8s_layer_roles"]
CLUSTER_ROLES = sorted({role for roles in LAYER_ROLES.values() for role in roles} - NODE_ROLES)


def test_every_layer_with_roles_is_in_the_layer_table():
    assert set(LAYER_ROLES) <= set(FACTS_DEFAULTS["k8s_layers"])
    for roles in LAYER_ROLES.values():
        for role in roles:
            assert os.path.isdir(os.path.join(ROLES, role)), role


@pytest.mark.parametrize("name", sorted(k for k, v in FACTS_DEFAULTS.items()
                                        if k.endswith("_node_port") and isinstance(v, int) and v))
def test_each_node_port_is_written_once(name):
    """The port number appears in the facts layer's defaults and in no role, playbook or inventory file."""
    number = str(FACTS_DEFAULTS[name])
    pattern = re.compile(r"(?<![0-9.])%s(?![0-9])" % number)
    found = []
    for top in ("roles", "playbooks", "inventories"):
        for path in _files(os.path.join(ROOT, top)):
            if os.path.abspath(path) in (FACTS, os.path.join(ROLES, "k8s", "meta", "argument_specs.yml")):
                continue
            with open(path) as handle:
                text = _without_comments(handle.read())
            if pattern.search(text):
                found.append(os.path.relpath(path, ROOT))
    assert found == [], "%s (%s) is written again in %s" % (name, number, found)


def test_the_facts_layer_argument_specs_repeat_no_value():
    spec = _load(os.path.join(ROLES, "k8s", "meta", "argument_specs.yml"))["argument_specs"]["validate"]["options"]
    assert set(spec) == set(FACTS_DEFAULTS)
    assert [k for k, v in spec.items() if "default" in v] == []


SWITCH = re.compile(r"\bk8s_(control_plane|network|storage|security|observability|registry|ci|gitops|gpu|serving|"
                    r"mirrors|training|network_operator|kserve|ollama|rook|redis|tikv|juicefs)_enabled\b")


CONDITION_KEYS = ("when", "that", "changed_when", "failed_when", "until")


def _expressions(path):
    """What Ansible evaluates in a file: Jinja blocks anywhere, and the values of conditional keywords (messages and
    prose that only name a variable are not read)."""
    with open(path) as handle:
        text = _without_comments(handle.read())
    found = re.findall(r"\{\{(.*?)\}\}|\{%(.*?)%\}", text, re.S)
    out = [a or b for a, b in found]
    if path.endswith((".yml", ".yaml")):
        def walk(node):
            if isinstance(node, dict):
                for key, value in node.items():
                    if key in CONDITION_KEYS:
                        out.extend(value if isinstance(value, list) else [value])
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)
        try:
            walk(yaml.safe_load(text))
        except yaml.YAMLError:
            pass
    return [str(e) for e in out]


def test_layer_switches_are_read_only_by_the_facts_layer():
    """Whether a layer is on is decided once (k8s_layers); roles and playbooks read the table, never the switches."""
    found = []
    for top in ("roles", "playbooks"):
        for path in _files(os.path.join(ROOT, top)):
            if path.startswith(os.path.join(ROLES, "k8s") + os.sep) or path.endswith("argument_specs.yml"):
                continue
            for expression in _expressions(path):
                for match in SWITCH.finditer(expression):
                    found.append("%s: %s" % (os.path.relpath(path, ROOT), match.group(0)))
    assert found == []


def test_the_switch_check_sees_a_condition():
    """The check above would notice a play deciding a layer itself."""
    assert SWITCH.search(" ".join(["k8s_network_enabled | bool"]))


def _site_plays():
    return _load(os.path.join(ROOT, "playbooks", "site.yml"))


def test_each_cluster_layer_play_targets_its_layer_group_and_runs_on_the_controller():
    plays = _site_plays()
    for layer, roles in LAYER_ROLES.items():
        group = "aiinfra_layer_%s" % layer
        matching = [p for p in plays if group in p["hosts"].split(":&") or p["hosts"].endswith("&" + group)
                    or p["hosts"] == group]
        assert matching, "no play targets %s" % group
        played = set()
        for play in matching:
            for entry in play.get("roles", []):
                played.add(entry["role"].split(".")[-1])
        assert set(roles) <= played, (layer, roles, played)
        for play in matching:
            cluster = [entry["role"].split(".")[-1] for entry in play.get("roles", [])
                       if entry["role"].split(".")[-1] in CLUSTER_ROLES]
            if cluster:
                assert play["vars"]["ansible_connection"] == "local", play["name"]
                assert "group/kubernetes.core.k8s" in play["module_defaults"], play["name"]
                assert "group/kubernetes.core.helm" in play["module_defaults"], play["name"]


def test_no_play_decides_a_layer_with_when():
    for play in _site_plays():
        for entry in play.get("roles", []):
            assert "when" not in entry, play["name"]


@pytest.mark.parametrize("role", CLUSTER_ROLES)
def test_cluster_roles_neither_delegate_nor_pass_a_kubeconfig(role):
    found = []
    for path in _files(os.path.join(ROLES, role, "tasks")):
        with open(path) as handle:
            text = _without_comments(handle.read())
        if re.search(r"delegate_to:\s*localhost", text):
            found.append("%s: delegate_to localhost" % os.path.relpath(path, ROOT))
        if re.search(r"^\s+kubeconfig:", text, re.M):
            found.append("%s: kubeconfig" % os.path.relpath(path, ROOT))
    assert found == []


def _role_variables():
    names = {}
    for role in sorted(os.listdir(ROLES)):
        defined = set()
        for sub in ("defaults", "vars"):
            path = os.path.join(ROLES, role, sub, "main.yml")
            if os.path.exists(path):
                defined.update((_load(path) or {}).keys())
        names[role] = defined
    return names


ROLE_VARIABLES = _role_variables()
# Per-host inventory variables (set on a host, read through hostvars by the preflight): a host's own data, not a
# role's default.
HOST_VARIABLES = {"rook_devices"}


@pytest.mark.parametrize("role", sorted(r for r in ROLE_VARIABLES if r != "k8s"))
def test_no_role_reads_another_roles_defaults(role):
    others = {}
    for other, names in ROLE_VARIABLES.items():
        if other not in (role, "k8s"):
            for name in names:
                others[name] = other
    found = set()
    for sub in ("tasks", "templates", "defaults", "vars", "handlers"):
        for path in _files(os.path.join(ROLES, role, sub)):
            with open(path) as handle:
                text = _without_comments(handle.read())
            for name in re.findall(r"\b[a-z][a-z0-9_]*\b", text):
                if name in others and not name.startswith(role + "_") and name not in HOST_VARIABLES:
                    found.add("%s reads %s (role %s)" % (os.path.relpath(path, ROOT), name, others[name]))
    assert sorted(found) == []


@pytest.mark.parametrize("role", sorted(r for r in ROLE_VARIABLES if r != "k8s"))
def test_roles_that_read_facts_depend_on_the_facts_layer(role):
    uses = False
    for sub in ("tasks", "templates", "defaults", "vars"):
        for path in _files(os.path.join(ROLES, role, sub)):
            with open(path) as handle:
                if re.search(r"\bk8s_[a-z0-9_]+", _without_comments(handle.read())):
                    uses = True
    if not uses:
        pytest.skip("reads no fact")
    meta = _load(os.path.join(ROLES, role, "meta", "main.yml"))
    deps = [d["role"] if isinstance(d, dict) else d for d in meta.get("dependencies") or []]
    assert "aiinfra.cluster.k8s" in deps
