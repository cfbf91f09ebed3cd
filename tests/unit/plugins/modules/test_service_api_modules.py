"""The REST modules (harbor_project, harbor_robot, gitea_repo, gitea_file, gitea_token, gitea_webhook, gitea_user,
gitea_collaborator) against in-memory APIs shaped like Harbor's v2.0 and Gitea's v1: create, already present (no
write), update, delete, check mode (no write, the predicted after as the diff), apply mode (the state read back
equals the prediction, the writes are the predicted ones), and API errors named with status, URL and body."""

import base64
import errno
import os
import stat

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.aiinfra.cluster.plugins.module_utils import rest
from ansible_collections.aiinfra.cluster.plugins.modules import (
    gitea_collaborator, gitea_file, gitea_repo, gitea_token, gitea_user, gitea_webhook, harbor_project, harbor_robot)
from ansible_collections.aiinfra.cluster.tests.unit.plugins.modules.fake_services import FakeGitea, FakeHarbor
from ansible_collections.aiinfra.cluster.tests.unit.plugins.modules.harness import ModuleExit

HARBOR = {"url": "http://harbor.example:30002", "username": "admin", "password": "pw"}
GITEA = {"url": "http://gitea.example:30300", "token": "tok"}
GITEA_BASIC = {"url": "http://gitea.example:30300", "username": "gitea_admin", "password": "pw"}


@pytest.fixture
def harbor(monkeypatch):
    api = FakeHarbor()
    monkeypatch.setattr(rest, "urllib_transport", api)
    return api


@pytest.fixture
def gitea(monkeypatch):
    api = FakeGitea()
    monkeypatch.setattr(rest, "urllib_transport", api)
    return api


@pytest.fixture(autouse=True)
def warnings(monkeypatch):
    """What the modules warn about (a read-back state that differs from the prediction, for one)."""
    seen = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: seen.append(text))
    return seen


def run(module, args, check=False, diff=False):
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
        with pytest.raises(ModuleExit) as exc:
            module.main()
    return exc.value


# --- harbor_project ------------------------------------------------------------------------------------------------

def test_project_created_then_left_alone(harbor):
    args = dict(HARBOR, name="lab", public=False, storage_limit="20Gi")
    check = run(harbor_project, args, check=True, diff=True)
    assert check.kind == "exit" and check.result["changed"] is True and check.result["plan"] == [["create", None]]
    assert harbor.writes == []
    assert check.result["diff"] == {"before": {}, "after": {"name": "lab", "public": False, "auto_scan": False,
                                                            "storage_limit": 20 * 1024 ** 3}}
    out = run(harbor_project, args)
    assert out.result["changed"] is True
    assert harbor.writes == [("POST", "/api/v2.0/projects")]
    body = harbor.last_write[2]
    assert body == {"project_name": "lab", "metadata": {"public": "false"}, "storage_limit": 21474836480}
    # basic auth from username/password
    assert harbor.last_headers["Authorization"] == "Basic " + base64.b64encode(b"admin:pw").decode()
    again = run(harbor_project, args)
    assert again.result["changed"] is False and again.result["plan"] == []
    assert harbor.writes == [("POST", "/api/v2.0/projects")]  # no write the second time


def test_project_exact_name_and_update(harbor):
    harbor.add_project("lab-old", public=True)  # the list filter matches substrings: must not be taken for "lab"
    pid = harbor.add_project("lab", public=False, storage=-1)
    out = run(harbor_project, dict(HARBOR, name="lab", public=True, storage_limit="10Gi"), diff=True)
    assert out.result["plan"] == [["public", True], ["quota", 10 * 1024 ** 3]]
    assert harbor.writes == [("PUT", "/api/v2.0/projects/%d" % pid), ("PUT", "/api/v2.0/quotas/%d" % (pid + 1))]
    assert harbor.projects[pid]["metadata"]["public"] == "true"
    assert out.result["diff"]["before"]["public"] is False and out.result["diff"]["after"]["public"] is True
    # unset options are left as they are
    assert run(harbor_project, dict(HARBOR, name="lab")).result["changed"] is False


def test_project_scan_on_push(harbor):
    out = run(harbor_project, dict(HARBOR, name="lab", auto_scan=True))
    assert harbor.last_write[2] == {"project_name": "lab", "metadata": {"public": "false", "auto_scan": "true"}}
    assert out.result["project"]["auto_scan"] is True
    assert run(harbor_project, dict(HARBOR, name="lab", auto_scan=True)).result["changed"] is False
    pid = next(iter(harbor.projects))
    off = run(harbor_project, dict(HARBOR, name="lab", auto_scan=False), diff=True)
    assert off.result["plan"] == [["auto_scan", False]]
    assert harbor.last_write == ("PUT", "/api/v2.0/projects/%d" % pid, {"metadata": {"auto_scan": "false"}})
    assert off.result["diff"]["before"]["auto_scan"] is True and off.result["diff"]["after"]["auto_scan"] is False
    assert harbor.projects[pid]["metadata"]["auto_scan"] == "false"


def test_project_delete(harbor):
    pid = harbor.add_project("lab")
    assert run(harbor_project, dict(HARBOR, name="lab", state="absent"), check=True).result["changed"] is True
    assert pid in harbor.projects
    assert run(harbor_project, dict(HARBOR, name="lab", state="absent")).result["changed"] is True
    assert pid not in harbor.projects
    assert run(harbor_project, dict(HARBOR, name="lab", state="absent")).result["changed"] is False


def test_project_api_error_names_status_url_and_body(harbor):
    harbor.fail_with = (401, {"errors": [{"code": "UNAUTHORIZED", "message": "unauthorized"}]})
    out = run(harbor_project, dict(HARBOR, name="lab"))
    assert out.kind == "fail" and out.result["status"] == 401
    assert out.result["msg"].startswith("Harbor project lab at http://harbor.example:30002: GET "
                                        "http://harbor.example:30002/api/v2.0/projects?name=lab&page_size=100 failed: 401")
    assert '"UNAUTHORIZED"' in out.result["msg"]


def test_bad_size_is_refused_before_any_call(harbor):
    out = run(harbor_project, dict(HARBOR, name="lab", storage_limit="20GB"))
    assert out.kind == "fail" and "storage_limit '20GB' is not a size" in out.result["msg"]
    assert harbor.requests == []


# --- harbor_robot --------------------------------------------------------------------------------------------------

def test_robot_created_with_secret_written_once(harbor, tmp_path):
    harbor.add_project("lab")
    dest = tmp_path / "robot-secret"
    args = dict(HARBOR, project="lab", name="ci", actions=["push", "pull"], secret_dest=str(dest))
    check = run(harbor_robot, args, check=True)
    assert check.result["changed"] is True and harbor.writes == [] and not dest.exists()
    out = run(harbor_robot, args)
    assert out.result["changed"] is True and "secret" not in out.result
    assert dest.read_text() == "s3cr3t-robot-token\n" and stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    assert out.result["robot"]["name"] == "robot$lab+ci"
    assert out.result["robot"]["permissions"] == [["lab", "repository", "pull"], ["lab", "repository", "push"]]
    body = next(b for m, p, b in harbor.requests if m == "POST")
    assert body["level"] == "project" and body["permissions"][0]["namespace"] == "lab"
    again = run(harbor_robot, args)
    assert again.result["changed"] is False and len(harbor.writes) == 1


def _fail_fsync_once(monkeypatch, error):
    """The disk refuses the secret once (ENOSPC, EIO...): the fault a run cannot foresee, injected where it happens."""
    calls = []
    real = rest.os.fsync

    def fsync(fd):
        if not calls:
            calls.append(fd)
            raise OSError(error, os.strerror(error))
        return real(fd)
    monkeypatch.setattr(rest.os, "fsync", fsync)
    return calls


def test_robot_secret_write_fails_after_create_then_recovered(harbor, tmp_path, monkeypatch):
    """Issue 16: the robot was created, writing secret_dest failed, and a re-run said ok with no secret anywhere."""
    harbor.add_project("lab")
    dest = tmp_path / "robot-secret"
    args = dict(HARBOR, project="lab", name="ci", actions=["push", "pull"], secret_dest=str(dest))
    _fail_fsync_once(monkeypatch, errno.ENOSPC)
    failed = run(harbor_robot, args)
    assert failed.kind == "fail"
    msg = failed.result["msg"]
    assert msg.startswith("Harbor robot ci in project lab at http://harbor.example:30002: the robot's new secret was "
                          "made in Harbor but could not write secret_dest %s" % dest)
    assert "No space left on device" in msg and "Fix secret_dest and run again" in msg
    assert "s3cr3t-robot-token" not in repr(failed.result)
    assert not dest.exists() and os.listdir(str(tmp_path)) == []  # no temporary file left behind
    rid = next(iter(harbor.robots))
    # run again (the disk has room now): the robot is kept and gets a new secret, which is written
    check = run(harbor_robot, args, check=True, diff=True)
    assert check.result["changed"] is True and check.result["plan"] == [["refresh", None]]
    assert check.result["diff"]["before"]["secret_stored"] is False and check.result["diff"]["after"]["secret_stored"]
    assert harbor.writes == [("POST", "/api/v2.0/robots")] and not dest.exists()
    fixed = run(harbor_robot, args)
    assert fixed.kind == "exit" and fixed.result["changed"] is True and fixed.result["plan"] == [["refresh", None]]
    assert harbor.writes == [("POST", "/api/v2.0/robots"), ("PATCH", "/api/v2.0/robots/%d" % rid)]
    assert harbor.last_write[2] == {}  # an empty RobotSec: Harbor generates the secret
    assert dest.read_text() == harbor.secrets[rid] + "\n" and harbor.secrets[rid] != "s3cr3t-robot-token"
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600 and "secret" not in fixed.result
    again = run(harbor_robot, args)
    assert again.result["changed"] is False and again.result["plan"] == [] and len(harbor.writes) == 2


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_robot_secret_regenerated_when_its_file_is_lost_or_empty(harbor, tmp_path, content):
    harbor.add_project("lab")
    rid = harbor.add_robot("lab", "ci", ["pull"])
    dest = tmp_path / "robot-secret"
    if content is not None:
        dest.write_text(content)
    args = dict(HARBOR, project="lab", name="ci", secret_dest=str(dest))
    out = run(harbor_robot, args)
    assert out.result["plan"] == [["refresh", None]] and harbor.writes == [("PATCH", "/api/v2.0/robots/%d" % rid)]
    assert dest.read_text() == harbor.secrets[rid] + "\n"
    assert run(harbor_robot, args).result["changed"] is False
    # permissions changed and the file lost at once: both, in one run
    dest.unlink()
    out = run(harbor_robot, dict(args, actions=["push", "pull"]))
    assert out.result["plan"] == [["update", None], ["refresh", None]]
    assert dest.read_text() == harbor.secrets[rid] + "\n"


def test_robot_file_kept_when_it_holds_a_secret_and_left_alone_when_absent(harbor, tmp_path):
    harbor.add_project("lab")
    rid = harbor.add_robot("lab", "ci", ["pull"])
    dest = tmp_path / "robot-secret"
    dest.write_text("kept-secret\n")
    assert run(harbor_robot, dict(HARBOR, project="lab", name="ci", secret_dest=str(dest))).result["changed"] is False
    out = run(harbor_robot, dict(HARBOR, project="lab", name="ci", secret_dest=str(dest), state="absent"))
    assert out.result["plan"] == [["delete", None]] and rid not in harbor.robots
    assert dest.read_text() == "kept-secret\n"


def test_robot_secret_dest_refused_before_anything_is_created(harbor, tmp_path):
    harbor.add_project("lab")
    args = dict(HARBOR, project="lab", name="ci", secret_dest=str(tmp_path))  # a directory
    for check in (True, False):
        out = run(harbor_robot, args, check=check)
        assert out.kind == "fail" and out.result["msg"] == (
            "Harbor robot ci in project lab at http://harbor.example:30002: secret_dest %s is a directory: give the "
            "path of a file (it is written with mode 0600). Nothing was changed." % tmp_path)
    assert harbor.requests == [] and harbor.robots == {}
    out = run(harbor_robot, dict(args, secret_dest=str(tmp_path / "robot-secret")))
    assert out.result["plan"] == [["create", None]]
    assert (tmp_path / "robot-secret").read_text() == "s3cr3t-robot-token\n"


def test_robot_api_error_while_regenerating_leaves_the_old_file_state(harbor, tmp_path):
    harbor.add_project("lab")
    harbor.add_robot("lab", "ci", ["pull"])
    dest = tmp_path / "robot-secret"
    real = harbor.route

    def refuse_patch(method, path, query, data):
        if method == "PATCH":
            return 403, {"errors": [{"code": "FORBIDDEN", "message": "forbidden"}]}
        return real(method, path, query, data)
    harbor.route = refuse_patch
    out = run(harbor_robot, dict(HARBOR, project="lab", name="ci", secret_dest=str(dest)))
    assert out.kind == "fail" and out.result["status"] == 403 and "PATCH" in out.result["msg"]
    assert os.listdir(str(tmp_path)) == []  # the staged file is removed again


def test_token_write_fails_after_create_then_replaced(gitea, tmp_path, monkeypatch):
    dest = tmp_path / "gitea-token"
    args = dict(GITEA_BASIC, name="jenkins", dest=str(dest))
    _fail_fsync_once(monkeypatch, errno.EIO)
    failed = run(gitea_token, args)
    assert failed.kind == "fail" and "the token was created in Gitea but could not write dest" in failed.result["msg"]
    assert not dest.exists() and os.listdir(str(tmp_path)) == [] and len(gitea.tokens) == 1
    old = next(iter(gitea.tokens))
    out = run(gitea_token, args)
    assert out.result["plan"] == [["delete", old], ["create", None]]
    assert dest.read_text().strip() == next(iter(gitea.tokens.values()))["sha1"]
    assert run(gitea_token, args).result["changed"] is False


def test_token_dest_directory_refused_before_anything_changes(gitea, tmp_path):
    gitea.add_token("jenkins", ["read:user", "write:repository"], "f" * 40)
    out = run(gitea_token, dict(GITEA_BASIC, name="jenkins", dest=str(tmp_path)))
    assert out.kind == "fail" and "dest %s is a directory" % tmp_path in out.result["msg"]
    assert gitea.requests == [] and len(gitea.tokens) == 1


def test_robot_secret_returned_without_dest(harbor):
    harbor.add_project("lab")
    out = run(harbor_robot, dict(HARBOR, project="lab", name="pull-only"))
    assert out.result["secret"] == "s3cr3t-robot-token"


def test_robot_permissions_updated_and_deleted(harbor):
    harbor.add_project("lab")
    rid = harbor.add_robot("lab", "ci", ["pull"])
    out = run(harbor_robot, dict(HARBOR, project="lab", name="ci", actions=["push", "pull"]), diff=True)
    assert out.result["plan"] == [["update", None]] and harbor.writes == [("PUT", "/api/v2.0/robots/%d" % rid)]
    assert out.result["diff"]["before"]["permissions"] == [["lab", "repository", "pull"]]
    assert "secret" not in out.result
    assert run(harbor_robot, dict(HARBOR, project="lab", name="ci", state="absent")).result["changed"] is True
    assert rid not in harbor.robots


def test_robot_needs_its_project(harbor):
    out = run(harbor_robot, dict(HARBOR, project="nope", name="ci"))
    assert out.kind == "fail" and "Harbor project nope does not exist" in out.result["msg"]


# --- gitea_repo ----------------------------------------------------------------------------------------------------

def test_repo_created_in_an_org_then_left_alone(gitea):
    args = dict(GITEA, owner="platform", name="demo-app", description="Demo", default_branch="main")
    check = run(gitea_repo, args, check=True, diff=True)
    assert check.result["changed"] is True and gitea.writes == []
    out = run(gitea_repo, args)
    assert gitea.writes == [("POST", "/api/v1/orgs/platform/repos")]
    body = gitea.last_write[2]
    assert body["auto_init"] is True and body["default_branch"] == "main" and body["readme"] == "Default"
    assert out.result["clone_url"] == "http://gitea.example:30300/platform/demo-app.git"
    assert gitea.last_headers["Authorization"] == "token tok"
    assert run(gitea_repo, args).result["changed"] is False and len(gitea.writes) == 1


def test_repo_for_the_token_user(gitea):
    run(gitea_repo, dict(GITEA, owner="gitea_admin", name="deploy"))
    assert gitea.writes == [("POST", "/api/v1/user/repos")]


def test_repo_update_and_delete(gitea):
    gitea.add_repo("platform", "demo-app", description="old")
    out = run(gitea_repo, dict(GITEA, owner="platform", name="demo-app", description="new", private=True), diff=True)
    assert out.result["plan"] == [["update", {"description": "new", "private": True}]]
    assert gitea.writes == [("PATCH", "/api/v1/repos/platform/demo-app")]
    assert out.result["diff"]["before"]["description"] == "old" and out.result["repo"]["private"] is True
    assert run(gitea_repo, dict(GITEA, owner="platform", name="demo-app", state="absent")).result["changed"] is True
    assert ("platform", "demo-app") not in gitea.repos


def test_repo_unknown_owner_fails_clearly(gitea):
    out = run(gitea_repo, dict(GITEA, owner="nobody", name="x"))
    assert out.kind == "fail" and out.result["status"] == 404
    assert "POST http://gitea.example:30300/api/v1/orgs/nobody/repos failed: 404" in out.result["msg"]
    assert "GetOrgByName" in out.result["msg"]


# --- gitea_token ---------------------------------------------------------------------------------------------------

def test_token_created_once_and_stored_0600(gitea, tmp_path):
    dest = tmp_path / "gitea-token-jenkins"
    args = dict(GITEA_BASIC, name="jenkins", dest=str(dest))
    check = run(gitea_token, args, check=True, diff=True)
    assert check.result["plan"] == [["create", None]] and gitea.writes == [] and not dest.exists()
    out = run(gitea_token, args, diff=True)
    assert out.result["changed"] is True and gitea.writes == [("POST", "/api/v1/users/gitea_admin/tokens")]
    assert gitea.last_write[2] == {"name": "jenkins", "scopes": ["read:user", "write:repository"]}
    secret = next(iter(gitea.tokens.values()))["sha1"]
    assert dest.read_text() == secret + "\n" and stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    assert secret not in repr(out.result)  # never in the result
    assert out.result["diff"]["after"] == {"name": "jenkins", "scopes": ["read:user", "write:repository"],
                                           "stored": True}
    assert gitea.last_headers["Authorization"].startswith("Basic ")
    again = run(gitea_token, args)
    assert again.result["changed"] is False and len(gitea.writes) == 1


def test_token_replaced_when_its_file_is_lost_or_scopes_change(gitea, tmp_path):
    dest = tmp_path / "t"
    old = gitea.add_token("jenkins", ["read:user", "write:repository"], "f" * 40)
    out = run(gitea_token, dict(GITEA_BASIC, name="jenkins", dest=str(dest)), diff=True)
    assert out.result["plan"] == [["delete", old], ["create", None]]
    assert out.result["diff"]["before"]["stored"] is False
    assert old not in gitea.tokens and dest.read_text().strip() == next(iter(gitea.tokens.values()))["sha1"]
    out = run(gitea_token, dict(GITEA_BASIC, name="jenkins", dest=str(dest), scopes=["read:repository"]))
    assert [step[0] for step in out.result["plan"]] == ["delete", "create"]
    assert next(iter(gitea.tokens.values()))["scopes"] == ["read:repository"]
    assert run(gitea_token, dict(GITEA_BASIC, name="jenkins", dest=str(dest), state="absent")).result["changed"] is True
    assert gitea.tokens == {}


def test_token_needs_basic_auth_and_reports_api_errors(gitea, tmp_path):
    out = run(gitea_token, dict(GITEA, name="jenkins", dest=str(tmp_path / "t")))
    assert out.kind == "fail" and "only for basic authentication" in out.result["msg"] and gitea.requests == []
    gitea.fail_with = (401, {"message": "user does not exist", "url": "http://gitea.example/api/swagger"})
    out = run(gitea_token, dict(GITEA_BASIC, name="jenkins", dest=str(tmp_path / "t")))
    assert out.kind == "fail" and out.result["status"] == 401
    assert ("GET http://gitea.example:30300/api/v1/users/gitea_admin/tokens?limit=50 failed: 401"
            in out.result["msg"]) and "user does not exist" in out.result["msg"]


# --- gitea_file ----------------------------------------------------------------------------------------------------

def test_file_committed_only_when_it_differs(gitea):
    gitea.add_repo("gitea_admin", "demo-app")
    args = dict(GITEA, owner="gitea_admin", repo="demo-app", path="ci/Jenkinsfile", content="pipeline {}\n")
    check = run(gitea_file, args, check=True, diff=True)
    assert check.result["plan"] == ["create"] and gitea.writes == []
    assert check.result["diff"]["before"] == "" and check.result["diff"]["after"] == "pipeline {}\n"
    run(gitea_file, args)
    assert gitea.writes == [("POST", "/api/v1/repos/gitea_admin/demo-app/contents/ci/Jenkinsfile")]
    body = gitea.last_write[2]
    assert base64.b64decode(body["content"]).decode() == "pipeline {}\n" and "sha" not in body
    assert body["message"] == "Create ci/Jenkinsfile (aiinfra.cluster)"
    assert run(gitea_file, args).result["changed"] is False and len(gitea.writes) == 1
    sha = gitea.files[("gitea_admin", "demo-app", "ci/Jenkinsfile")][1]
    out = run(gitea_file, dict(args, content="pipeline { agent any }\n", branch="main"), diff=True)
    assert out.result["plan"] == ["update"] and out.result["diff"]["before"] == "pipeline {}\n"
    assert gitea.last_write[0] == "PUT" and gitea.last_write[2]["sha"] == sha
    assert gitea.last_write[2]["branch"] == "main"
    assert gitea.requests[-2][1].endswith("/contents/ci/Jenkinsfile")  # read with ?ref=main first
    out = run(gitea_file, dict(args, state="absent", content=None))
    assert out.result["plan"] == ["delete"] and ("gitea_admin", "demo-app", "ci/Jenkinsfile") not in gitea.files


def test_file_seeded_once_without_force(gitea):
    gitea.add_repo("gitea_admin", "demo-deploy")
    gitea.add_file("gitea_admin", "demo-deploy", "demo/deployment.yaml", "image: harbor/demo:abc123\n")
    args = dict(GITEA, owner="gitea_admin", repo="demo-deploy", path="demo/deployment.yaml",
                content="image: harbor/demo:pending\n", force=False)
    out = run(gitea_file, args, diff=True)  # the pipeline's commit stays
    assert out.result["changed"] is False and gitea.writes == []
    assert out.result["diff"]["before"] == out.result["diff"]["after"] == "image: harbor/demo:abc123\n"
    del gitea.files[("gitea_admin", "demo-deploy", "demo/deployment.yaml")]
    assert run(gitea_file, args).result["plan"] == ["create"]


def test_file_errors_name_the_file(gitea):
    out = run(gitea_file, dict(GITEA, owner="gitea_admin", repo="missing", path="a", content="x"))
    assert out.kind == "fail" and out.result["status"] == 404
    assert out.result["msg"].startswith("Gitea file gitea_admin/missing:a at http://gitea.example:30300: POST")
    out = run(gitea_file, dict(GITEA, owner="gitea_admin", repo="missing", path="a"))
    assert out.kind == "fail" and "content" in out.result["msg"]


# --- gitea_webhook -------------------------------------------------------------------------------------------------

HOOK = "http://jenkins.jenkins.svc.cluster.local:8080/gitea-webhook/post"


def test_webhook_created_with_secret_then_left_alone(gitea):
    gitea.add_repo("gitea_admin", "demo-app")
    args = dict(GITEA, owner="gitea_admin", repo="demo-app", hook_url=HOOK, secret="s3cr3t")
    assert run(gitea_webhook, args, check=True).result["plan"] == [["create", None]] and gitea.writes == []
    out = run(gitea_webhook, args, diff=True)
    assert gitea.writes == [("POST", "/api/v1/repos/gitea_admin/demo-app/hooks")]
    assert gitea.last_write[2] == {"type": "gitea", "events": ["push"], "active": True, "branch_filter": "*",
                                   "config": {"url": HOOK, "content_type": "json", "secret": "s3cr3t"}}
    assert out.result["hook"]["url"] == HOOK and "s3cr3t" not in repr(out.result)
    assert run(gitea_webhook, args).result["changed"] is False and len(gitea.writes) == 1


def test_webhook_updated_retyped_and_deleted(gitea):
    gitea.add_repo("gitea_admin", "demo-app")
    other = gitea.add_hook("gitea_admin", "demo-app", "http://elsewhere/")
    hid = gitea.add_hook("gitea_admin", "demo-app", HOOK, events=["push"], active=False)
    args = dict(GITEA, owner="gitea_admin", repo="demo-app", hook_url=HOOK, events=["push", "create"])
    out = run(gitea_webhook, args, diff=True)
    assert out.result["plan"] == [["update", {"events": ["create", "push"], "active": True}]]
    assert gitea.writes == [("PATCH", "/api/v1/repos/gitea_admin/demo-app/hooks/%d" % hid)]
    assert gitea.hooks[hid]["active"] is True and out.result["diff"]["before"]["active"] is False
    out = run(gitea_webhook, dict(args, type="gogs"))
    assert [step[0] for step in out.result["plan"]] == ["delete", "create"] and hid not in gitea.hooks
    assert run(gitea_webhook, dict(args, state="absent")).result["changed"] is True
    assert list(gitea.hooks) == [other]  # the other hook is never touched


# --- every module: check mode returns the prediction, apply mode reads back the same ----------------------------------

def _harbor_lab(api, tmp):
    api.add_project("lab")


def _gitea_repo(api, tmp):
    api.add_repo("gitea_admin", "demo-app", private=True)
    api.add_user("jenkins", "j@ci.example", "jenkins-pw-1", restricted=True, visibility="private")


PREDICTION_CASES = [
    # (id, service, module, name of the result's object, setup, args, writes the apply run makes)
    ("project-create", "harbor", harbor_project, "project", None,
     dict(HARBOR, name="lab", public=True, auto_scan=True, storage_limit="1Gi"), [("POST", "/api/v2.0/projects")]),
    ("project-update", "harbor", harbor_project, "project", _harbor_lab,
     dict(HARBOR, name="lab", public=True, storage_limit="10Gi"),
     [("PUT", "/api/v2.0/projects/1"), ("PUT", "/api/v2.0/quotas/2")]),
    ("project-delete", "harbor", harbor_project, "project", _harbor_lab, dict(HARBOR, name="lab", state="absent"),
     [("DELETE", "/api/v2.0/projects/1")]),
    ("robot-create", "harbor", harbor_robot, "robot", _harbor_lab,
     dict(HARBOR, project="lab", name="ci", actions=["push", "pull"], description="CI", secret_dest="{tmp}/robot"),
     [("POST", "/api/v2.0/robots")]),
    ("repo-create", "gitea", gitea_repo, "repo", None,
     dict(GITEA, owner="platform", name="demo", description="Demo", private=True), [("POST", "/api/v1/orgs/platform/repos")]),
    ("repo-update", "gitea", gitea_repo, "repo", _gitea_repo,
     dict(GITEA, owner="gitea_admin", name="demo-app", private=False, description="new"),
     [("PATCH", "/api/v1/repos/gitea_admin/demo-app")]),
    ("token-create", "gitea", gitea_token, "token", None,
     dict(GITEA_BASIC, name="jenkins", dest="{tmp}/token"), [("POST", "/api/v1/users/gitea_admin/tokens")]),
    ("hook-create", "gitea", gitea_webhook, "hook", _gitea_repo,
     dict(GITEA, owner="gitea_admin", repo="demo-app", hook_url="http://j:8080/hook", events=["push", "create"]),
     [("POST", "/api/v1/repos/gitea_admin/demo-app/hooks")]),
    ("file-create", "gitea", gitea_file, None, _gitea_repo,
     dict(GITEA, owner="gitea_admin", repo="demo-app", path="Jenkinsfile", content="pipeline {}\n"),
     [("POST", "/api/v1/repos/gitea_admin/demo-app/contents/Jenkinsfile")]),
    ("user-create", "gitea", gitea_user, "user", None,
     dict(GITEA_BASIC, login="argocd", email="argocd@ci.example", user_password="argo-pw-1", restricted=True,
          visibility="private"), [("POST", "/api/v1/admin/users")]),
    ("user-create-admin", "gitea", gitea_user, "user", None,
     dict(GITEA_BASIC, login="ops", email="ops@ci.example", user_password="ops-pw-1", admin=True),
     [("POST", "/api/v1/admin/users"), ("PATCH", "/api/v1/admin/users/ops")]),
    ("user-narrow", "gitea", gitea_user, "user", lambda api, tmp: api.add_user("jenkins", "j@ci", "pw", admin=True),
     dict(GITEA_BASIC, login="jenkins", admin=False, restricted=True), [("PATCH", "/api/v1/admin/users/jenkins")]),
    ("user-delete", "gitea", gitea_user, "user", _gitea_repo, dict(GITEA_BASIC, login="jenkins", state="absent"),
     [("DELETE", "/api/v1/admin/users/jenkins")]),
    ("collaborator-add", "gitea", gitea_collaborator, "collaborator", _gitea_repo,
     dict(GITEA, owner="gitea_admin", repo="demo-app", user="jenkins", permission="write"),
     [("PUT", "/api/v1/repos/gitea_admin/demo-app/collaborators/jenkins")]),
]


@pytest.mark.parametrize("service,module,name,setup,args,writes",
                         [pytest.param(*c[1:], id=c[0]) for c in PREDICTION_CASES])
def test_check_mode_predicts_what_apply_reads_back(request, tmp_path, warnings, service, module, name, setup, args,
                                                   writes):
    api = request.getfixturevalue(service)
    if setup:
        setup(api, tmp_path)
    args = {k: (v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v) for k, v in args.items()}
    check = run(module, args, check=True, diff=True)
    assert check.kind == "exit", check.result
    assert check.result["changed"] is True and api.writes == []  # check mode calls no write endpoint
    predicted = check.result["diff"]["after"]
    applied = run(module, args, diff=True)
    assert applied.kind == "exit", applied.result
    assert api.writes == writes
    assert applied.result["diff"]["after"] == predicted  # the state read back is the predicted one
    if name:
        assert applied.result[name] == (predicted or None) == check.result[name]
    assert warnings == []
    again = run(module, args, diff=True)
    assert again.result["changed"] is False and again.result["plan"] == [] and api.writes == writes
    assert again.result["diff"]["after"] == predicted


def test_a_service_that_does_otherwise_is_reported(harbor, warnings, monkeypatch):
    """The read-back state is returned, not the prediction, and the difference is a warning."""
    route = harbor.route

    def keeps_private(method, path, query, data):
        if method == "POST":
            data = dict(data, metadata={"public": "false"})
        return route(method, path, query, data)
    monkeypatch.setattr(harbor, "route", keeps_private)
    out = run(harbor_project, dict(HARBOR, name="lab", public=True))
    assert out.result["project"]["public"] is False
    assert len(warnings) == 1 and "'public': False" in warnings[0] and "'public': True" in warnings[0]


def test_harbor_refuses_a_token_before_any_call(harbor):
    out = run(harbor_project, dict(url=HARBOR["url"], token="t0k", name="lab"))
    assert out.kind == "fail" and "Harbor's API takes only basic authentication" in out.result["msg"]
    assert harbor.requests == []


def test_ca_path_reaches_the_transport(gitea, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    gitea.add_repo("gitea_admin", "demo-app")
    run(gitea_repo, dict(GITEA, owner="gitea_admin", name="demo-app", description="x", ca_path=str(ca)))
    assert len(gitea.ca_paths) == 3 and set(gitea.ca_paths) == {str(ca)}  # read, update, read back
    out = run(gitea_repo, dict(GITEA, owner="gitea_admin", name="demo-app", ca_path=str(tmp_path / "none.pem")))
    assert out.kind == "fail" and "is not a file" in out.result["msg"] and len(gitea.ca_paths) == 3


# --- gitea_user ------------------------------------------------------------------------------------------------------

JENKINS = dict(GITEA_BASIC, login="jenkins", email="jenkins@ci.example", user_password="jenkins-pw-1", admin=False,
               restricted=True, visibility="private")


def test_user_created_restricted_then_left_alone(gitea):
    out = run(gitea_user, JENKINS, diff=True)
    assert out.kind == "exit" and out.result["changed"] is True
    assert gitea.writes == [("POST", "/api/v1/admin/users")]
    assert gitea.last_write[2] == {"username": "jenkins", "email": "jenkins@ci.example", "password": "jenkins-pw-1",
                                   "must_change_password": False, "restricted": True, "visibility": "private"}
    assert gitea.users["jenkins"]["restricted"] is True and gitea.users["jenkins"]["is_admin"] is False
    assert "jenkins-pw-1" not in repr(out.result)  # not in the diff, the plan or the user
    again = run(gitea_user, JENKINS)
    assert again.result["changed"] is False and len(gitea.writes) == 1
    # on_create: the password is never probed nor set again
    assert not any(path == "/api/v1/user" for _m, path, _b in gitea.requests)


def test_user_check_mode_writes_nothing(gitea):
    out = run(gitea_user, JENKINS, check=True, diff=True)
    assert out.result["changed"] is True and out.result["plan"] == [["create", None]]
    assert out.result["diff"]["after"] == {"login": "jenkins", "email": "jenkins@ci.example", "admin": False,
                                           "restricted": True, "visibility": "private"}
    assert gitea.writes == [] and gitea.users == {}


@pytest.mark.parametrize("check", [False, True])
def test_user_password_always_set_only_when_it_does_not_log_in(gitea, check):
    gitea.add_user("jenkins", "jenkins@ci.example", "old-pw", restricted=True, visibility="private")
    args = dict(JENKINS, update_password="always")
    out = run(gitea_user, args, check=check, diff=True)
    assert out.result["changed"] is True and out.result["plan"] == [["password", None]]
    assert "jenkins-pw-1" not in repr(out.result)
    if check:
        assert gitea.writes == [] and gitea.users["jenkins"]["password"] == "old-pw"
        return
    assert gitea.writes == [("PATCH", "/api/v1/admin/users/jenkins")]
    assert gitea.users["jenkins"]["password"] == "jenkins-pw-1"
    again = run(gitea_user, args)  # the password logs in now: nothing to do
    assert again.result["changed"] is False and len(gitea.writes) == 1


def test_user_absent(gitea):
    gitea.add_user("old-bot", "bot@ci", "pw")
    assert run(gitea_user, dict(GITEA, login="old-bot", state="absent"), check=True).result["changed"] is True
    assert "old-bot" in gitea.users and gitea.writes == []
    assert run(gitea_user, dict(GITEA, login="old-bot", state="absent")).result["changed"] is True
    assert "old-bot" not in gitea.users
    assert run(gitea_user, dict(GITEA, login="old-bot", state="absent")).result["changed"] is False


@pytest.mark.parametrize("change,words", [
    ({"email": None}, "needs email to create it"),
    ({"user_password": None}, "set user_password"),
    ({"email": "jenkins"}, "is not an e-mail address"),
    ({"login": "jen kins"}, "login 'jen kins' is not a Gitea name"),
    ({"visibility": "secret"}, "visibility"),
    ({"admin": "maybe"}, "admin"),
    ({"username": None, "password": None}, "one of the following is required: token, username"),
    ({"url": "file:///etc/passwd"}, "only http:// and https://"),
])
def test_user_bad_input_fails_once_and_writes_nothing(gitea, change, words):
    args = {k: v for k, v in dict(JENKINS, **change).items() if v is not None}
    out = run(gitea_user, args)
    assert out.kind == "fail" and words in out.result["msg"], out.result
    assert gitea.writes == [] and "jenkins-pw-1" not in repr(out.result)


def test_user_api_error_is_named(gitea):
    gitea.fail_with = (403, {"message": "token does not have at least one of required scope(s): [write:admin]"})
    out = run(gitea_user, dict(GITEA, login="jenkins", email="j@ci.example", user_password="pw"))
    assert out.kind == "fail" and out.result["status"] == 403
    assert out.result["msg"].startswith("Gitea user jenkins at http://gitea.example:30300: GET")
    assert "write:admin" in out.result["msg"]


# --- gitea_collaborator ------------------------------------------------------------------------------------------------

COLLAB = dict(GITEA_BASIC, owner="gitea_admin", repo="demo-app", user="jenkins")
COLLAB_PATH = "/api/v1/repos/gitea_admin/demo-app/collaborators/jenkins"


def test_collaborator_added_updated_removed(gitea):
    _gitea_repo(gitea, None)
    out = run(gitea_collaborator, dict(COLLAB, permission="read"), diff=True)
    assert out.result["changed"] is True and gitea.writes == [("PUT", COLLAB_PATH)]
    assert gitea.last_write[2] == {"permission": "read"}
    assert out.result["collaborator"] == {"user": "jenkins", "permission": "read"} and out.result["access"] == "read"
    assert out.result["diff"]["before"] == {}
    assert run(gitea_collaborator, dict(COLLAB, permission="read")).result["changed"] is False
    assert len(gitea.writes) == 1
    out = run(gitea_collaborator, dict(COLLAB, permission="write"), diff=True)
    assert out.result["plan"] == [["update", "write"]] and gitea.collaborators[("gitea_admin", "demo-app")] == {
        "jenkins": "write"}
    check = run(gitea_collaborator, dict(COLLAB, state="absent"), check=True, diff=True)
    assert check.result["changed"] is True and len(gitea.writes) == 2 and check.result["diff"]["after"] == {}
    out = run(gitea_collaborator, dict(COLLAB, state="absent"))
    assert gitea.writes[-1] == ("DELETE", COLLAB_PATH) and out.result["collaborator"] is None
    assert out.result["access"] == "none"
    assert run(gitea_collaborator, dict(COLLAB, state="absent")).result["changed"] is False


def test_collaborator_access_from_a_team_is_reported(gitea):
    """Not a collaborator, but a team gives write: nothing to remove, and the access says so (a play asserts it)."""
    _gitea_repo(gitea, None)
    gitea.team_access[("gitea_admin", "demo-app", "jenkins")] = "write"
    out = run(gitea_collaborator, dict(COLLAB, state="absent"))
    assert out.result["changed"] is False and out.result["access"] == "write" and gitea.writes == []


def test_collaborator_missing_repository_or_user(gitea, warnings):
    out = run(gitea_collaborator, dict(COLLAB, repo="nope"))
    assert out.kind == "fail" and "the repository gitea_admin/nope and the user jenkins does not exist" in out.result[
        "msg"] and gitea.writes == []
    # check mode before the repository and user exist (an earlier task creates them): a planned add, with a warning
    check = run(gitea_collaborator, dict(COLLAB, repo="nope"), check=True)
    assert check.kind == "exit" and check.result["plan"] == [["add", "read"]] and len(warnings) == 1
    assert gitea.writes == []
    assert run(gitea_collaborator, dict(COLLAB, repo="nope", state="absent")).result["changed"] is False


@pytest.mark.parametrize("change,words", [
    ({"permission": "owner"}, "permission"),
    ({"user": ""}, "user '' is not a Gitea name"),
    ({"repo": "a/b"}, "repo 'a/b' is not a Gitea name"),
    ({"owner": None}, "owner"),
    ({"timeout": 0}, "timeout 0 is out of range"),
])
def test_collaborator_bad_input_fails_once_and_writes_nothing(gitea, change, words):
    args = {k: v for k, v in dict(COLLAB, **change).items() if v is not None}
    out = run(gitea_collaborator, args)
    assert out.kind == "fail" and words in out.result["msg"], out.result
    assert gitea.requests == []
