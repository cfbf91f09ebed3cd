# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gitea v1 API: repositories (created with auto_init and a default branch, updated only where they differ), API
tokens (shown once, kept in a file), files in a repository (contents API) and repository webhooks."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import re

from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import (
    InputError, check_http_url, check_not_empty, segment)

API = "/api/v1"
# AnsibleModule rules of the modules that accept either auth Gitea offers: a token, or a user with its password.
AUTH_RULES = dict(required_together=[("username", "password")], required_one_of=[("token", "username")])
FIELDS = ("description", "private", "default_branch")
# Gitea's rule for user, organisation and repository names: letters, digits, '-', '_' and '.', not '.' or '..'.
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


# --- option checks (before any request) -----------------------------------------------------------------------------

def check_gitea_name(value, option):
    if not isinstance(value, str) or not NAME_RE.match(value) or value in (".", ".."):
        raise InputError("%s %r is not a Gitea name: use letters, digits, '-', '_' and '.' (at most 100 characters)"
                         % (option, value))
    return value


def check_repo_file_path(value, option="path"):
    """A path inside a repository: segments separated by '/', none empty, '.' or '..'."""
    parts = value.strip("/").split("/") if isinstance(value, str) else [""]
    if any(part in ("", ".", "..") or part.strip() != part for part in parts):
        raise InputError("%s %r is not a file path in a repository: give segments separated by '/', without empty, "
                         "'.' or '..' segments or surrounding spaces" % (option, value))
    return "/".join(parts)


def check_repo_params(params):
    check_gitea_name(params["owner"], "owner")
    check_gitea_name(params["name"], "name")
    check_not_empty(params, ("default_branch",))


def check_file_params(params):
    check_gitea_name(params["owner"], "owner")
    check_gitea_name(params["repo"], "repo")
    check_repo_file_path(params["path"])
    check_not_empty(params, ("branch", "commit_message"))


def check_hook_params(params):
    check_gitea_name(params["owner"], "owner")
    check_gitea_name(params["repo"], "repo")
    check_http_url(params["hook_url"], "hook_url", allow_query=True)
    check_not_empty(params, ("events", "branch_filter"))


def check_token_params(params):
    check_not_empty(params, ("name", "user", "scopes"))
    if params.get("user") is not None:
        check_gitea_name(params["user"], "user")


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
    if isinstance(entry, list):  # the contents API lists a directory
        raise ValueError("it is a directory, not a file")
    if not isinstance(entry, dict):
        raise ValueError("the contents API answered %r, not a file entry" % (entry,))
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
