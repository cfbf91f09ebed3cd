"""Issue 13 item 4 on real nodes: the kubeadm role reads the EncryptionConfiguration of all three control-plane
nodes (stat, slurp, crictl absent: no API server to ask) and plans the rotation from them, and a node without a
file gets one the others can all read (molecule/ha/rotation_state.yml). State: an interrupted rotation - node1
already writes with key-2 (the old role's first step), node2 has key-1 only, node3 no file. The phases themselves
(restarts, Secret rewrite) need kube-apiserver and crictl, which do not run here; the plan is unit-tested for every
interrupted state in tests/unit/plugins/plugin_utils/test_kubeadm_rotation.py."""

import base64
import json
import os

import pytest
import yaml

from conftest import ansible_playbook, node

SECRETS = {n: base64.b64encode(os.urandom(32)).decode() for n in ("key-1", "key-2")}


def keys_on(name):
    text = node(name).check_output("cat /etc/kubernetes/enc/encryption-config.yaml")
    provider = yaml.safe_load(text)["resources"][0]["providers"][0]["aescbc"]["keys"]
    return [(k["name"], k["secret"]) for k in provider]


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    out = tmp_path_factory.mktemp("rotation") / "plan.json"
    rc, log = ansible_playbook("molecule/ha/rotation_state.yml", {"rotation_secrets": SECRETS,
                                                                  "rotation_plan_out": str(out)})
    assert rc == 0, log
    for secret in SECRETS.values():  # no_log held
        assert secret not in log
    return json.loads(out.read_text()), log


def test_plan_read_from_the_three_nodes(plan):
    p, _out = plan
    assert p["state"] == {"node1": ["key-2", "key-1"], "node2": ["key-1"], "node3": None}
    assert p["phases"] == ["add", "promote", "rewrite", "drop"]
    assert p["keys"] == [["key-1", "key-2"], ["key-2", "key-1"], None, ["key-2"]]


def test_node_without_a_file_gets_what_every_server_can_read(plan):
    p, _out = plan
    assert p["join"] == ["key-1", "key-2"]  # writes key-1, which node2 can read; reads key-2 that node1 writes
    assert keys_on("node3") == [("key-1", SECRETS["key-1"]), ("key-2", SECRETS["key-2"])]
    f = node("node3").file("/etc/kubernetes/enc/encryption-config.yaml")
    assert f.mode == 0o600 and f.user == "root"


def test_nodes_with_a_file_are_left_to_the_rotation(plan):
    # encryption.yml never rewrites one node's keys on its own (that is what split the API servers)
    assert [n for n, _s in keys_on("node1")] == ["key-2", "key-1"]
    assert [n for n, _s in keys_on("node2")] == ["key-1"]
