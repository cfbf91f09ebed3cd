"""module_utils/gitea.py: the option checks of the Gitea modules (before any call), file entries that are not
files (issue 16), and the predictions of every Gitea module as tables of (current, wanted, expected after, calls,
changed): repositories, tokens, files, webhooks, users and collaborators."""

import pytest

from ansible_collections.aiinfra.cluster.plugins.module_utils.gitea import (
    apply_user, check_collaborator_params, check_file_params, check_gitea_name, check_hook_params,
    check_repo_file_path, check_repo_params, check_token_params, check_user_params, file_state, predict_collaborator,
    predict_file, predict_hook, predict_repo, predict_token, predict_user, user_edit_body)
from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import InputError


@pytest.mark.parametrize("name", ["platform", "gitea_admin", "demo-app", "Demo.App", "a", "x" * 100])
def test_good_names(name):
    assert check_gitea_name(name, "owner") == name


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a b", "x" * 101, None, 3, "ä"])
def test_bad_names(name):
    with pytest.raises(InputError, match="is not a Gitea name"):
        check_gitea_name(name, "owner")


@pytest.mark.parametrize("path,expected", [("Jenkinsfile", "Jenkinsfile"), ("/apps/demo.yaml", "apps/demo.yaml"),
                                           ("apps/demo.yaml/", "apps/demo.yaml"), (".github/x.yml", ".github/x.yml")])
def test_good_paths(path, expected):
    assert check_repo_file_path(path) == expected


@pytest.mark.parametrize("path", ["", "/", "//", "a//b", "../x", "a/../b", "a/./b", ".", " a", "a /b", None])
def test_bad_paths(path):
    with pytest.raises(InputError, match="is not a file path in a repository"):
        check_repo_file_path(path)


def test_module_checks():
    check_repo_params({"owner": "platform", "name": "demo", "default_branch": None})
    with pytest.raises(InputError, match="default_branch is empty"):
        check_repo_params({"owner": "platform", "name": "demo", "default_branch": ""})
    check_file_params({"owner": "o", "repo": "r", "path": "a/b", "branch": None, "commit_message": None})
    with pytest.raises(InputError, match="commit_message is empty"):
        check_file_params({"owner": "o", "repo": "r", "path": "a/b", "branch": None, "commit_message": " "})
    hook = {"owner": "o", "repo": "r", "hook_url": "http://jenkins:8080/gitea-webhook/post", "events": ["push"],
            "branch_filter": "*"}
    check_hook_params(hook)
    check_hook_params(dict(hook, hook_url="https://ci.example/hook?token=abc"))
    for bad, message in (({"hook_url": "file:///etc/passwd"}, "hook_url has the scheme file://"),
                         ({"events": []}, "events"), ({"branch_filter": ""}, "branch_filter is empty")):
        with pytest.raises(InputError, match=message):
            check_hook_params(dict(hook, **bad))
    check_token_params({"name": "jenkins", "user": None, "scopes": ["read:user"]})
    for bad, message in (({"name": ""}, "name is empty"), ({"scopes": []}, "scopes"),
                         ({"user": "a/b"}, "user 'a/b' is not a Gitea name")):
        with pytest.raises(InputError, match=message):
            check_token_params(dict({"name": "jenkins", "user": None, "scopes": ["read:user"]}, **bad))


@pytest.mark.parametrize("entry,message", [
    ([{"type": "file", "path": "apps/a.yaml"}], "it is a directory, not a file"),
    ("text", "not a file entry"),
    ({"type": "dir", "path": "apps"}, "apps is a dir, not a file"),
    ({"type": "file", "path": "a", "content": "QQ"}, "Incorrect padding"),
    ({"type": "file", "path": "a", "content": "//79"}, "codec can't decode"),
])
def test_file_entries_that_are_not_text_files(entry, message):
    with pytest.raises(ValueError, match=message):
        file_state(entry)


# --- predictions ---------------------------------------------------------------------------------------------------

REPO = {"owner": "platform", "name": "demo", "description": "d", "private": True, "default_branch": "main"}
R_WANT = {"owner": "platform", "name": "demo", "description": None, "private": None, "default_branch": None}


@pytest.mark.parametrize("current,wanted,state,login,after,calls", [
    (None, {}, "present", "gitea_admin", dict(REPO, description="", private=False),
     [("POST", "/api/v1/orgs/platform/repos")]),
    (None, {"private": True, "description": "d"}, "present", "platform", REPO, [("POST", "/api/v1/user/repos")]),
    (REPO, {}, "present", None, REPO, []),
    (REPO, {"private": True, "default_branch": "main"}, "present", None, REPO, []),
    (REPO, {"private": False, "description": "e"}, "present", None, dict(REPO, private=False, description="e"),
     [("PATCH", "/api/v1/repos/platform/demo")]),
    (REPO, {}, "absent", None, None, [("DELETE", "/api/v1/repos/platform/demo")]),
    (None, {}, "absent", None, None, []),
])
def test_predict_repo(current, wanted, state, login, after, calls):
    pred = predict_repo(current, dict(R_WANT, **wanted), state, login)
    assert pred["after"] == after and pred["calls"] == calls and pred["changed"] == bool(calls)


TOKEN = {"id": 5, "name": "jenkins", "scopes": ["write:repository", "read:user"], "token_last_eight": "12345678"}
T_WANT = {"name": "jenkins", "scopes": ["read:user", "write:repository"]}
T_PATH = "/api/v1/users/jenkins/tokens"


@pytest.mark.parametrize("current,scopes,state,stored,before_stored,calls", [
    (None, None, "present", None, None, [("POST", T_PATH)]),
    (TOKEN, None, "present", "abcd12345678", True, []),
    (TOKEN, None, "present", None, False, [("DELETE", T_PATH + "/5"), ("POST", T_PATH)]),  # the file is lost
    (TOKEN, None, "present", "another-token", False, [("DELETE", T_PATH + "/5"), ("POST", T_PATH)]),
    (TOKEN, ["read:user"], "present", "abcd12345678", True, [("DELETE", T_PATH + "/5"), ("POST", T_PATH)]),
    (TOKEN, None, "absent", "abcd12345678", True, [("DELETE", T_PATH + "/5")]),
    (None, None, "absent", None, None, []),
])
def test_predict_token(current, scopes, state, stored, before_stored, calls):
    wanted = dict(T_WANT, scopes=scopes or T_WANT["scopes"])
    pred = predict_token(current, wanted, state, stored, "jenkins")
    assert pred["calls"] == calls and pred["changed"] == bool(calls)
    assert pred["after"] == (None if state == "absent" else dict(wanted, scopes=sorted(wanted["scopes"]), stored=True))
    assert (pred["before"] or {}).get("stored") == before_stored


F_WANT = {"owner": "platform", "repo": "demo", "path": "apps/a.yaml", "content": "new\n"}
F_PATH = "/api/v1/repos/platform/demo/contents/apps/a.yaml"


@pytest.mark.parametrize("current,state,force,after,calls", [
    (None, "present", True, "new\n", [("POST", F_PATH)]),
    (None, "present", False, "new\n", [("POST", F_PATH)]),  # seeded when missing
    ("new\n", "present", True, "new\n", []),
    ("old\n", "present", True, "new\n", [("PUT", F_PATH)]),
    ("old\n", "present", False, "old\n", []),  # seeded once, then left to others
    ("old\n", "absent", True, None, [("DELETE", F_PATH)]),
    (None, "absent", True, None, []),
])
def test_predict_file(current, state, force, after, calls):
    pred = predict_file(current, F_WANT, state, force)
    assert pred["before"] == current and pred["after"] == after
    assert pred["calls"] == calls and pred["changed"] == bool(calls)


HOOK = {"id": 9, "url": "http://j/hook", "type": "gitea", "content_type": "json", "events": ["push"], "active": True,
        "branch_filter": "*"}
H_WANT = {"owner": "platform", "repo": "demo", "url": "http://j/hook", "type": "gitea", "content_type": "json",
          "events": ["push"], "active": True, "branch_filter": "*", "secret": "s"}
H_PATH = "/api/v1/repos/platform/demo/hooks"
H_AFTER = {k: v for k, v in HOOK.items() if k != "id"}


@pytest.mark.parametrize("current,wanted,state,after,calls", [
    (None, {}, "present", H_AFTER, [("POST", H_PATH)]),
    (HOOK, {}, "present", H_AFTER, []),
    (HOOK, {"secret": "other"}, "present", H_AFTER, []),  # the secret cannot be read back: not compared
    (HOOK, {"events": ["create", "push"]}, "present", dict(H_AFTER, events=["create", "push"]),
     [("PATCH", H_PATH + "/9")]),
    (HOOK, {"type": "slack"}, "present", dict(H_AFTER, type="slack"), [("DELETE", H_PATH + "/9"), ("POST", H_PATH)]),
    (HOOK, {}, "absent", None, [("DELETE", H_PATH + "/9")]),
    (None, {}, "absent", None, []),
])
def test_predict_hook(current, wanted, state, after, calls):
    pred = predict_hook(current, dict(H_WANT, **wanted), state)
    assert pred["after"] == after and pred["calls"] == calls and pred["changed"] == bool(calls)
    assert "secret" not in (pred["after"] or {}) and "secret" not in (pred["before"] or {})


USER = {"login": "jenkins", "email": "j@ci", "admin": False, "restricted": True, "visibility": "private"}
U_WANT = {"login": "jenkins", "email": "j@ci", "password": "pw-1", "admin": False, "restricted": True,
          "visibility": "private"}
U_ADMIN = "/api/v1/admin/users"


@pytest.mark.parametrize("current,wanted,state,differs,after,plan,calls", [
    (None, {}, "present", False, USER, [("create", None)], [("POST", U_ADMIN)]),
    # Gitea cannot create an admin: create, then update
    (None, {"admin": True}, "present", False, dict(USER, admin=True), [("create", None), ("update", {"admin": True})],
     [("POST", U_ADMIN), ("PATCH", U_ADMIN + "/jenkins")]),
    # fields not wanted take Gitea's defaults on creation
    (None, {"restricted": None, "visibility": None, "admin": None}, "present", False,
     dict(USER, restricted=False, visibility="public"), [("create", None)], [("POST", U_ADMIN)]),
    (USER, {}, "present", False, USER, [], []),
    (USER, {"email": None, "admin": None, "restricted": None, "visibility": None}, "present", False, USER, [], []),
    # an admin, unrestricted user is narrowed
    (dict(USER, admin=True, restricted=False), {}, "present", False, USER,
     [("update", {"admin": False, "restricted": True})], [("PATCH", U_ADMIN + "/jenkins")]),
    (USER, {}, "present", True, USER, [("password", None)], [("PATCH", U_ADMIN + "/jenkins")]),
    (USER, {"email": "new@ci"}, "present", True, dict(USER, email="new@ci"),
     [("update", {"email": "new@ci"}), ("password", None)],
     [("PATCH", U_ADMIN + "/jenkins"), ("PATCH", U_ADMIN + "/jenkins")]),
    (USER, {}, "absent", False, None, [("delete", None)], [("DELETE", U_ADMIN + "/jenkins")]),
    (None, {}, "absent", False, None, [], []),
])
def test_predict_user(current, wanted, state, differs, after, plan, calls):
    pred = predict_user(current, dict(U_WANT, **wanted), state, differs)
    assert pred["after"] == after and pred["plan"] == plan and pred["calls"] == calls
    assert pred["changed"] == bool(calls)
    assert "pw-1" not in repr(pred)  # the password is in no step, state or call


@pytest.mark.parametrize("missing,words", [({"email": None}, "needs email to create it: set email"),
                                           ({"password": None}, "set user_password"),
                                           ({"email": None, "password": None}, "set email and user_password")])
def test_predict_user_creation_needs_email_and_password(missing, words):
    with pytest.raises(InputError, match=words):
        predict_user(None, dict(U_WANT, **missing), "present")
    predict_user(USER, dict(U_WANT, **missing), "present")  # an existing user needs neither


class Recorder(object):
    def __init__(self):
        self.calls = []

    def request(self, method, path, body=None):
        self.calls.append((method, path, body))
        return {"login": "jenkins", "login_name": "", "source_id": 0}


def test_apply_user_bodies():
    client = Recorder()
    wanted = dict(U_WANT, admin=True)
    apply_user(client, None, wanted, predict_user(None, wanted, "present")["plan"])
    assert client.calls[0] == ("POST", U_ADMIN, {"username": "jenkins", "email": "j@ci", "password": "pw-1",
                                                 "must_change_password": False, "restricted": True,
                                                 "visibility": "private"})
    assert client.calls[1] == ("PATCH", U_ADMIN + "/jenkins", {"login_name": "", "source_id": 0, "admin": True})
    record = {"login": "jenkins", "login_name": "jenkins-ldap", "source_id": 2}
    assert user_edit_body(record, {"restricted": True}) == {"login_name": "jenkins-ldap", "source_id": 2,
                                                            "restricted": True}
    client = Recorder()
    apply_user(client, record, U_WANT, [("password", None)])
    assert client.calls == [("PATCH", U_ADMIN + "/jenkins", {"login_name": "jenkins-ldap", "source_id": 2,
                                                             "password": "pw-1"})]


@pytest.mark.parametrize("params,words", [
    ({"login": "a b"}, "login 'a b' is not a Gitea name"),
    ({"email": ""}, "email is empty"),
    ({"email": "jenkins"}, "is not an e-mail address"),
    ({"email": "a@b@c"}, "is not an e-mail address"),
    ({"email": "@ci"}, "is not an e-mail address"),
    ({"user_password": " "}, "user_password is empty"),
])
def test_user_checks(params, words):
    good = {"login": "jenkins", "email": "j@ci.example", "user_password": "pw"}
    check_user_params(good)
    with pytest.raises(InputError, match=words):
        check_user_params(dict(good, **params))


C_WANT = {"owner": "gitea_admin", "repo": "demo", "user": "jenkins", "permission": "read"}
C_PATH = "/api/v1/repos/gitea_admin/demo/collaborators/jenkins"


@pytest.mark.parametrize("current,permission,state,after,plan,calls", [
    (None, "read", "present", {"user": "jenkins", "permission": "read"}, [("add", "read")], [("PUT", C_PATH)]),
    ({"user": "jenkins", "permission": "read"}, "read", "present", {"user": "jenkins", "permission": "read"}, [], []),
    ({"user": "jenkins", "permission": "read"}, "write", "present", {"user": "jenkins", "permission": "write"},
     [("update", "write")], [("PUT", C_PATH)]),
    ({"user": "jenkins", "permission": "admin"}, "write", "present", {"user": "jenkins", "permission": "write"},
     [("update", "write")], [("PUT", C_PATH)]),
    ({"user": "jenkins", "permission": "write"}, "read", "absent", None, [("remove", None)], [("DELETE", C_PATH)]),
    (None, "read", "absent", None, [], []),
])
def test_predict_collaborator(current, permission, state, after, plan, calls):
    pred = predict_collaborator(current, dict(C_WANT, permission=permission), state)
    assert pred["after"] == after and pred["plan"] == plan and pred["calls"] == calls
    assert pred["changed"] == bool(calls)


def test_collaborator_checks():
    check_collaborator_params(C_WANT)
    for key in ("owner", "repo", "user"):
        with pytest.raises(InputError, match="%s '' is not a Gitea name" % key):
            check_collaborator_params(dict(C_WANT, **{key: ""}))
