"""The REST client layer over real HTTP: a server started by the test (Python's http.server) answers with the
shapes of Harbor's API; the client's auth header, JSON bodies, 404 handling, error messages (status, URL, body)
and an unreachable server are checked, and harbor_project runs end to end through the real transport.

harbor_robot runs as Ansible runs it (its own process, moduleproc) against the same server: the robot is created,
writing its secret fails for real (the process may write no file bytes: RLIMIT_FSIZE 0, as on a full disk; Python
ignores SIGXFSZ, so the write fails with EFBIG), the module fails clearly, and the next run, with the limit gone,
regenerates the secret through Harbor's PATCH /robots/{id} and writes it; the third run changes nothing.

gitea_user and gitea_collaborator run the same way against the Gitea shapes: the user is created restricted, its
password is checked by logging in as the user over HTTP (so a second run changes nothing) and appears nowhere in
what the module prints, and the collaborator is added once; check mode makes no write. The two role task files that
use them (roles/gitea/tasks/jenkins_user.yml, roles/ci_pipeline/tasks/jenkins_access.yml) run through ansible-playbook
against the same server: --check writes nothing, the first run makes the user and its access, the second changes
nothing, and write access to the GitOps repository through a team fails the play."""

import base64
import json
import os
import shutil
import socket
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import ApiError, RestClient
from ansible_collections.aiinfra.cluster.plugins.modules import harbor_project
from ansible_collections.aiinfra.cluster.tests.unit.plugins.modules.fake_services import FakeGitea, FakeHarbor
from ansible_collections.aiinfra.cluster.tests.unit.plugins.modules.harness import ModuleExit
from ansible_env import ansible_playbook, needs_collection
from moduleproc import run_module

AUTH = "Basic " + base64.b64encode(b"admin:s3cret").decode()


class Handler(BaseHTTPRequestHandler):
    api = None
    seen = []
    open_paths = ()  # paths the service checks the credentials of itself (Gitea's GET /api/v1/user)

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        Handler.seen.append((self.command, self.path, dict(self.headers), raw))
        if self.path == "/boom":
            return self.reply(500, "text/plain", b"upstream database is down")
        if self.path == "/html":
            return self.reply(200, "text/html", b"<html>login page</html>")
        Handler.api.auth = self.headers.get("Authorization") or ""
        if Handler.api.auth != AUTH and urlparse(self.path).path not in Handler.open_paths:
            return self.reply(401, "application/json",
                              json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "unauthorized"}]}).encode())
        u = urlparse(self.path)
        status, payload = Handler.api.route(self.command, u.path, {k: v[0] for k, v in parse_qs(u.query).items()},
                                            json.loads(raw) if raw else None)
        self.reply(status, "application/json", b"" if payload is None else json.dumps(payload).encode())

    def reply(self, status, ctype, body):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


def serve(api, open_paths=()):
    """``api`` over HTTP on a free port: yields its base URL, then stops."""
    Handler.api, Handler.seen, Handler.open_paths = api, [], open_paths
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server():
    yield from serve(FakeHarbor())


def test_client_over_http(server):
    client = RestClient(server, "admin", "s3cret")
    assert client.get("/api/v2.0/projects", {"name": "lab"}) == []
    client.request("POST", "/api/v2.0/projects", {"project_name": "lab", "metadata": {"public": "false"}})
    method, path, headers, raw = Handler.seen[-1]
    assert (method, path) == ("POST", "/api/v2.0/projects")
    assert headers["Authorization"] == AUTH and headers["Content-Type"] == "application/json"
    assert json.loads(raw) == {"project_name": "lab", "metadata": {"public": "false"}}
    assert [p["name"] for p in client.get("/api/v2.0/projects", {"name": "lab"})] == ["lab"]
    assert client.get("/api/v2.0/projects/999", missing_ok=True) is None


def test_errors_name_status_url_and_body(server):
    with pytest.raises(ApiError) as exc:
        RestClient(server, "admin", "wrong").get("/api/v2.0/projects")
    assert exc.value.status == 401
    assert str(exc.value).startswith("GET %s/api/v2.0/projects failed: 401" % server)
    assert "UNAUTHORIZED" in str(exc.value)
    with pytest.raises(ApiError) as exc:
        RestClient(server).get("/boom")
    assert exc.value.status == 500 and str(exc.value).endswith(": upstream database is down")
    with pytest.raises(ApiError) as exc:
        RestClient(server).get("/html")
    assert "(not JSON)" in str(exc.value) and "login page" in str(exc.value)


def test_unreachable_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    with pytest.raises(ApiError) as exc:
        RestClient("http://127.0.0.1:%d" % port, timeout=3).get("/api/v2.0/projects")
    assert exc.value.status is None and "failed: no response" in str(exc.value)


def test_harbor_project_end_to_end(server, monkeypatch):
    from ansible.module_utils import basic
    from ansible_collections.aiinfra.cluster.tests.unit.plugins.modules.harness import exit_json, fail_json
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def run(**args):
        with patch_module_args(dict({"url": server, "username": "admin", "password": "s3cret", "name": "lab"}, **args)):
            with pytest.raises(ModuleExit) as exc:
                harbor_project.main()
        return exc.value

    first = run(public=True, storage_limit="5Gi")
    assert first.kind == "exit" and first.result["changed"] is True
    second = run(public=True, storage_limit="5Gi")
    assert second.result["changed"] is False
    writes = [(m, p) for m, p, _h, _b in Handler.seen if m != "GET"]
    assert writes == [("POST", "/api/v2.0/projects")]
    wrong = run(public=True, password="nope")
    assert wrong.kind == "fail" and wrong.result["status"] == 401


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")
def test_harbor_robot_secret_write_failure_recovered_as_ansible_runs_it(server, tmp_path):
    Handler.api.add_project("lab")
    dest = tmp_path / "credentials" / "harbor-robot-lab-ci"
    dest.parent.mkdir()
    args = {"url": server, "username": "admin", "password": "s3cret", "project": "lab", "name": "ci",
            "actions": ["push", "pull"], "secret_dest": str(dest)}

    # dest is a directory: refused before Harbor is asked for anything
    rc, out = run_module("harbor_robot", dict(args, secret_dest=str(dest.parent)))
    assert rc == 1 and out["failed"] is True and "exception" not in out
    assert "secret_dest %s is a directory" % dest.parent in out["msg"] and "Nothing was changed" in out["msg"]
    assert [m for m, _p, _h, _b in Handler.seen if m != "GET"] == [] and Handler.api.robots == {}

    # the robot is created, then the secret cannot be written: one clear failure, no traceback, no stray file
    rc, out = run_module("harbor_robot", args, prefix=("prlimit", "--fsize=0"))
    assert rc == 1 and out["failed"] is True and "exception" not in out, out
    assert "the robot's new secret was made in Harbor but could not write secret_dest %s" % dest in out["msg"]
    assert "File too large" in out["msg"] and "run again" in out["msg"]
    assert not dest.exists() and os.listdir(str(dest.parent)) == []
    (rid, robot), = Handler.api.robots.items()
    assert robot["name"] == "robot$lab+ci"

    # fixed: the robot is kept, its secret regenerated through the API and written (0600)
    rc, out = run_module("harbor_robot", dict(args, _ansible_check_mode=True))
    assert rc == 0 and out["changed"] is True and out["plan"] == [["refresh", None]]
    assert not dest.exists()
    rc, out = run_module("harbor_robot", args)
    assert rc == 0 and out["changed"] is True and out["plan"] == [["refresh", None]], out
    assert dest.read_text() == Handler.api.secrets[rid] + "\n" and stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert Handler.api.secrets[rid] not in json.dumps(out)
    writes = [(m, p) for m, p, _h, _b in Handler.seen if m != "GET"]
    assert writes == [("POST", "/api/v2.0/robots"), ("PATCH", "/api/v2.0/robots/%d" % rid)]

    # third run: nothing to do
    rc, out = run_module("harbor_robot", args)
    assert rc == 0 and out["changed"] is False and out["plan"] == []
    assert len([m for m, _p, _h, _b in Handler.seen if m != "GET"]) == 2


@pytest.fixture
def gitea_server():
    yield from serve(FakeGitea(login="admin"), open_paths=("/api/v1/user",))


def test_gitea_user_and_collaborator_as_ansible_runs_them(gitea_server):
    admin = {"url": gitea_server, "username": "admin", "password": "s3cret"}
    user = dict(admin, login="jenkins", email="jenkins@ci.example", user_password="Jenkins-Pw-42",
                update_password="always", admin=False, restricted=True, visibility="private")
    rc, out = run_module("gitea_user", dict(user, _ansible_check_mode=True, _ansible_diff=True))
    assert rc == 0 and out["changed"] is True and Handler.api.users == {}
    predicted = out["diff"]["after"]
    rc, out = run_module("gitea_user", dict(user, _ansible_diff=True))
    assert rc == 0 and out["changed"] is True and out["user"] == predicted, out
    assert Handler.api.users["jenkins"]["restricted"] is True and Handler.api.users["jenkins"]["is_admin"] is False
    rc, again = run_module("gitea_user", user)
    assert rc == 0 and again["changed"] is False, again  # the password logs in over HTTP: nothing to set
    assert "Jenkins-Pw-42" not in json.dumps(out) + json.dumps(again)
    logins = [h.get("Authorization") for m, p, h, _b in Handler.seen if p == "/api/v1/user"]
    assert logins == ["Basic " + base64.b64encode(b"jenkins:Jenkins-Pw-42").decode()]

    Handler.api.add_repo("admin", "demo-deploy", private=True)
    collab = dict(admin, owner="admin", repo="demo-deploy", user="jenkins", permission="write")
    rc, out = run_module("gitea_collaborator", dict(collab, _ansible_check_mode=True))
    assert rc == 0 and out["changed"] is True and Handler.api.collaborators.get(("admin", "demo-deploy"), {}) == {}
    rc, out = run_module("gitea_collaborator", collab)
    assert rc == 0 and out["collaborator"] == {"user": "jenkins", "permission": "write"} and out["access"] == "write"
    rc, out = run_module("gitea_collaborator", collab)
    assert rc == 0 and out["changed"] is False
    writes = [(m, p) for m, p, _h, _b in Handler.seen if m != "GET"]
    assert writes == [("POST", "/api/v1/admin/users"),
                      ("PUT", "/api/v1/repos/admin/demo-deploy/collaborators/jenkins")]


PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
    k8s_gitea_url: "{url}"
    k8s_gitea_admin_username: admin
    k8s_gitea_jenkins_username: jenkins
    k8s_gitops_repo: gitops
    gitea_jenkins_email: jenkins@ci.example
    gitea_jenkins_password: {{secret: Jenkins-Pw-42}}
    ci_pipeline_repos:
      app: {{name: demo-app, jenkins: read}}
      deploy: {{name: demo-deploy, jenkins: write}}
      gitops: {{name: gitops, jenkins: none}}
  module_defaults:
    group/aiinfra.cluster.gitea:
      url: "{{{{ k8s_gitea_url }}}}"
      username: admin
      password: s3cret
  tasks:
    - name: The user
      ansible.builtin.import_tasks: {root}/roles/gitea/tasks/jenkins_user.yml
    - name: Its access
      module_defaults:
        group/aiinfra.cluster.gitea:
          url: "{{{{ k8s_gitea_url }}}}"
          username: admin
          password: s3cret
          owner: admin
      block:
        - name: Collaborators
          ansible.builtin.import_tasks: {root}/roles/ci_pipeline/tasks/jenkins_access.yml
"""


@needs_collection
def test_role_tasks_for_jenkins_user_and_access(gitea_server, tmp_path):
    api = Handler.api
    for name in ("demo-app", "demo-deploy", "gitops"):
        api.add_repo("admin", name, private=True)
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(url=gitea_server, root=os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))))

    def writes():
        return [(m, p) for m, p, _h, _b in Handler.seen if m != "GET"]

    check = ansible_playbook("-i", "localhost,", play, "--check", "--diff")
    assert check.returncode == 0, check.stdout + check.stderr
    assert writes() == [] and "Jenkins-Pw-42" not in check.stdout
    first = ansible_playbook("-i", "localhost,", play)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "changed=2" in first.stdout  # the user, and the loop over the repositories
    assert api.users["jenkins"]["restricted"] is True and api.users["jenkins"]["is_admin"] is False
    assert api.users["jenkins"]["visibility"] == "private"
    assert api.collaborators[("admin", "demo-app")] == {"jenkins": "read"}
    assert api.collaborators[("admin", "demo-deploy")] == {"jenkins": "write"}
    assert api.collaborators.get(("admin", "gitops"), {}) == {}
    second = ansible_playbook("-i", "localhost,", play)
    assert second.returncode == 0 and "changed=0" in second.stdout, second.stdout
    assert len(writes()) == 3

    # a team that lets Jenkins write the GitOps repository: no collaborator entry to remove, and the play fails
    api.team_access[("admin", "gitops", "jenkins")] = "write"
    third = ansible_playbook("-i", "localhost,", play)
    assert third.returncode != 0 and "may write to the admin-owned GitOps repository gitops" in third.stdout
    assert len(writes()) == 3
