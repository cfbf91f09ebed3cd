# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Harbor v2.0 API: projects (public flag, storage quota) and project robot accounts (scoped permissions).
Read the current state, compare it with the wanted one, plan the calls, apply them; writes happen only when the
plan is not empty and never in check mode. A robot whose secret file is missing gets a new secret
(PATCH /robots/{id}, Harbor's RefreshSec: an empty body makes Harbor generate one and return it once)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import prediction

API = "/api/v2.0"
_UNITS = {"": 1, "B": 1, "K": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4,
          "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}
ROBOT_ACTIONS = ("push", "pull", "delete", "list", "read", "create", "stop")
# Harbor's own rule for project and robot names (lower case, digits, '.', '_' or '-' between them).
NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
MAX_STORAGE = 2 ** 63 - 1  # Harbor keeps quotas as int64 bytes
MAX_DURATION = 2 ** 31 - 2  # Harbor accepts -1 <= duration < MaxInt32 days


class HarborError(ValueError):
    pass


def parse_size(value):
    """Bytes from 10Gi, 500M, 1073741824 or -1 (no limit)."""
    text = str(value).strip()
    if text == "-1":
        return -1
    m = re.match(r"^([0-9]+)\s*([KMGT]i?|B)?$", text)
    if not m:
        raise HarborError("storage_limit %r is not a size (e.g. 10Gi, 500M, -1 for no limit)" % (value,))
    size = int(m.group(1)) * _UNITS[m.group(2) or ""]
    if size > MAX_STORAGE:
        raise HarborError("storage_limit %r is larger than Harbor can store (%d bytes); give a smaller size or -1 "
                          "for no limit" % (value, MAX_STORAGE))
    return size


def check_name(value, option):
    """Project and robot names as Harbor accepts them; HarborError before any call otherwise."""
    if not isinstance(value, str) or not NAME_RE.match(value) or len(value) > 255:
        raise HarborError("%s %r is not a Harbor name: use lower-case letters and digits, with '.', '_' or '-' "
                          "between them (at most 255 characters)" % (option, value))
    return value


def check_duration(value):
    if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= MAX_DURATION:
        raise HarborError("duration %r is out of range: give the days until the robot expires (1 to %d), 0 for "
                          "Harbor's default or -1 for never" % (value, MAX_DURATION))
    return value


# --- projects ------------------------------------------------------------------------------------------------------

def find_project(client, name):
    """The project named exactly `name`, or None (the list filter matches substrings)."""
    for p in client.get(API + "/projects", {"name": name, "page_size": 100}) or []:
        if p.get("name") == name:
            return p
    return None


def project_state(project, quota):
    if project is None:
        return None
    metadata = project.get("metadata") or {}
    public = str(metadata.get("public", "false")).lower() == "true"
    auto_scan = str(metadata.get("auto_scan", "false")).lower() == "true"
    storage = ((quota or {}).get("hard") or {}).get("storage", -1)
    return {"name": project["name"], "public": public, "auto_scan": auto_scan, "storage_limit": storage}


def plan_project(current, wanted, state):
    """Calls to make: [] when the project is already as wanted. wanted: name, public, storage_limit (None: leave)."""
    if state == "absent":
        return [("delete", None)] if current else []
    if current is None:
        return [("create", None)]
    plan = []
    if wanted.get("public") is not None and wanted["public"] != current["public"]:
        plan.append(("public", wanted["public"]))
    if wanted.get("auto_scan") is not None and wanted["auto_scan"] != current["auto_scan"]:
        plan.append(("auto_scan", wanted["auto_scan"]))
    if wanted.get("storage_limit") is not None and wanted["storage_limit"] != current["storage_limit"]:
        plan.append(("quota", wanted["storage_limit"]))
    return plan


def project_after(current, wanted, state):
    """The project as it will be after the plan: wanted values where set, the current (or Harbor's creation
    defaults: private, no scan, no quota) elsewhere; None when absent."""
    if state == "absent":
        return None
    base = current or {"name": wanted["name"], "public": False, "auto_scan": False, "storage_limit": -1}
    return dict(base, **{k: wanted[k] for k in ("public", "auto_scan", "storage_limit") if wanted.get(k) is not None})


def project_calls(project, quota, plan):
    """(method, path) of the writes ``plan`` makes."""
    calls = []
    for action, _value in plan:
        if action == "create":
            calls.append(("POST", API + "/projects"))
        elif action == "delete":
            calls.append(("DELETE", API + "/projects/%s" % project["project_id"]))
        elif action in ("public", "auto_scan"):
            calls.append(("PUT", API + "/projects/%s" % project["project_id"]))
        elif action == "quota":
            calls.append(("PUT", API + "/quotas/%s" % (quota or {}).get("id")))
    return calls


def predict_project(project, quota, wanted, state):
    """prediction() of harbor_project from the project and quota records Harbor returned (None: no project)."""
    before = project_state(project, quota)
    plan = plan_project(before, wanted, state)
    if any(action == "quota" for action, _v in plan) and not quota:
        raise HarborError("project %s has no quota record to update" % project["name"])
    return prediction(before, plan, project_after(before, wanted, state), project_calls(project, quota, plan))


def read_project(client, name):
    """The project's state as Harbor reports it now (project_state), or None."""
    project = find_project(client, name)
    return project_state(project, project_quota(client, project))


def apply_project(client, project, quota, wanted, plan):
    for action, value in plan:
        if action == "create":
            body = {"project_name": wanted["name"], "metadata": {"public": str(bool(wanted.get("public"))).lower()}}
            if wanted.get("auto_scan") is not None:
                body["metadata"]["auto_scan"] = str(bool(wanted["auto_scan"])).lower()
            if wanted.get("storage_limit") is not None:
                body["storage_limit"] = wanted["storage_limit"]
            client.request("POST", API + "/projects", body)
        elif action == "delete":
            client.request("DELETE", API + "/projects/%s" % project["project_id"])
        elif action in ("public", "auto_scan"):
            client.request("PUT", API + "/projects/%s" % project["project_id"],
                           {"metadata": {action: str(value).lower()}})
        elif action == "quota":
            if not quota:
                raise HarborError("project %s has no quota record to update" % project["name"])
            client.request("PUT", API + "/quotas/%s" % quota["id"], {"hard": {"storage": value}})


def project_quota(client, project):
    if project is None:
        return None
    quotas = client.get(API + "/quotas", {"reference": "project", "reference_id": project["project_id"]}) or []
    return quotas[0] if quotas else None


# --- robot accounts ------------------------------------------------------------------------------------------------

def robot_names(project, name, prefix="robot$"):
    """The forms Harbor shows a project robot's name in."""
    return {"%s%s+%s" % (prefix, project, name), "%s+%s" % (project, name), name}


def wanted_permissions(project, actions, resource="repository"):
    bad = [a for a in actions if a not in ROBOT_ACTIONS]
    if bad:
        raise HarborError("robot actions %s are not known (use %s)" % (", ".join(bad), ", ".join(ROBOT_ACTIONS)))
    if not actions:
        raise HarborError("a robot account needs at least one action (push, pull, ...)")
    return [{"kind": "project", "namespace": project,
             "access": [{"resource": resource, "action": a} for a in sorted(set(actions))]}]


def access_set(permissions):
    """[namespace, resource, action] of every grant, sorted (what two permission lists are compared by)."""
    return [list(t) for t in sorted(set((p.get("namespace"), a.get("resource"), a.get("action"))
                                        for p in permissions or [] for a in p.get("access") or []))]


def find_robot(client, project_id, project, name):
    names = robot_names(project, name)
    robots = client.get(API + "/robots", {"q": "Level=project,ProjectID=%s" % project_id, "page_size": 100}) or []
    for r in robots:
        if r.get("name") in names:
            return r
    return None


def robot_state(robot):
    if robot is None:
        return None
    return {"name": robot["name"], "description": robot.get("description", ""),
            "permissions": access_set(robot.get("permissions")), "disabled": bool(robot.get("disable"))}


def plan_robot(current, wanted, state, secret_missing=False):
    """Calls to make. secret_missing: the robot's secret is wanted in a file that is missing or empty; Harbor cannot
    show an existing secret again, so an existing robot gets a new one ('refresh')."""
    if state == "absent":
        return [("delete", None)] if current else []
    if current is None:
        return [("create", None)]
    plan = []
    if (access_set(wanted["permissions"]) != current["permissions"]
            or (wanted.get("description") is not None and wanted["description"] != current["description"])):
        plan.append(("update", None))
    if secret_missing:
        plan.append(("refresh", None))
    return plan


def plan_gives_secret(plan):
    """Whether applying ``plan`` returns a secret to keep (a robot created, or its secret regenerated)."""
    return any(action in ("create", "refresh") for action, _value in plan)


def robot_after(current, wanted, state, project, secret_file=False):
    """The robot as it will be after the plan; with secret_file, also that its file holds the secret."""
    if state == "absent":
        return None
    after = {"name": (current or {}).get("name") or "robot$%s+%s" % (project, wanted["name"]),
             "description": wanted["description"] if wanted.get("description") is not None
             else (current or {}).get("description", ""),
             "permissions": access_set(wanted["permissions"]), "disabled": False}
    if secret_file:
        after["secret_stored"] = True
    return after


def robot_calls(robot, plan):
    methods = {"create": "POST", "delete": "DELETE", "update": "PUT", "refresh": "PATCH"}
    return [(methods[action], API + "/robots" + ("" if action == "create" else "/%s" % robot["id"]))
            for action, _value in plan]


def predict_robot(robot, wanted, state, project, secret_dest=None, stored=None):
    """prediction() of harbor_robot from the robot record Harbor returned (None: no robot). secret_dest: the file
    the secret is kept in (None: returned instead); stored: that file's content (None: no file)."""
    before = robot_state(robot)
    keep = secret_dest is not None and state == "present"
    plan = plan_robot(before, wanted, state, secret_missing=keep and not stored)
    if before is not None and keep:
        before = dict(before, secret_stored=bool(stored))
    return prediction(before, plan, robot_after(before, wanted, state, project, keep), robot_calls(robot, plan))


def apply_robot(client, robot, wanted, plan):
    """{name, secret} of a robot created or whose secret was regenerated (Harbor shows a secret only then), or
    None."""
    result = None
    for action, _value in plan:
        if action == "create":
            created = client.request("POST", API + "/robots", {
                "name": wanted["name"], "description": wanted.get("description") or "", "level": "project",
                "duration": wanted.get("duration", -1), "disable": False, "permissions": wanted["permissions"]})
            result = {"name": (created or {}).get("name"), "secret": (created or {}).get("secret")}
        if action == "delete":
            client.request("DELETE", API + "/robots/%s" % robot["id"])
        if action == "update":
            body = dict(robot, permissions=wanted["permissions"])
            if wanted.get("description") is not None:
                body["description"] = wanted["description"]
            client.request("PUT", API + "/robots/%s" % robot["id"], body)
        if action == "refresh":
            refreshed = client.request("PATCH", API + "/robots/%s" % robot["id"], {})
            result = {"name": robot["name"], "secret": (refreshed or {}).get("secret")}
    if result is not None and not result["secret"]:
        raise HarborError("Harbor answered without the robot's secret; delete the robot in Harbor and run again")
    return result
