# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small JSON REST client for the platform's service APIs (Harbor, Gitea): basic or token auth, JSON in and out,
and errors that name the method, URL, status code and the body the server sent. The transport is injectable so the
API logic can be tested against recorded responses, and the real one is Ansible's open_url.

Options are checked before the first request (check_rest_params: only http/https base URLs, a timeout in range, no
empty credentials), and secrets the services show only once are written through a temporary file in the destination
directory that is renamed into place once the API call succeeded (StagedSecret)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import socket
import tempfile

from ansible.module_utils.six.moves import http_client
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote, urlencode, urlsplit
from ansible.module_utils.urls import open_url

REST_SPEC = dict(
    url=dict(type="str", required=True),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    token=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="int", default=30),
)
MAX_TIMEOUT = 3600


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
    except (socket.timeout, OSError, http_client.HTTPException, ValueError) as exc:
        # a read that timed out, a connection reset mid-answer, a URL urllib cannot use: no usable answer
        raise ApiError(method, url, None, "", "(%s: %s)" % (type(exc).__name__, exc))


# --- option checks (before any request) -----------------------------------------------------------------------------

class InputError(ValueError):
    """An option value the module refuses before it calls or writes anything."""


def check_http_url(value, option="url", allow_query=False):
    """``value`` stripped of a trailing slash when it is an http:// or https:// URL with a host (and a port in
    range); InputError otherwise. No other scheme is accepted (file:// would read local files), and no credentials
    in the URL (they would end up in messages and logs)."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InputError("%s is empty: give the service's address, e.g. https://harbor.example:30003" % option)
    if any(ord(c) <= 32 or ord(c) == 127 for c in text):
        raise InputError("%s %r contains spaces or control characters" % (option, text))
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if "://" not in text:
        raise InputError("%s %r has no scheme: write it as http://%s or https://%s" % (option, text, text, text))
    if scheme not in ("http", "https"):
        raise InputError("%s has the scheme %s://: only http:// and https:// are allowed" % (option, scheme))
    if "@" in parts.netloc:
        raise InputError("%s carries credentials: remove them from the URL and set username and password (or "
                         "token) instead" % option)
    try:
        port = parts.port
    except ValueError:
        raise InputError("%s %r has an invalid port: use a number from 1 to 65535" % (option, text))
    if not parts.hostname:
        raise InputError("%s %r has no host name" % (option, text))
    if port == 0:
        raise InputError("%s %r has port 0: use a number from 1 to 65535" % (option, text))
    if (parts.query or parts.fragment) and not allow_query:
        raise InputError("%s %r has a query or fragment: give the base URL only" % (option, text))
    return text.rstrip("/") if not allow_query else text


def safe_url(url):
    """``url`` for messages: user and password in it (refused anyway) replaced by ***."""
    text = str(url)
    scheme, sep, rest = text.partition("://")
    host, slash, path = rest.partition("/")
    if sep and "@" in host:
        return "%s://***@%s%s%s" % (scheme, host.rpartition("@")[2], slash, path)
    return text


def check_timeout(value, option="timeout"):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TIMEOUT:
        raise InputError("%s %r is out of range: give the seconds one request may take, 1 to %d"
                         % (option, value, MAX_TIMEOUT))
    return value


def check_not_empty(params, names):
    """InputError for the first of ``names`` that is set but empty (or only spaces)."""
    for name in names:
        value = params.get(name)
        if value is None:
            continue
        if isinstance(value, str) and not value.strip():
            raise InputError("%s is empty: give a value or leave the option out" % name)
        if isinstance(value, list) and (not value or any(not str(v).strip() for v in value)):
            raise InputError("%s %r is empty or has an empty element" % (name, value))


def check_rest_params(params):
    """The REST_SPEC options a client can be built from, or InputError naming the first bad one."""
    check_http_url(params.get("url"))
    check_timeout(params.get("timeout"))
    check_not_empty(params, ("username", "password", "token"))


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
        """The client for a module whose options come from REST_SPEC; InputError when an option is unusable."""
        check_rest_params(params)
        return cls(check_http_url(params["url"]), params["username"], params["password"], params["token"],
                   token_scheme=token_scheme, timeout=params["timeout"], validate_certs=params["validate_certs"])

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


def client_or_fail(module, what, token_scheme="Bearer", params=None):
    """The module's RestClient, or fail_json (nothing called) naming ``what`` and the unusable option."""
    try:
        return RestClient.from_params(params or module.params, token_scheme=token_scheme)
    except InputError as exc:
        module.fail_json(msg="%s: %s. Nothing was changed." % (what, exc))


# --- secrets a service shows once, kept in a file -----------------------------------------------------------------

class SecretWriteError(Exception):
    """The secret exists in the service, but could not be written to its file."""


def read_secret(path, option="dest"):
    """The stripped content of the file holding a secret, or None when there is no such file; InputError when the
    path is a directory or something else that cannot hold it, or cannot be read."""
    if not os.path.lexists(path):
        return None
    if os.path.isdir(path):
        raise InputError("%s %s is a directory: give the path of a file (it is written with mode 0600)" % (option, path))
    if not os.path.isfile(path):
        raise InputError("%s %s exists and is not a regular file: give the path of a file" % (option, path))
    try:
        with open(path) as f:
            return f.read().strip()
    except (OSError, IOError, UnicodeDecodeError) as exc:
        raise InputError("%s %s cannot be read (%s): fix its permissions or give another path" % (option, path, exc))


def check_secret_dest(path, option="dest", check_mode=False):
    """InputError when a secret could not be written to ``path``: checked before the service creates it. In check
    mode a directory that does not exist yet passes (an earlier task of the same run may create it)."""
    if not isinstance(path, str) or not path.strip():
        raise InputError("%s is empty: give the path of a file" % option)
    read_secret(path, option)
    parent = os.path.dirname(os.path.abspath(path))
    if check_mode and not os.path.lexists(parent):
        return
    if not os.path.isdir(parent):
        raise InputError("%s %s: the directory %s does not exist (or is not a directory); create it first"
                         % (option, path, parent))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError("%s %s: the directory %s is not writable by this user; fix its permissions"
                         % (option, path, parent))


class StagedSecret(object):
    """A temporary file (mode 0600) next to ``path``, opened before the service is asked for a secret and renamed
    over ``path`` once the secret is written: an interrupted run leaves either the old file or the new one, and a
    directory the secret cannot be written to is found before anything is created."""

    def __init__(self, path, option="dest"):
        check_secret_dest(path, option)
        self.path, self.option = path, option
        directory, name = os.path.split(os.path.abspath(path))
        try:
            self.fd, self.tmp = tempfile.mkstemp(prefix=".%s." % name, suffix=".tmp", dir=directory)
        except (OSError, IOError) as exc:
            raise InputError("%s %s: cannot create a file in %s (%s); fix the directory or give another path"
                             % (option, path, directory, exc))

    def commit(self, secret):
        try:
            with os.fdopen(self.fd, "w") as f:
                self.fd = None
                f.write(secret + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(self.tmp, 0o600)
            os.rename(self.tmp, self.path)
            self.tmp = None
        except (OSError, IOError) as exc:
            raise SecretWriteError("could not write %s %s (%s)" % (self.option, self.path, exc))

    def discard(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.discard()
        return False


def segment(value):
    """One URL path segment (names with spaces, slashes or '$')."""
    return quote(str(value), safe="")
