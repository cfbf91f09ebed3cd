"""A small in-memory Kubernetes API over HTTP for role tests that need a cluster to talk to (no binary here runs one).

It serves what kubernetes.core's dynamic client asks for: /version, legacy discovery (/api, /apis and the resource
lists of core v1 and nvidia.com/v1), and GET/POST/PATCH/DELETE of objects by path, with dry runs (?dryRun=All)
answered without storing anything. Every request is recorded, so a test can assert that check mode wrote nothing.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

CORE = [("pods", "Pod", True), ("pods/log", "Pod", True), ("namespaces", "Namespace", False),
        ("nodes", "Node", False), ("configmaps", "ConfigMap", True)]
NVIDIA = [("clusterpolicies", "ClusterPolicy", False)]
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def _resources(group_version, resources):
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": [{"name": n, "singularName": "", "namespaced": ns, "kind": k,
                           "verbs": ["get"] if "/" in n else VERBS} for n, k, ns in resources]}


class FakeKubeApi:
    def __init__(self):
        self.objects = {}  # path -> object
        self.logs = {}  # pod path -> text
        self.requests = []  # (method, path, query)
        self.on_create = None  # called with (path, object) after a real (not dry-run) create, e.g. to set a status
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    @property
    def writes(self):
        """Requests that changed (or would have changed) something, dry runs excluded."""
        return [(m, p) for m, p, q in self.requests if m != "GET" and q.get("dryRun") != ["All"]]

    def kubeconfig(self, path):
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
        return path

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body, content_type="application/json"):
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _not_found(self, path):
                self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                                 "code": 404, "message": "%s not found" % path})

            def _route(self, method):
                u = urlparse(self.path)
                query = parse_qs(u.query)
                path = u.path.rstrip("/")
                api.requests.append((method, path, query))
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null") if length else None
                if method == "GET":
                    static = {"/version": {"major": "1", "minor": "31", "gitVersion": "v1.31.4"},
                              "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
                              "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                                  {"name": "nvidia.com", "versions": [{"groupVersion": "nvidia.com/v1", "version": "v1"}],
                                   "preferredVersion": {"groupVersion": "nvidia.com/v1", "version": "v1"}}]},
                              "/api/v1": _resources("v1", CORE),
                              "/apis/nvidia.com/v1": _resources("nvidia.com/v1", NVIDIA)}
                    if path in static:
                        return self._send(200, static[path])
                    if path.endswith("/log") and path[:-4] in api.logs:
                        return self._send(200, api.logs[path[:-4]], "text/plain")
                    if path in api.objects:
                        return self._send(200, api.objects[path])
                    return self._not_found(path)
                dry = query.get("dryRun") == ["All"]
                if method == "POST":
                    name = body["metadata"]["name"]
                    obj = dict(body, metadata=dict(body["metadata"], uid="uid-" + name, resourceVersion="1"))
                    if not dry:
                        api.objects[path + "/" + name] = obj
                        if api.on_create:
                            api.on_create(path + "/" + name, obj)
                    return self._send(201, obj)
                if path not in api.objects:
                    return self._not_found(path)
                if method == "DELETE":
                    obj = api.objects[path] if dry else api.objects.pop(path)
                    return self._send(200, obj)
                return self._send(405, {"kind": "Status", "code": 405, "message": "not supported by the fake"})

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

            def do_DELETE(self):
                self._route("DELETE")

            def do_PATCH(self):
                self._route("PATCH")

            def do_PUT(self):
                self._route("PUT")

        return Handler
