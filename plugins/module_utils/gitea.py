# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gitea v1 API: repositories (created with auto_init and a default branch, updated only where they differ), API
tokens (shown once, kept in a file), files in a repository (contents API), repository webhooks, users (admin API)
and repository collaborators.

Each object has the same pure functions: ``*_state`` (the API's record -> the compared fields), ``plan_*`` (current and
wanted -> the steps), ``*_after`` (the state the steps leave), ``*_calls`` (the (method, path) of each write) and
``predict_*`` (all of them as one rest.prediction(), which check mode returns and tests compare with the state read
back after applying); ``apply_*`` makes the calls."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import re

from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import (
    InputError, check_http_url, check_not_empty, prediction, segment)

API = "/api/v1"
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


def repo_after(current, wanted, state):
    """The repository after the plan: wanted fields where set, else the current ones (or Gitea's creation defaults
    as apply_repo asks for them: no description, public, branch main)."""
    if state == "absent":
        return None
    base = current or {"owner": wanted["owner"], "name": wanted["name"], "description": "", "private": False,
                       "default_branch": "main"}
    return dict(base, **{k: wanted[k] for k in FIELDS if wanted.get(k) is not None})


def repo_calls(wanted, plan, login):
    """login: the authenticated user's name (a repository it owns is created under /user/repos)."""
    calls = []
    for action, _changes in plan:
        if action == "create":
            calls.append(("POST", API + "/user/repos" if wanted["owner"] == login
                          else API + "/orgs/%s/repos" % segment(wanted["owner"])))
        else:
            calls.append(("DELETE" if action == "delete" else "PATCH", repo_path(wanted["owner"], wanted["name"])))
    return calls


def predict_repo(current, wanted, state, login=None):
    """current: repo_state() (None: no such repository); login: needed only when the plan creates it."""
    plan = plan_repo(current, wanted, state)
    return prediction(current, plan, repo_after(current, wanted, state), repo_calls(wanted, plan, login))


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


def token_state(token, stored):
    """Name, scopes and whether the stored secret is this token's (compared by Gitea's last eight characters)."""
    if token is None:
        return None
    return {"name": token["name"], "scopes": sorted(token.get("scopes") or []),
            "stored": bool(stored) and stored.endswith(token.get("token_last_eight") or "\0")}


def token_calls(user, plan):
    return [("DELETE", tokens_path(user) + "/%s" % value) if action == "delete" else ("POST", tokens_path(user))
            for action, value in plan]


def predict_token(current, wanted, state, stored, user):
    """current: the token record Gitea lists (None: no such token); stored: the file's content (None: no file)."""
    plan = plan_token(current, wanted, state, stored)
    after = None if state == "absent" else {"name": wanted["name"], "scopes": sorted(wanted["scopes"]), "stored": True}
    return prediction(token_state(current, stored), plan, after, token_calls(user, plan))


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


def file_after(current_text, wanted_text, state, force=True):
    """The file's text after the plan; None when it will not exist."""
    if state == "absent":
        return None
    if current_text is None or force:
        return wanted_text
    return current_text


def predict_file(current_text, wanted, state, force=True):
    """wanted: owner, repo, path, content. The plan's steps are commits through the contents API."""
    plan = plan_file(current_text, wanted.get("content"), state, force)
    path = contents_path(wanted["owner"], wanted["repo"], wanted["path"])
    methods = {"create": "POST", "update": "PUT", "delete": "DELETE"}
    return prediction(current_text, plan, file_after(current_text, wanted.get("content"), state, force),
                      [(methods[action], path) for action in plan])


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


def hook_after(current, wanted, state):
    if state == "absent":
        return None
    return dict((k, wanted[k]) for k in ("url",) + HOOK_FIELDS)


def hook_calls(wanted, current, plan):
    path = hooks_path(wanted["owner"], wanted["repo"])
    methods = {"delete": "DELETE", "update": "PATCH"}
    return [(methods[action], path + "/%s" % current["id"]) if action in methods else ("POST", path)
            for action, _changes in plan]


def predict_hook(current, wanted, state):
    """current: hook_state() of the hook posting to wanted['url'] (None: no such hook)."""
    plan = plan_hook(current, wanted, state)
    before = None if current is None else dict((k, current[k]) for k in ("url",) + HOOK_FIELDS)
    return prediction(before, plan, hook_after(current, wanted, state), hook_calls(wanted, current, plan))


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


# --- users (admin API) ---------------------------------------------------------------------------------------------

USER_FIELDS = ("email", "admin", "restricted", "visibility")
VISIBILITIES = ("public", "limited", "private")


def check_user_params(params):
    check_gitea_name(params["login"], "login")
    check_not_empty(params, ("email", "user_password"))
    email = params.get("email")
    if email is not None and (email.count("@") != 1 or not all(email.split("@")) or any(c.isspace() for c in email)):
        raise InputError("email %r is not an e-mail address (name@domain)" % (email,))


def user_path(login):
    return API + "/users/%s" % segment(login)


def admin_user_path(login=None):
    return API + "/admin/users" + ("/%s" % segment(login) if login is not None else "")


def user_state(user):
    """The compared fields of a user record (GET /users/{login} as an admin sees it)."""
    if user is None:
        return None
    return {"login": user["login"], "email": user.get("email") or "", "admin": bool(user.get("is_admin")),
            "restricted": bool(user.get("restricted")), "visibility": user.get("visibility") or "public"}


def plan_user(current, wanted, state, password_differs=False):
    """Steps: ('create', None), ('update', {field: value}), ('password', None), ('delete', None). Gitea's create call
    cannot make an admin, so an admin is created and then updated. password_differs: the wanted password does not
    log in (checked only with update_password=always). The password itself is never in a step."""
    if state == "absent":
        return [("delete", None)] if current else []
    if current is None:
        missing = [k for k in ("email", "password") if not wanted.get(k)]
        if missing:
            raise InputError("user %s does not exist and Gitea needs %s to create it: set %s" % (
                wanted["login"], " and ".join(missing),
                " and ".join("user_password" if k == "password" else k for k in missing)))
        return [("create", None)] + ([("update", {"admin": True})] if wanted.get("admin") else [])
    plan = []
    changes = dict((k, wanted[k]) for k in USER_FIELDS if wanted.get(k) is not None and wanted[k] != current[k])
    if changes:
        plan.append(("update", changes))
    if password_differs:
        plan.append(("password", None))
    return plan


def user_after(current, wanted, state):
    if state == "absent":
        return None
    base = current or {"login": wanted["login"], "email": wanted.get("email") or "", "admin": False,
                       "restricted": False, "visibility": "public"}
    return dict(base, **dict((k, wanted[k]) for k in USER_FIELDS if wanted.get(k) is not None))


def user_calls(login, plan):
    methods = {"create": "POST", "update": "PATCH", "password": "PATCH", "delete": "DELETE"}
    return [(methods[action], admin_user_path(None if action == "create" else login)) for action, _value in plan]


def predict_user(current, wanted, state, password_differs=False):
    """current: user_state() (None: no such user); wanted: login, email, password, admin, restricted, visibility
    (None: leave as it is). The diff never holds the password."""
    plan = plan_user(current, wanted, state, password_differs)
    return prediction(current, plan, user_after(current, wanted, state), user_calls(wanted["login"], plan))


def user_create_body(wanted):
    body = {"username": wanted["login"], "email": wanted["email"], "password": wanted["password"],
            "must_change_password": False, "restricted": bool(wanted.get("restricted"))}
    if wanted.get("visibility") is not None:
        body["visibility"] = wanted["visibility"]
    return body


def user_edit_body(record, fields):
    """An EditUserOption for ``fields``; login_name and source_id are sent as the user has them (older Gitea
    releases require both)."""
    body = {"login_name": (record or {}).get("login_name") or "", "source_id": (record or {}).get("source_id") or 0}
    body.update(fields)
    return body


def apply_user(client, record, wanted, plan):
    """record: the user as GET /users/{login} returned it (None when it is created)."""
    login = wanted["login"]
    for action, value in plan:
        if action == "create":
            record = client.request("POST", admin_user_path(), user_create_body(wanted))
        elif action == "update":
            client.request("PATCH", admin_user_path(login), user_edit_body(record, value))
        elif action == "password":
            client.request("PATCH", admin_user_path(login), user_edit_body(record, {"password": wanted["password"]}))
        elif action == "delete":
            client.request("DELETE", admin_user_path(login))


def password_logs_in(client, login, password):
    """Whether ``password`` logs ``login`` in (GET /user with basic authentication answers 200): a read, used to
    decide whether update_password=always has anything to change."""
    return client.as_user(login, password).status_of("GET", API + "/user") == 200


# --- repository collaborators --------------------------------------------------------------------------------------

PERMISSIONS = ("read", "write", "admin")


def check_collaborator_params(params):
    check_gitea_name(params["owner"], "owner")
    check_gitea_name(params["repo"], "repo")
    check_gitea_name(params["user"], "user")


def collaborator_path(owner, repo, user):
    return repo_path(owner, repo) + "/collaborators/%s" % segment(user)


def collaborator_state(user, is_collaborator, permission):
    """is_collaborator: GET /collaborators/{user} answered 204; permission: what .../permission reports."""
    if not is_collaborator:
        return None
    return {"user": user, "permission": permission}


def plan_collaborator(current, wanted, state):
    if state == "absent":
        return [("remove", None)] if current else []
    if current is None:
        return [("add", wanted["permission"])]
    if current["permission"] != wanted["permission"]:
        return [("update", wanted["permission"])]
    return []


def predict_collaborator(current, wanted, state):
    """wanted: owner, repo, user, permission."""
    plan = plan_collaborator(current, wanted, state)
    after = None if state == "absent" else {"user": wanted["user"], "permission": wanted["permission"]}
    path = collaborator_path(wanted["owner"], wanted["repo"], wanted["user"])
    return prediction(current, plan, after, [("DELETE" if a == "remove" else "PUT", path) for a, _v in plan])


def read_collaborator(client, owner, repo, user):
    """(collaborator_state, access): access is the permission Gitea reports for the user on the repository (from a
    collaborator entry, a team, or the repository being public), 'none' when it has none."""
    path = collaborator_path(owner, repo, user)
    is_collaborator = client.exists(path)
    answer = client.get(path + "/permission", missing_ok=True) or {}
    access = answer.get("permission") or "none"
    return collaborator_state(user, is_collaborator, access), access


def apply_collaborator(client, wanted, plan):
    path = collaborator_path(wanted["owner"], wanted["repo"], wanted["user"])
    for action, permission in plan:
        if action == "remove":
            client.request("DELETE", path)
        else:
            client.request("PUT", path, {"permission": permission})
