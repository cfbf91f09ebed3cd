"""Jenkins confined in Gitea (issue #16): Jenkins gets its own restricted Gitea user, never the site admin, with read on
the code repository, write on the deploy repository and nothing on the admin-owned GitOps repository that ArgoCD's App
of Apps reads. Runs the roles' own task files (gitea: jenkins_user, ci_pipeline: jenkins_access, which call the
gitea_user and gitea_collaborator modules) with ansible-playbook, inside the module_defaults block the roles' main.yml
gives them, against the in-memory Gitea v1 API of the module tests (fake_services.FakeGitea) served over HTTP.
"""

import base64
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from ansible_collections.aiinfra.cluster.tests.unit.plugins.modules.fake_services import FakeGitea

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ADMIN, ADMIN_PASSWORD = "gitea_admin", "admin-pw"
ADMIN_AUTH = "Basic " + base64.b64encode(("%s:%s" % (ADMIN, ADMIN_PASSWORD)).encode()).decode()
REPOS = ("demo-app", "demo-deploy", "gitops")

pytestmark = pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, ".collections")), reason="run scripts/setup.sh first")


class Served:
    """FakeGitea over HTTP: every request recorded; the admin's basic auth required, except on GET /api/v1/user,
    where FakeGitea checks a user's own password (gitea_user's password check)."""

    def __init__(self):
        self.api = FakeGitea(login=ADMIN)
        for name in REPOS:
            self.api.add_repo(ADMIN, name, private=True)
        api = self.api

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                u = urlparse(self.path)
                api.requests.append((self.command, u.path, body))
                api.auth = self.headers.get("Authorization") or ""
                if api.auth != ADMIN_AUTH and u.path != "/api/v1/user":
                    status, payload = 401, {"message": "unauthorized"}
                else:
                    status, payload = api.route(self.command, u.path, {k: v[0] for k, v in parse_qs(u.query).items()},
                                                body)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    url = property(lambda self: "http://127.0.0.1:%d" % self._server.server_address[1])
    writes = property(lambda self: self.api.writes)

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def gitea():
    served = Served()
    yield served
    served.close()


def _run(tmp_path, gitea, role, tasks_from, check=False):
    common = {"ansible_python_interpreter": sys.executable, "ansible_connection": "local",
              "k8s_gitea_url": gitea.url, "k8s_gitea_admin_username": ADMIN, "k8s_gitea_jenkins_username": "jenkins",
              "k8s_credentials_dir": str(tmp_path), "k8s_ci_deploy_repo": "demo-deploy", "k8s_gitops_repo": "gitops",
              "k8s_gitea_jenkins_token_file": str(tmp_path / "jt"), "k8s_gitea_argocd_token_file": str(tmp_path / "at"),
              "gitea_admin_password": {"secret": ADMIN_PASSWORD}, "gitea_jenkins_password": {"secret": "jenkins-pw"},
              "ci_pipeline_gitea_admin": {"secret": ADMIN_PASSWORD}}
    # as in the roles' tasks/main.yml: URL, admin credentials (and, in ci_pipeline, the owner) once for the group
    defaults = {"url": gitea.url, "username": ADMIN, "password": ADMIN_PASSWORD}
    if role == "ci_pipeline":
        defaults["owner"] = ADMIN
    play = [{"name": "Jenkins in Gitea", "hosts": "localhost", "gather_facts": False, "vars": common,
             "module_defaults": {"group/aiinfra.cluster.gitea": defaults},
             "tasks": [{"name": "Run", "ansible.builtin.include_role": {"name": "aiinfra.cluster." + role,
                                                                        "tasks_from": tasks_from}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), HOME=str(tmp_path))
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                          str(tmp_path / "play.yml")] + (["--check"] if check else []),
                         cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    changed = re.search(r"changed=(\d+)", run.stdout)
    return run, int(changed.group(1)) if changed else None


def _jenkins(gitea, **fields):
    gitea.api.add_user("jenkins", "jenkins@ci.example", "jenkins-pw", **dict({"restricted": True,
                                                                              "visibility": "private"}, **fields))


def test_jenkins_user_is_created_restricted_and_not_admin_then_left_alone(tmp_path, gitea):
    run, changed = _run(tmp_path, gitea, "gitea", "jenkins_user")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert changed == 1
    created = [b for m, p, b in gitea.api.requests if (m, p) == ("POST", "/api/v1/admin/users")]
    assert len(created) == 1 and created[0]["username"] == "jenkins" and created[0]["restricted"] is True
    assert created[0]["must_change_password"] is False and "admin" not in created[0]
    user = gitea.api.users["jenkins"]
    assert user["is_admin"] is False and user["restricted"] is True and user["visibility"] == "private"
    assert "jenkins-pw" not in run.stdout  # the password is never logged
    before = len(gitea.writes)
    again, changed = _run(tmp_path, gitea, "gitea", "jenkins_user")
    assert again.returncode == 0 and changed == 0 and len(gitea.writes) == before  # idempotent


def test_check_mode_creates_no_user(tmp_path, gitea):
    run, _changed = _run(tmp_path, gitea, "gitea", "jenkins_user", check=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert gitea.writes == [] and "jenkins" not in gitea.api.users


@pytest.mark.parametrize("fields", [{"admin": True, "restricted": False}, {"restricted": False}],
                         ids=["site-admin", "unrestricted"])
def test_an_existing_wide_jenkins_user_is_narrowed(tmp_path, gitea, fields):
    _jenkins(gitea, **fields)
    run, changed = _run(tmp_path, gitea, "gitea", "jenkins_user")
    assert run.returncode == 0, run.stdout[-3000:]
    assert changed == 1 and gitea.writes == [("PATCH", "/api/v1/admin/users/jenkins")]
    assert gitea.api.users["jenkins"]["is_admin"] is False and gitea.api.users["jenkins"]["restricted"] is True


def test_a_lost_password_is_set_again(tmp_path, gitea):
    _jenkins(gitea)
    gitea.api.users["jenkins"]["password"] = "something-else"
    run, changed = _run(tmp_path, gitea, "gitea", "jenkins_user")
    assert run.returncode == 0 and changed == 1, run.stdout[-3000:]
    assert gitea.api.users["jenkins"]["password"] == "jenkins-pw" and "jenkins-pw" not in run.stdout


def test_jenkins_reads_the_code_writes_the_deploy_repository_and_nothing_else(tmp_path, gitea):
    _jenkins(gitea)
    run, changed = _run(tmp_path, gitea, "ci_pipeline", "jenkins_access")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert changed == 1  # one task, two grants (the PUTs below)
    assert {name: gitea.api.collaborators.get((ADMIN, name), {}).get("jenkins", "none") for name in REPOS} == {
        "demo-app": "read", "demo-deploy": "write", "gitops": "none"}
    again, changed = _run(tmp_path, gitea, "ci_pipeline", "jenkins_access")
    assert again.returncode == 0 and changed == 0
    assert gitea.writes == [("PUT", "/api/v1/repos/gitea_admin/demo-app/collaborators/jenkins"),
                            ("PUT", "/api/v1/repos/gitea_admin/demo-deploy/collaborators/jenkins")]


def test_a_wider_grant_is_narrowed(tmp_path, gitea):
    _jenkins(gitea)
    gitea.api.collaborators[(ADMIN, "demo-app")] = {"jenkins": "admin"}
    run, _changed = _run(tmp_path, gitea, "ci_pipeline", "jenkins_access")
    assert run.returncode == 0, run.stdout[-3000:]
    assert gitea.api.collaborators[(ADMIN, "demo-app")]["jenkins"] == "read"


def test_a_collaborator_entry_on_the_gitops_repository_is_removed(tmp_path, gitea):
    _jenkins(gitea)
    gitea.api.collaborators[(ADMIN, "gitops")] = {"jenkins": "write"}
    run, _changed = _run(tmp_path, gitea, "ci_pipeline", "jenkins_access")
    assert run.returncode == 0, run.stdout[-3000:]
    assert gitea.api.collaborators[(ADMIN, "gitops")] == {}
    assert ("DELETE", "/api/v1/repos/gitea_admin/gitops/collaborators/jenkins") in gitea.writes


def test_write_access_to_the_gitops_repository_through_a_team_fails(tmp_path, gitea):
    _jenkins(gitea)
    gitea.api.team_access[(ADMIN, "gitops", "jenkins")] = "write"
    run, _changed = _run(tmp_path, gitea, "ci_pipeline", "jenkins_access")
    assert run.returncode != 0
    assert "Jenkins' Gitea user jenkins may write to the admin-owned GitOps repository gitops" in run.stdout


def test_check_mode_grants_nothing(tmp_path, gitea):
    _jenkins(gitea)
    run, _changed = _run(tmp_path, gitea, "ci_pipeline", "jenkins_access", check=True)
    assert run.returncode == 0, run.stdout[-3000:]
    assert gitea.writes == []
