# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gitea v1 API: repositories (created with auto_init and a default branch, updated only where they differ), API
tokens (shown once, kept in a file), files in a repository (contents API) and repository webhooks."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import segment

API = "/api/v1"
# AnsibleModule rules of the modules that accept either auth Gitea offers: a token, or a user with its password.
AUTH_RULES = dict(required_together=[("username", "password")], required_one_of=[("token", "username")])
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


# --- API tokens ----------------------------------------------------------------------------------------------------

def tokens_path(user):
    return API + "/users/%s/tokens" % segment(user)


def find_token(tokens, name):
    for token in tokens or []:
        if token.get("name") == name:
            return token
    return None


def plan_token(current, wanted, state, stored):
    """Gitea shows a token once, at creation: it is kept in a file, so a token whose file is lost (or holds another
    token, or whose scopes differ) is replaced. stored: the file's content, or None when there is no file."""
    if state == "absent":
        return [("delete", current["id"])] if current else []
    if current is None:
        return [("create", None)]
    reasons = []
    if sorted(current.get("scopes") or []) != sorted(wanted["scopes"]):
        reasons.append("scopes")
    if not stored or not stored.endswith(current.get("token_last_eight") or "\0"):
        reasons.append("stored token")
    return [("delete", current["id"]), ("create", None)] if reasons else []


def apply_token(client, user, wanted, plan):
    """The new token's secret (sha1) when one was created, else None."""
    secret = None
    for action, value in plan:
        if action == "delete":
            client.request("DELETE", tokens_path(user) + "/%s" % value)
        else:
            secret = client.request("POST", tokens_path(user), {"name": wanted["name"], "scopes": wanted["scopes"]})["sha1"]
    return secret


# --- files in a repository (contents API) --------------------------------------------------------------------------

def contents_path(owner, repo, path):
    return API + "/repos/%s/%s/contents/%s" % (segment(owner), segment(repo),
                                               "/".join(segment(p) for p in path.strip("/").split("/")))


def file_state(entry):
    """(text, sha) of a file entry from the contents API, or (None, None)."""
    if entry is None:
        return None, None
    if entry.get("type") != "file":
        raise ValueError("%s is a %s, not a file" % (entry.get("path"), entry.get("type")))
    return base64.b64decode(entry.get("content") or "").decode("utf-8"), entry.get("sha")


def plan_file(current_text, wanted_text, state, force=True):
    """force=False seeds a file once and then leaves it to others (a deploy manifest a pipeline updates)."""
    if state == "absent":
        return ["delete"] if current_text is not None else []
    if current_text is None:
        return ["create"]
    return ["update"] if current_text != wanted_text and force else []


def apply_file(client, wanted, plan, sha):
    path = contents_path(wanted["owner"], wanted["repo"], wanted["path"])
    body = {"message": wanted["message"]}
    if wanted.get("branch"):
        body["branch"] = wanted["branch"]
    for action in plan:
        if action == "delete":
            client.request("DELETE", path, dict(body, sha=sha))
        else:
            body["content"] = base64.b64encode(wanted["content"].encode("utf-8")).decode("ascii")
            if action == "update":
                body["sha"] = sha
            client.request("POST" if action == "create" else "PUT", path, body)


# --- repository webhooks -------------------------------------------------------------------------------------------

HOOK_FIELDS = ("type", "content_type", "events", "active", "branch_filter")


def hooks_path(owner, repo):
    return API + "/repos/%s/%s/hooks" % (segment(owner), segment(repo))


def hook_state(hook):
    if hook is None:
        return None
    config = hook.get("config") or {}
    return {"id": hook["id"], "url": config.get("url"), "type": hook.get("type"),
            "content_type": config.get("content_type"), "events": sorted(hook.get("events") or []),
            "active": bool(hook.get("active")), "branch_filter": hook.get("branch_filter") or ""}


def find_hook(hooks, url):
    for hook in hooks or []:
        if (hook.get("config") or {}).get("url") == url:
            return hook_state(hook)
    return None


def plan_hook(current, wanted, state):
    """Webhooks are matched by their target URL. The secret cannot be read back, so it is set at creation only."""
    if state == "absent":
        return [("delete", None)] if current else []
    if current is None:
        return [("create", None)]
    changes = {k: wanted[k] for k in HOOK_FIELDS if wanted[k] != current[k]}
    if "type" in changes:  # Gitea cannot change a hook's type
        return [("delete", None), ("create", None)]
    return [("update", changes)] if changes else []


def hook_body(wanted, changes=None):
    fields = changes if changes is not None else dict((k, wanted[k]) for k in HOOK_FIELDS)
    body = {k: fields[k] for k in ("events", "active", "branch_filter") if k in fields}
    config = {"url": wanted["url"], "content_type": wanted["content_type"]}
    if changes is None:
        body["type"] = wanted["type"]
        if wanted.get("secret"):
            config["secret"] = wanted["secret"]
    body["config"] = config
    return body


def apply_hook(client, wanted, current, plan):
    path = hooks_path(wanted["owner"], wanted["repo"])
    for action, changes in plan:
        if action == "delete":
            client.request("DELETE", path + "/%s" % current["id"])
        elif action == "update":
            client.request("PATCH", path + "/%s" % current["id"], hook_body(wanted, changes))
        else:
            client.request("POST", path, hook_body(wanted))
