"""Issue 13 item 5: what an upgrade run still has to do on a node, from the binary AND the Node object (kubelet
version, cordon, Ready, the upgrade's own marker), so a re-run finishes an interrupted upgrade. Both distributions.
Before the fix the decision was the binary's alone: every row with binary 'none' below came out 'nothing to do'."""

import pytest

from ansible_collections.aiinfra.cluster.plugins.plugin_utils import node_upgrade as nu

K3S_OLD, K3S_NEW = "v1.30.8+k3s1", "v1.31.4+k3s1"
KA_OLD, KA_NEW = "v1.30.8", "v1.31.4"


def node(version, cordoned=False, ready=True, marker=None):
    meta = {"name": "n1"}
    if marker is not None:
        meta["annotations"] = {nu.MARKER: marker, "other": "x"}
    return {"metadata": meta, "spec": {"unschedulable": True} if cordoned else {},
            "status": {"nodeInfo": {"kubeletVersion": version},
                       "conditions": [{"type": "MemoryPressure", "status": "False"},
                                      {"type": "Ready", "status": "True" if ready else "False"}]}}


STEPS = ("mark", "drain", "upgrade", "restart", "wait_ready", "uncordon", "unmark")
FULL = {"mark", "drain", "upgrade", "wait_ready", "uncordon", "unmark"}

# (case, binary action, wanted, node, expected action, expected steps)
CASES = [
    # --- nothing to do
    ("k3s up to date", "none", K3S_NEW, node(K3S_NEW), "none", set()),
    ("kubeadm up to date", "none", KA_NEW, node(KA_NEW), "none", set()),
    ("operator's cordon is left alone", "none", KA_NEW, node(KA_NEW, cordoned=True), "none", set()),
    ("not registered, nothing installed (site.yml's job)", "install", KA_NEW, None, "none", set()),
    ("not registered, binary current", "none", K3S_NEW, None, "none", set()),
    # --- a normal upgrade
    ("k3s binary old", "upgrade", K3S_NEW, node(K3S_OLD), "upgrade", FULL),
    ("kubeadm binary old", "upgrade", KA_NEW, node(KA_OLD), "upgrade", FULL),
    ("binary old, not registered: nothing to drain", "upgrade", KA_NEW, None, "upgrade", {"upgrade"}),
    ("operator cordoned it before: upgraded, kept cordoned", "upgrade", KA_NEW, node(KA_OLD, cordoned=True),
     "upgrade", FULL - {"uncordon"}),
    # --- interrupted after the binary changed (the bug: these were 'none')
    ("k3s: binary swapped, service not restarted", "none", K3S_NEW, node(K3S_OLD, cordoned=True, marker=K3S_NEW),
     "upgrade", FULL - {"mark"} | {"restart"}),
    ("kubeadm: package in, upgrade apply failed", "none", KA_NEW, node(KA_OLD, cordoned=True, marker=KA_NEW),
     "upgrade", FULL - {"mark"} | {"restart"}),
    ("kubeadm: binary new, node old, marker lost (older run)", "none", KA_NEW, node(KA_OLD), "upgrade",
     FULL | {"restart"}),
    ("after apply, kubelet up, Ready wait failed: NotReady and cordoned", "none", KA_NEW,
     node(KA_NEW, cordoned=True, ready=False, marker=KA_NEW), "finish", {"wait_ready", "uncordon", "unmark"}),
    ("cordoned but upgraded and Ready (uncordon failed)", "none", K3S_NEW, node(K3S_NEW, cordoned=True, marker=K3S_NEW),
     "finish", {"wait_ready", "uncordon", "unmark"}),
    ("uncordoned, only the marker left", "none", KA_NEW, node(KA_NEW, marker=KA_NEW), "finish",
     {"wait_ready", "unmark"}),
    ("interrupted, was cordoned before the upgrade: stays cordoned", "none", KA_NEW,
     node(KA_NEW, cordoned=True, marker=KA_NEW + nu.CORDONED_BEFORE), "finish", {"wait_ready", "unmark"}),
    ("interrupted before the binary changed (marked, drained)", "upgrade", K3S_NEW,
     node(K3S_OLD, cordoned=True, marker=K3S_NEW), "upgrade", FULL - {"mark"}),
    ("marker of an earlier target, now upgraded further", "upgrade", "v1.32.1", node(KA_NEW, cordoned=True, marker=KA_NEW),
     "upgrade", FULL - {"mark"}),
    # --- not upgraded by us, but NotReady: wait before the next node goes down
    ("NotReady, nothing to upgrade", "none", K3S_NEW, node(K3S_NEW, ready=False), "finish", {"wait_ready"}),
    ("no Ready condition yet", "none", KA_NEW, {"status": {"nodeInfo": {"kubeletVersion": KA_NEW}}}, "finish",
     {"wait_ready"}),
]


@pytest.mark.parametrize("case,binary,wanted,obj,action,steps", CASES, ids=[c[0] for c in CASES])
def test_upgrade_step(case, binary, wanted, obj, action, steps):
    plan = nu.upgrade_step(binary, wanted, obj)
    assert plan["action"] == action, plan["reason"]
    assert {s for s in STEPS if plan[s]} == steps, plan
    assert plan["reason"]


def test_marker_records_a_cordon_that_was_there_before():
    plan = nu.upgrade_step("upgrade", "1.31.4", node(KA_OLD, cordoned=True))
    assert plan["marker"] == "v1.31.4" + nu.CORDONED_BEFORE
    assert nu.upgrade_step("upgrade", "v1.31.4", node(KA_OLD))["marker"] == "v1.31.4"
    # an existing marker is kept (not re-put), whatever the wanted release
    kept = nu.upgrade_step("upgrade", "v1.32.1", node(KA_NEW, cordoned=True, marker=KA_NEW + nu.CORDONED_BEFORE))
    assert kept["marker"] == KA_NEW + nu.CORDONED_BEFORE and not kept["mark"] and not kept["uncordon"]


def test_second_run_after_a_finished_upgrade_does_nothing():
    # the end state of every upgrade above: new release, uncordoned, Ready, marker removed
    for wanted in (K3S_NEW, KA_NEW):
        assert nu.upgrade_step("none", wanted, node(wanted))["action"] == "none"


@pytest.mark.parametrize("binary,wanted,message", [
    ("reinstall", KA_NEW, "binary action must be"),
    ("none", "", "wanted release is empty"),
])
def test_bad_input_is_refused(binary, wanted, message):
    with pytest.raises(nu.UpgradeError, match=message):
        nu.upgrade_step(binary, wanted, node(KA_NEW))
