# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gitea v1 API: repositories (created with auto_init and a default branch, updated only where they differ)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import segment

API = "/api/v1"
FIELDS = ("description", "private", "default_branch")


def repo_path(owner, name):
    return API + "/repos/%s/%s" % (segment(owner), segment(name))


def repo_state(repo):
    if repo is None:
        return None
    return {"owner": repo["owner"]["login"], "name": repo["name"], "description": repo.get("description", ""),
            "private": bool(repo.get("private")), "default_branch": repo.get("default_branch", "")}


def plan_repo(current, wanted, state):
    """('create'|'update'|'delete', fields) list; [] when the repository is as wanted."""
    if state == "absent":
        return [("delete", None)] if current else []
    if current is None:
        return [("create", None)]
    changes = {k: wanted[k] for k in FIELDS if wanted.get(k) is not None and wanted[k] != current[k]}
    return [("update", changes)] if changes else []


def apply_repo(client, wanted, plan, login):
    """The repository as the API returns it after the change (None after a delete)."""
    for action, changes in plan:
        if action == "delete":
            client.request("DELETE", repo_path(wanted["owner"], wanted["name"]))
            return None
        if action == "update":
            return client.request("PATCH", repo_path(wanted["owner"], wanted["name"]), changes)
        body = {"name": wanted["name"], "description": wanted.get("description") or "",
                "private": bool(wanted.get("private")), "auto_init": bool(wanted.get("auto_init", True)),
                "default_branch": wanted.get("default_branch") or "main", "readme": "Default"}
        if wanted["owner"] == login:
            return client.request("POST", API + "/user/repos", body)
        return client.request("POST", API + "/orgs/%s/repos" % segment(wanted["owner"]), body)
    return None
