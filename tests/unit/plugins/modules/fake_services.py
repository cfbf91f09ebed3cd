"""In-memory Harbor v2.0 and Gitea v1 APIs for the module tests: the paths, status codes and JSON shapes of the
real services (Harbor 2.11, Gitea 1.22), as a transport for module_utils.rest.RestClient.

FakeGitea also keeps users (admin API: create, edit, delete; GET /user checks a user's basic-auth password, as the
password probe of gitea_user uses it) and repository collaborators (PUT/DELETE/GET collaborators/{user}, and the
permission endpoint, which reports access from a collaborator entry, a team, or a public repository)."""

import base64
import itertools
import json
from urllib.parse import parse_qs, urlparse


class FakeApi:
    def __init__(self):
        self.requests = []  # (method, path, body)
        self.fail_with = None  # (status, body) returned for every request when set
        self.ca_paths = []  # the ca_path every request was made with

    @property
    def last_write(self):
        """(method, path, body) of the last request that was not a GET (modules read the state back after it)."""
        return [r for r in self.requests if r[0] != "GET"][-1]

    @property
    def writes(self):
        return [(m, p) for m, p, _b in self.requests if m != "GET"]

    def __call__(self, method, url, headers, body, timeout, validate_certs, ca_path=None):
        u = urlparse(url)
        self.ca_paths.append(ca_path)
        data = json.loads(body) if body else None
        self.requests.append((method, u.path, data))
        self.last_headers = headers
        if self.fail_with:
            status, payload = self.fail_with[0], self.fail_with[1]
            return status, {}, json.dumps(payload)
        self.auth = headers.get("Authorization", "")
        status, payload = self.route(method, u.path, {k: v[0] for k, v in parse_qs(u.query).items()}, data)
        return status, {}, "" if payload is None else json.dumps(payload)


class FakeHarbor(FakeApi):
    def __init__(self):
        super().__init__()
        self.ids = itertools.count(1)
        self.projects, self.quotas, self.robots = {}, {}, {}
        self.secrets = {}  # robot id -> the secret that works now (Harbor keeps only a salted hash)
        self.refreshes = itertools.count(1)

    def add_project(self, name, public=False, storage=-1):
        pid = next(self.ids)
        self.projects[pid] = {"project_id": pid, "name": name, "owner_name": "admin", "repo_count": 0,
                              "metadata": {"public": "true" if public else "false"},
                              "creation_time": "2026-11-20T10:00:00.000Z"}
        qid = next(self.ids)
        self.quotas[qid] = {"id": qid, "ref": {"id": pid, "name": name, "owner_name": "admin"},
                            "hard": {"storage": storage}, "used": {"storage": 0}}
        return pid

    def add_robot(self, project, name, actions, description=""):
        rid = next(self.ids)
        pid = next(p for p, v in self.projects.items() if v["name"] == project)
        self.robots[rid] = {"id": rid, "name": "robot$%s+%s" % (project, name), "description": description,
                            "level": "project", "duration": -1, "disable": False, "editable": True,
                            "expires_at": -1, "creation_time": "2026-11-20T10:00:00.000Z", "project_id": pid,
                            "permissions": [{"kind": "project", "namespace": project,
                                             "access": [{"resource": "repository", "action": a} for a in actions]}]}
        return rid

    def route(self, method, path, query, data):
        parts = path.split("/")[3:]  # after /api/v2.0
        if parts == ["projects"] and method == "GET":
            return 200, [p for p in self.projects.values() if query.get("name", "") in p["name"]]
        if parts == ["projects"] and method == "POST":
            if any(p["name"] == data["project_name"] for p in self.projects.values()):
                return 409, {"errors": [{"code": "CONFLICT", "message": "The project named %s already exists"
                                         % data["project_name"]}]}
            pid = self.add_project(data["project_name"], data["metadata"]["public"] == "true",
                                   data.get("storage_limit", -1))
            self.projects[pid]["metadata"].update(data["metadata"])  # Harbor keeps every metadata key it is given
            return 201, None
        if parts[0] == "projects" and len(parts) == 2:
            pid = int(parts[1])
            if pid not in self.projects:
                return 404, {"errors": [{"code": "NOT_FOUND", "message": "project %s not found" % pid}]}
            if method == "PUT":
                self.projects[pid]["metadata"].update(data["metadata"])
                return 200, None
            if method == "DELETE":
                del self.projects[pid]
                return 200, None
        if parts == ["quotas"]:
            return 200, [q for q in self.quotas.values() if str(q["ref"]["id"]) == query["reference_id"]]
        if parts[0] == "quotas" and method == "PUT":
            self.quotas[int(parts[1])]["hard"] = data["hard"]
            return 200, None
        if parts == ["robots"] and method == "GET":
            pid = int(query["q"].split("ProjectID=")[1])
            return 200, [r for r in self.robots.values() if r["project_id"] == pid]
        if parts == ["robots"] and method == "POST":
            project = data["permissions"][0]["namespace"]
            rid = self.add_robot(project, data["name"], [a["action"] for a in data["permissions"][0]["access"]],
                                 data["description"])
            self.secrets[rid] = "s3cr3t-robot-token"
            return 201, {"id": rid, "name": self.robots[rid]["name"], "secret": self.secrets[rid],
                         "creation_time": "2026-11-23T10:00:00.000Z", "expires_at": -1}
        if parts[0] == "robots" and len(parts) == 2 and method == "PATCH":
            # RefreshSec: an empty secret makes Harbor generate one and return it; a given one is set, not returned
            rid = int(parts[1])
            if rid not in self.robots:
                return 404, {"errors": [{"code": "NOT_FOUND", "message": "robot %s not found" % rid}]}
            if (data or {}).get("secret"):
                self.secrets[rid] = data["secret"]
                return 200, {"secret": ""}
            self.secrets[rid] = "Regenerated%dSecret" % next(self.refreshes)
            return 200, {"secret": self.secrets[rid]}
        if parts[0] == "robots" and method == "PUT":
            self.robots[int(parts[1])].update(permissions=data["permissions"], description=data["description"])
            return 200, None
        if parts[0] == "robots" and method == "DELETE":
            del self.robots[int(parts[1])]
            return 200, None
        return 404, {"errors": [{"code": "NOT_FOUND", "message": "no route %s %s" % (method, path)}]}


class FakeGitea(FakeApi):
    def __init__(self, login="gitea_admin", orgs=("platform",)):
        super().__init__()
        self.login, self.orgs, self.repos = login, set(orgs), {}
        self.tokens, self.files, self.hooks = {}, {}, {}  # id -> token; (owner, repo, path) -> (text, sha); id -> hook
        self.ids = itertools.count(1)
        self.commits = 0
        self.users = {}  # login -> user record (with the password, which the API never returns)
        self.collaborators = {}  # (owner, repo) -> {login: permission}
        self.team_access = {}  # (owner, repo, login) -> permission given by a team (not a collaborator entry)

    def add_user(self, login, email, password, admin=False, restricted=False, visibility="public"):
        self.users[login] = {"id": next(self.ids), "login": login, "login_name": "", "source_id": 0,
                             "email": email, "is_admin": admin, "restricted": restricted,
                             "visibility": visibility, "password": password}

    def user_record(self, login):
        return {k: v for k, v in self.users[login].items() if k != "password"}

    def basic_user(self):
        """(login, password) of the request's basic authentication, or None."""
        if not self.auth.startswith("Basic "):
            return None
        login, _sep, password = base64.b64decode(self.auth[6:]).decode().partition(":")
        return login, password

    def add_token(self, name, scopes, secret):
        tid = next(self.ids)
        self.tokens[tid] = {"id": tid, "name": name, "sha1": secret, "token_last_eight": secret[-8:],
                            "scopes": list(scopes)}
        return tid

    def add_file(self, owner, repo, path, text):
        self.commits += 1
        self.files[(owner, repo, path)] = (text, "%040x" % (hash((path, text)) & (2 ** 160 - 1)))

    def add_hook(self, owner, repo, url, events=("push",), hook_type="gitea", active=True):
        hid = next(self.ids)
        self.hooks[hid] = {"id": hid, "repo": (owner, repo), "type": hook_type, "branch_filter": "*",
                           "config": {"content_type": "json", "url": url}, "events": list(events),
                           "authorization_header": "", "active": active,
                           "updated_at": "2026-11-23T10:00:00Z", "created_at": "2026-11-23T10:00:00Z"}
        return hid

    def add_repo(self, owner, name, description="", private=False, default_branch="main"):
        self.repos[(owner, name)] = {
            "id": len(self.repos) + 1, "owner": {"login": owner}, "name": name, "full_name": "%s/%s" % (owner, name),
            "description": description, "private": private, "default_branch": default_branch, "empty": False,
            "clone_url": "http://gitea.example:30300/%s/%s.git" % (owner, name)}

    def route(self, method, path, query, data):
        parts = path.split("/")[3:]  # after /api/v1
        if parts == ["user"]:
            basic = self.basic_user()
            if basic and basic[0] in self.users:
                if self.users[basic[0]]["password"] != basic[1]:
                    return 401, {"message": "user's password is invalid [uid: %d, name: %s]"
                                 % (self.users[basic[0]]["id"], basic[0]), "url": ""}
                return 200, self.user_record(basic[0])
            return 200, {"id": 1, "login": self.login, "is_admin": True}
        if parts[:2] == ["admin", "users"]:
            if len(parts) == 2 and method == "POST":
                if data["username"] in self.users:
                    return 422, {"message": "user already exists [name: %s]" % data["username"], "url": ""}
                if not data.get("email") or not data.get("password"):
                    return 422, {"message": "[Email]: Required", "url": ""}
                self.add_user(data["username"], data["email"], data["password"], False, data.get("restricted", False),
                              data.get("visibility", "public"))
                return 201, self.user_record(data["username"])
            login = parts[2] if len(parts) == 3 else None
            if login not in self.users:
                return 404, {"message": "user redirect does not exist [name: %s]" % login, "url": ""}
            if method == "PATCH":
                for key in ("email", "restricted", "visibility", "password"):
                    if key in data:
                        self.users[login][key] = data[key]
                if "admin" in data:
                    self.users[login]["is_admin"] = data["admin"]
                return 200, self.user_record(login)
            if method == "DELETE":
                del self.users[login]
                return 204, None
        if parts[:1] == ["users"] and len(parts) == 2 and method == "GET":
            if parts[1] not in self.users:
                return 404, {"message": "user redirect does not exist [name: %s]" % parts[1], "url": ""}
            return 200, self.user_record(parts[1])
        if parts[:1] == ["repos"] and parts[3:4] == ["collaborators"] and len(parts) >= 5:
            repo, login = (parts[1], parts[2]), parts[4]
            if repo not in self.repos:
                return 404, {"message": "The target couldn't be found.", "url": ""}
            if login not in self.users:
                return 404, {"message": "user redirect does not exist [name: %s]" % login, "url": ""}
            members = self.collaborators.setdefault(repo, {})
            if len(parts) == 6 and parts[5] == "permission" and method == "GET":
                levels = ["none", "read", "write", "admin"]
                found = [members.get(login, "none"), self.team_access.get(repo + (login,), "none"),
                         "read" if not self.repos[repo]["private"] else "none"]
                return 200, {"permission": max(found, key=levels.index), "role_name": "", "user": self.user_record(login)}
            if len(parts) == 5 and method == "GET":
                return (204, None) if login in members else (404, None)
            if len(parts) == 5 and method == "PUT":
                members[login] = (data or {}).get("permission") or "write"
                return 204, None
            if len(parts) == 5 and method == "DELETE":
                members.pop(login, None)
                return 204, None
        if parts[:1] == ["users"] and parts[2:3] == ["tokens"]:
            if len(parts) == 3 and method == "GET":
                return 200, [dict(t, sha1="") for t in self.tokens.values()]  # the secret is never listed
            if len(parts) == 3 and method == "POST":
                if any(t["name"] == data["name"] for t in self.tokens.values()):
                    return 400, {"message": "access token name has been used already", "url": "http://gitea.example/api/swagger"}
                tid = self.add_token(data["name"], data.get("scopes") or [], "%040x" % (0xabc0000 + len(self.tokens)))
                return 201, dict(self.tokens[tid])
            if len(parts) == 4 and method == "DELETE":
                del self.tokens[int(parts[3])]
                return 204, None
        if parts[:1] == ["repos"] and parts[3:4] == ["contents"]:
            key = (parts[1], parts[2], "/".join(parts[4:]))
            if (parts[1], parts[2]) not in self.repos:
                return 404, {"message": "The target couldn't be found.", "url": "http://gitea.example/api/swagger"}
            if method == "GET":
                if key not in self.files:
                    return 404, {"message": "object does not exist [id: , rel_path: %s]" % key[2],
                                 "url": "http://gitea.example/api/swagger"}
                text, sha = self.files[key]
                return 200, {"name": key[2].rsplit("/", maxsplit=1)[-1], "path": key[2], "sha": sha, "type": "file",
                             "size": len(text), "encoding": "base64",
                             "content": base64.b64encode(text.encode()).decode()}
            if method == "POST" and key in self.files:
                return 422, {"message": "repository file already exists [path: %s]" % key[2], "url": ""}
            if method in ("PUT", "DELETE") and (key not in self.files or data.get("sha") != self.files[key][1]):
                return 422, {"message": "sha does not match [given: %s]" % data.get("sha"), "url": ""}
            if method == "DELETE":
                del self.files[key]
                self.commits += 1
                return 200, {"content": None, "commit": {"sha": "c0ffee"}}
            self.add_file(key[0], key[1], key[2], base64.b64decode(data["content"]).decode())
            return (201 if method == "POST" else 200), {"content": {"path": key[2]}, "commit": {"sha": "c0ffee"}}
        if parts[:1] == ["repos"] and parts[3:4] == ["hooks"]:
            repo = (parts[1], parts[2])
            if len(parts) == 4 and method == "GET":
                return 200, [{k: v for k, v in h.items() if k != "repo"} for h in self.hooks.values()
                             if h["repo"] == repo]
            if len(parts) == 4 and method == "POST":
                hid = self.add_hook(parts[1], parts[2], data["config"]["url"], data["events"], data["type"],
                                    data["active"])
                self.hooks[hid]["config"]["content_type"] = data["config"]["content_type"]
                self.hooks[hid]["branch_filter"] = data["branch_filter"]
                self.hooks[hid]["secret_set"] = "secret" in data["config"]
                return 201, {k: v for k, v in self.hooks[hid].items() if k != "repo"}
            hid = int(parts[4])
            if method == "PATCH":
                hook = self.hooks[hid]
                hook.update({k: data[k] for k in ("events", "active", "branch_filter") if k in data})
                hook["config"].update(data.get("config") or {})
                return 200, {k: v for k, v in hook.items() if k != "repo"}
            if method == "DELETE":
                del self.hooks[hid]
                return 204, None
        if parts[0] == "repos" and len(parts) == 3:
            key = (parts[1], parts[2])
            if key not in self.repos:
                return 404, {"message": "The target couldn't be found.", "url": "http://gitea.example/api/swagger"}
            if method == "GET":
                return 200, self.repos[key]
            if method == "PATCH":
                self.repos[key].update(data)
                return 200, self.repos[key]
            if method == "DELETE":
                del self.repos[key]
                return 204, None
        if method == "POST" and (parts == ["user", "repos"] or (parts[0] == "orgs" and parts[2] == "repos")):
            owner = self.login if parts[0] == "user" else parts[1]
            if parts[0] == "orgs" and owner not in self.orgs:
                return 404, {"message": "GetOrgByName", "url": "http://gitea.example/api/swagger"}
            self.add_repo(owner, data["name"], data["description"], data["private"], data["default_branch"])
            return 201, self.repos[(owner, data["name"])]
        return 404, {"message": "no route %s %s" % (method, path)}
