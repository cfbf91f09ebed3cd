# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What playbooks/upgrade.yml still has to do on one node (pure, no I/O), for k3s and kubeadm alike.

The installed binary alone cannot say it: a run that failed after the binary changed (kubeadm upgrade apply, the
k3s restart, the Ready wait) leaves a new binary on a node that is still cordoned, or still runs the old release,
and a decision from the binary would skip it. So the Node object is read too: the kubelet version it reports, its
cordon, its Ready condition, and the annotation the upgrade puts on before it drains (MARKER), which tells an
upgrade's own cordon from an operator's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

MARKER = "aiinfra.io/upgrading-to"
CORDONED_BEFORE = " cordoned-before"


class UpgradeError(ValueError):
    pass


def _norm(version):
    v = str(version or "").strip()
    return ("v" + v.lstrip("v")) if v else ""


def node_state(node):
    """The parts of a Node object (as kubernetes.core.k8s_info returns it) the decision needs; None when absent."""
    if not node:
        return None
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    marker = (meta.get("annotations") or {}).get(MARKER)
    return {"version": _norm((status.get("nodeInfo") or {}).get("kubeletVersion")),
            "cordoned": bool(spec.get("unschedulable")),
            "ready": bool(ready) and ready[0].get("status") == "True",
            "marker": marker,
            # the marker says whether the node was cordoned before the upgrade began (then it stays cordoned)
            "was_cordoned": (marker or "").endswith(CORDONED_BEFORE)}


def marker_value(wanted, cordoned):
    """The annotation's value: the release, and whether the node was already cordoned (kept so at the end)."""
    return _norm(wanted) + (CORDONED_BEFORE if cordoned else "")


def upgrade_step(binary_action, wanted, node):
    """binary_action: 'install', 'upgrade' or 'none' (from the installed binary: k3s_install_action or
    kubeadm_upgrade_action); wanted: the release (v1.31.4 or v1.31.4+k3s1); node: the Node object or None.

    Returns {action, mark, marker, drain, upgrade, restart, wait_ready, uncordon, unmark, reason}; action is
    'none', 'upgrade' (the whole procedure) or 'finish' (an interrupted upgrade's remaining steps: Ready wait,
    uncordon). Every flag is a step to run, in that order; marker is the annotation value to put on (mark).
    """
    if binary_action not in ("install", "upgrade", "none"):
        raise UpgradeError("binary action must be install, upgrade or none, not %r" % binary_action)
    wanted = _norm(wanted)
    if not wanted:
        raise UpgradeError("the wanted release is empty: set k8s_version")
    state = node_state(node)
    plan = {"action": "none", "mark": False, "marker": "", "drain": False, "upgrade": False, "restart": False,
            "wait_ready": False, "uncordon": False, "unmark": False, "reason": ""}
    if state is None:
        if binary_action == "upgrade":
            plan.update(action="upgrade", upgrade=True,
                        reason="the binary is not %s and the node is not registered: upgrade, nothing to drain" % wanted)
        else:
            plan["reason"] = ("not registered and nothing installed: site.yml joins new nodes" if binary_action == "install"
                              else "not registered; the binary is already %s" % wanted)
        return plan
    mine = state["marker"] is not None
    # an upgrade's own cordon is undone at the end; one that was there before it began is kept
    keep_cordon = state["was_cordoned"] if mine else state["cordoned"]
    full = dict(action="upgrade", mark=not mine, marker=state["marker"] or marker_value(wanted, state["cordoned"]),
                drain=True, upgrade=True, wait_ready=True, uncordon=not keep_cordon, unmark=True)
    if binary_action == "upgrade":
        plan.update(full, reason="the binary is not %s" % wanted)
    elif state["version"] != wanted:
        # the binary is new but the kubelet still runs the old release: the run stopped between the two
        # (kubeadm upgrade apply/node or the kubelet package failed, k3s not restarted on the new binary)
        plan.update(full, restart=True, reason="the binary is %s but the node reports %s" % (
            wanted, state["version"] or "no version"))
    elif mine:
        # upgraded, but the run stopped before the end (Ready wait, uncordon, marker)
        plan.update(action="finish", wait_ready=True, uncordon=state["cordoned"] and not keep_cordon, unmark=True,
                    reason="%s reached; finishing an interrupted upgrade (%s, %s)" % (
                        wanted, "cordoned" if state["cordoned"] else "not cordoned",
                        "Ready" if state["ready"] else "NotReady"))
    elif not state["ready"]:
        # nothing to upgrade, but going on to the next node would take a second one out
        plan.update(action="finish", wait_ready=True, reason="%s reached but the node is NotReady" % wanted)
    else:
        plan["reason"] = "%s reached, Ready" % wanted + (
            " (cordoned, not by an upgrade: left cordoned)" if state["cordoned"] else "")
    return plan
