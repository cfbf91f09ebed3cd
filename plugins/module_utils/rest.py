# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small JSON REST client for the platform's service APIs (Harbor, Gitea): basic or token auth, JSON in and out,
and errors that name the method, URL, status code and the body the server sent. The transport is injectable so the
API logic can be tested against recorded responses, and the real one is Ansible's open_url."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote, urlencode
from ansible.module_utils.urls import open_url

REST_SPEC = dict(
    url=dict(type="str", required=True),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    token=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="int", default=30),
)


class ApiError(Exception):
    def __init__(self, method, url, status, body, reason=""):
        self.method, self.url, self.status, self.body, self.reason = method, url, status, body, reason
        detail = body if isinstance(body, str) else json.dumps(body)
        super(ApiError, self).__init__("%s %s failed: %s %s%s" % (
            method, url, status if status is not None else "no response", reason,
            (": " + detail[:500]) if detail else ""))


def urllib_transport(method, url, headers, body, timeout, validate_certs):
    """(status, headers, text) from the server; HTTP errors come back as a status, not an exception."""
    try:
        resp = open_url(url, method=method, headers=headers, data=body, timeout=timeout,
                        validate_certs=validate_certs, follow_redirects="safe")
        return resp.getcode(), dict(resp.headers), resp.read().decode("utf-8", "replace")
    except HTTPError as exc:
        text = exc.read().decode("utf-8", "replace") if hasattr(exc, "read") else ""
        return exc.code, dict(exc.headers or {}), text
    except URLError as exc:
        raise ApiError(method, url, None, "", "(%s)" % exc.reason)


class RestClient(object):
    def __init__(self, base_url, username=None, password=None, token=None, token_scheme="Bearer",
                 timeout=30, validate_certs=True, transport=None, extra_headers=None):
        self.base = base_url.rstrip("/")
        self.headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = "%s %s" % (token_scheme, token)
        elif username is not None:
            raw = ("%s:%s" % (username, password or "")).encode("utf-8")
            self.headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        self.headers.update(extra_headers or {})
        self.timeout, self.validate_certs = timeout, validate_certs
        self.transport = transport or urllib_transport
        self.calls = []  # (method, path) of every request, for tests and for the result

    @classmethod
    def from_params(cls, params, token_scheme="Bearer"):
        """The client for a module whose options come from REST_SPEC."""
        return cls(params["url"], params["username"], params["password"], params["token"], token_scheme=token_scheme,
                   timeout=params["timeout"], validate_certs=params["validate_certs"])

    def url(self, path, query=None):
        return self.base + path + ("?" + urlencode(query) if query else "")

    def request(self, method, path, body=None, query=None, ok=(200, 201, 204), missing_ok=False):
        """The decoded JSON (or None); raises ApiError on a status outside `ok` (404 returns None with missing_ok)."""
        url = self.url(path, query)
        data = json.dumps(body).encode("utf-8") if body is not None else None
        self.calls.append((method, path))
        status, headers, text = self.transport(method, url, dict(self.headers), data, self.timeout, self.validate_certs)
        if status == 404 and missing_ok:
            return None
        if status not in ok:
            try:
                detail = json.loads(text)
            except ValueError:
                detail = text
            raise ApiError(method, url, status, detail)
        if not text.strip():
            return {"_headers": headers} if method == "POST" else None
        try:
            return json.loads(text)
        except ValueError:
            raise ApiError(method, url, status, text, "(not JSON)")

    def get(self, path, query=None, missing_ok=False):
        return self.request("GET", path, query=query, missing_ok=missing_ok)


def plan_result(name, plan, before, after, diff, **extra):
    """A module's result: changed when the plan is not empty, the object after the change under `name`, the plan,
    and before/after as the diff when asked for."""
    result = dict(extra, changed=bool(plan), plan=[list(step) for step in plan])
    result[name] = after
    if diff:
        result["diff"] = {"before": before or {}, "after": after or {}}
    return result


def write_secret(path, secret):
    """Write a secret the service shows only once to a file readable by its owner only (0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    os.chmod(path, 0o600)


def segment(value):
    """One URL path segment (names with spaces, slashes or '$')."""
    return quote(str(value), safe="")
