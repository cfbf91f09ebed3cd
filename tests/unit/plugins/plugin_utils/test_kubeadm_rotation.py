"""Issue 13 item 4: kubeadm Secret encryption key rotation without splitting the API servers. The phase to run
next comes from the EncryptionConfiguration files on the nodes (and whether each API server has loaded its file),
so every interrupted state - mixed nodes included - resumes safely. Invariant checked on every row: replaying the
steps, no server ever writes with a key another server cannot read. Before the fix the new key became the write
key on the first node at once (the 'buggy first step' row below is the state it produced)."""

import base64

import pytest

from ansible_collections.aiinfra.cluster.plugins.plugin_utils import kubeadm

W, O, OLDER = "key-2", "key-1", "key-0"
HOSTS = ("cp1", "cp2", "cp3")


def st(*lists, loaded=True):
    """nodes state: one key list per host (None: no file), all loaded unless said."""
    return {h: (None if keys is None else {"keys": list(keys), "loaded": loaded if not isinstance(loaded, dict)
                                           else loaded.get(h, True)})
            for h, keys in zip(HOSTS, lists)}


FULL = [("add", [O, W]), ("promote", [W, O]), ("rewrite", None), ("drop", [W])]

# (case, state, expected steps [(phase, keys)], expected join)
CASES = [
    ("steady", st([W], [W], [W]), [], [W]),
    ("fresh cluster (no files)", st(None, None, None), [], [W]),
    ("first node initialised, others joining", st([W], None, None), [], [W]),
    ("rotation asked, nothing done yet", st([O], [O], [O]), FULL, [O, W]),
    ("add interrupted after one node", st([O, W], [O], [O]), FULL, [O, W]),
    ("add written everywhere, all restarted", st([O, W], [O, W], [O, W]), FULL[1:], [W, O]),
    ("promote interrupted (mixed write keys, all can read both)", st([W, O], [O, W], [O, W]), FULL[1:], [W, O]),
    ("promote done, rewrite not (or interrupted)", st([W, O], [W, O], [W, O]), FULL[2:], [W, O]),
    ("drop interrupted after one node", st([W], [W, O], [W, O]), FULL[2:], [W, O]),
    ("buggy first step of the old role: new key written on cp1 only", st([W, O], [O], [O]), FULL, [O, W]),
    ("a new node joined mid-add", st([O, W], [O], None), FULL, [O, W]),
    ("two old keys still around", st([O, OLDER], [O, OLDER], [O, OLDER]),
     [("add", [O, W, OLDER]), ("promote", [W, O, OLDER]), ("rewrite", None), ("drop", [W])], [O, W, OLDER]),
    ("rotating again before the last drop", st([O, OLDER], [O], [O]),
     [("add", [O, W, OLDER]), ("promote", [W, O, OLDER]), ("rewrite", None), ("drop", [W])], [O, W, OLDER]),
]


@pytest.mark.parametrize("case,state,steps,join", CASES, ids=[c[0] for c in CASES])
def test_rotation_steps(case, state, steps, join):
    plan = kubeadm.rotation_steps(state, W)
    assert [(s["phase"], s["keys"]) for s in plan["steps"]] == steps
    assert plan["phase"] == (steps[0][0] if steps else "none")
    assert plan["join"] == join
    replay_never_splits(state, plan["steps"])


def replay_never_splits(state, steps):
    """Apply the steps one node at a time (the role restarts servers one by one) and check after every single
    node: each server's write key is readable by every other server."""
    nodes = {h: list(s["keys"]) for h, s in state.items() if s is not None}

    def check():
        for h, keys in nodes.items():
            if keys:
                for other, okeys in nodes.items():
                    assert keys[0] in okeys, "%s writes with %s, %s cannot read it (%s)" % (h, keys[0], other, nodes)
    split_at_start = True
    try:
        check()
        split_at_start = False
    except AssertionError:
        pass  # the old role's state: the first step heals it (its first node is the split one), then no split
    for step in steps:
        if step["keys"] is None:
            continue
        for h in nodes:
            nodes[h] = list(step["keys"])
            if not (split_at_start and step is steps[0]):
                check()
    check()
    assert all(keys == [W] for keys in nodes.values())


def test_servers_that_did_not_load_their_file_are_restarted_first():
    # the run stopped after writing the add phase's file on cp2, before restarting it
    plan = kubeadm.rotation_steps(st([O, W], [O, W], [O], loaded={"cp2": False}), W)
    assert plan["steps"][0] == {"phase": "restart", "keys": None, "hosts": ["cp2"]}
    assert [s["phase"] for s in plan["steps"][1:]] == ["add", "promote", "rewrite", "drop"]
    # a steady state whose last restart was lost: just the restart
    plan = kubeadm.rotation_steps(st([W], [W], [W], loaded={"cp3": False}), W)
    assert [s["phase"] for s in plan["steps"]] == ["restart"] and plan["steps"][0]["hosts"] == ["cp3"]


def test_second_run_after_a_rotation_does_nothing():
    plan = kubeadm.rotation_steps(st([W], [W], [W]), W)
    assert plan == {"phase": "none", "steps": [], "join": [W]}


SECRETS = {n: base64.b64encode(n.encode().ljust(32, b"x")).decode() for n in (W, O, OLDER)}


def conf(*names, provider="aescbc"):
    return kubeadm.encryption_configuration(provider, [{"name": n, "secret": SECRETS[n]} for n in names])


def test_rotation_plan_from_files_and_container_start_times():
    files = {
        "cp1": {"config": conf(O, W), "mtime": 1796107200.5, "started": "2026-12-01T06:40:01.000000001Z"},  # loaded
        "cp2": {"config": conf(O), "mtime": 1796107202.0, "started": "2026-12-01T06:40:01.9Z"},  # not loaded
        "cp3": {"config": None, "mtime": 0, "started": ""},  # no file yet
    }
    controller = [{"name": W, "secret": SECRETS[W]}, {"name": O, "secret": SECRETS[O]}]
    plan = kubeadm.rotation_plan(files, W, "aescbc", controller)
    assert plan["state"] == {"cp1": [O, W], "cp2": [O], "cp3": None}
    assert [s["phase"] for s in plan["steps"]] == ["restart", "add", "promote", "rewrite", "drop"]
    assert plan["steps"][0]["hosts"] == ["cp2"]
    assert plan["steps"][1]["config"] == conf(O, W)
    assert plan["steps"][2]["config"] == conf(W, O)
    assert plan["steps"][3]["config"] is None
    assert plan["steps"][4]["config"] == conf(W)
    assert plan["join_config"] == conf(O, W)
    # identity stays last in every file: Secrets stored before encryption stay readable
    assert plan["steps"][2]["config"]["resources"][0]["providers"][-1] == {"identity": {}}


def test_a_server_with_no_container_running_counts_as_loaded():
    files = {"cp1": {"config": conf(W), "mtime": 1796107202.0, "started": ""}}
    assert kubeadm.rotation_plan(files, W, "aescbc", [{"name": W, "secret": SECRETS[W]}])["steps"] == []


def test_offset_times_are_compared_in_utc():
    files = {"cp1": {"config": conf(W), "mtime": 1796107202.0, "started": "2026-12-01T07:40:01+01:00"}}
    plan = kubeadm.rotation_plan(files, W, "aescbc", [{"name": W, "secret": SECRETS[W]}])
    assert plan["steps"][0]["hosts"] == ["cp1"]


def test_old_keys_only_on_the_nodes_are_still_used():
    # the controller's key file lost key-1: the nodes' files still have it, and it stays readable until the drop
    files = {h: {"config": conf(O), "mtime": 1, "started": ""} for h in HOSTS}
    plan = kubeadm.rotation_plan(files, W, "aescbc", [{"name": W, "secret": SECRETS[W]}])
    assert plan["steps"][0]["config"] == conf(O, W)


@pytest.mark.parametrize("files,controller,message", [
    ({"cp1": {"config": conf(O), "mtime": 1, "started": ""}},
     [{"name": O, "secret": SECRETS[W]}], "has a different secret"),
    ({"cp1": {"config": conf(O), "mtime": 1, "started": ""}}, [], "write key 'key-2' is neither"),
    ({"cp1": {"config": conf(W), "mtime": 1, "started": "yesterday"}}, [{"name": W, "secret": SECRETS[W]}],
     "not an RFC 3339 time"),
])
def test_refusals_before_anything_changes(files, controller, message):
    with pytest.raises(kubeadm.KubeadmError, match=message):
        kubeadm.rotation_plan(files, W, "aescbc", controller)


def test_configured_keys_reads_the_provider_keys_in_order():
    assert [k["name"] for k in kubeadm.configured_keys(conf(W, O, OLDER, provider="secretbox"))] == [W, O, OLDER]
    assert kubeadm.configured_keys({"resources": [{"resources": ["secrets"], "providers": [{"identity": {}}]}]}) == []
    assert kubeadm.configured_keys(None) == []


def test_the_old_one_step_rotation_is_caught_by_the_replay():
    # the old role: the new key written first on each node, restarted one at a time -> cp1 writes key-2 that
    # cp2 and cp3 cannot read until they restart (and for good if the run stops there)
    with pytest.raises(AssertionError, match="cannot read it"):
        replay_never_splits(st([O], [O], [O]), [{"phase": "old", "keys": [W, O]}, {"phase": "drop", "keys": [W]}])
