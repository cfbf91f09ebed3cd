"""In-memory Harbor v2.0 and Gitea v1 APIs for the module tests: the paths, status codes and JSON shapes of the
real services (Harbor 2.11, Gitea 1.22), as a transport for module_utils.rest.RestClient."""

import itertools
import json
from urllib.parse import parse_qs, urlparse


class FakeApi:
    def __init__(self):
        self.requests = []  # (method, path, body)
        self.fail_with = None  # (status, body) returned for every request when set

    @property
    def writes(self):
        return [(m, p) for m, p, _b in self.requests if m != "GET"]

    def __call__(self, method, url, headers, body, timeout, validate_certs):
        u = urlparse(url)
        data = json.loads(body) if body else None
        self.requests.append((method, u.path, data))
        self.last_headers = headers
        if self.fail_with:
            status, payload = self.fail_with
            return status, {}, json.dumps(payload)
        status, payload = self.route(method, u.path, {k: v[0] for k, v in parse_qs(u.query).items()}, data)
        return status, {}, "" if payload is None else json.dumps(payload)


class FakeHarbor(FakeApi):
    def __init__(self):
        super().__init__()
        self.ids = itertools.count(1)
        self.projects, self.quotas, self.robots = {}, {}, {}

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
            self.add_project(data["project_name"], data["metadata"]["public"] == "true", data.get("storage_limit", -1))
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
            return 201, {"id": rid, "name": self.robots[rid]["name"], "secret": "s3cr3t-robot-token",
                         "creation_time": "2026-11-23T10:00:00.000Z", "expires_at": -1}
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

    def add_repo(self, owner, name, description="", private=False, default_branch="main"):
        self.repos[(owner, name)] = {
            "id": len(self.repos) + 1, "owner": {"login": owner}, "name": name, "full_name": "%s/%s" % (owner, name),
            "description": description, "private": private, "default_branch": default_branch, "empty": False,
            "clone_url": "http://gitea.example:30300/%s/%s.git" % (owner, name)}

    def route(self, method, path, query, data):
        parts = path.split("/")[3:]  # after /api/v1
        if parts == ["user"]:
            return 200, {"id": 1, "login": self.login, "is_admin": True}
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
