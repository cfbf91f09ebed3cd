# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small JSON REST client for the platform's service APIs (Harbor, Gitea): basic or token auth, JSON in and out,
and errors that name the method, URL, status code and the body the server sent. The transport is injectable so the
API logic can be tested against recorded responses, and the real one is Ansible's open_url.

Options are checked before the first request (check_rest_params: only http/https base URLs, a timeout in range, no
empty credentials), and secrets the services show only once are written through a temporary file in the destination
directory that is renamed into place once the API call succeeded (StagedSecret).

Which authentication each service accepts for which call is one table (SERVICE_AUTH: Harbor basic only, Gitea a token
or basic, Gitea's token creation basic only), read by the modules' AnsibleModule rules (auth_module_rules) and by
the client (select_auth). A module predicts its change before making it (prediction(): before, plan, after, writes);
check mode returns the prediction, and after applying predicted_result() returns the state read back from the
service, with a warning when it differs from the prediction."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import functools
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
    ca_path=dict(type="path"),
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


def urllib_transport(method, url, headers, body, timeout, validate_certs, ca_path=None):
    """(status, headers, text) from the server; HTTP errors come back as a status, not an exception. With ca_path the
    server's certificate is verified against that CA (PEM file)."""
    try:
        resp = open_url(url, method=method, headers=headers, data=body, timeout=timeout,
                        validate_certs=validate_certs, ca_path=ca_path, follow_redirects="safe")
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
    ca_path = params.get("ca_path")
    if ca_path is not None and not os.path.isfile(ca_path):
        raise InputError("ca_path %r is not a file; give the PEM file of the CA that signed the server's certificate"
                         % (ca_path,))


# --- which authentication each service takes, for which call ---------------------------------------------------------

# service -> the name used in messages, the scheme of its token header (None: the API takes no token), the kinds of
# authentication in order of preference, and the calls that take fewer kinds than the service's others.
SERVICE_AUTH = {
    "harbor": {"title": "Harbor", "token_scheme": None, "kinds": ("basic",), "calls": {}},
    "gitea": {"title": "Gitea", "token_scheme": "token", "kinds": ("token", "basic"),
              "calls": {"create_token": {"kinds": ("basic",),
                                         "why": "Gitea creates API tokens only for basic authentication"}}},
}
KIND_WORDS = {"basic": "basic authentication (username and password)", "token": "an API token (token)"}
KIND_OPTIONS = {"basic": "username and password", "token": "token"}


def accepted_auth(service, call=None):
    """The kinds of authentication (``basic``, ``token``) ``service`` accepts for ``call``, preferred first."""
    rules = SERVICE_AUTH[service]
    return rules["calls"][call]["kinds"] if call in rules["calls"] else rules["kinds"]


def auth_module_rules(service, call=None):
    """The AnsibleModule keyword arguments that state the auth rules of ``service`` for ``call``: a password goes with
    its user, and where a token is accepted too, one of them is required (a call that takes basic authentication
    only is checked by select_auth, with a message that says why)."""
    rules = {"required_together": [("username", "password")]}
    if "token" in accepted_auth(service, call):
        rules["required_one_of"] = [("token", "username")]
    return rules


def select_auth(service, params, call=None):
    """``basic`` or ``token``: the first kind ``service`` accepts for ``call`` that the options give; InputError
    naming what to set when none is given (a token where only basic authentication is accepted, nothing at all)."""
    kinds = accepted_auth(service, call)
    given = {"token": bool(params.get("token")), "basic": params.get("username") is not None}
    for kind in kinds:
        if given[kind]:
            return kind
    rules = SERVICE_AUTH[service]
    why = rules["calls"][call]["why"] if call in rules["calls"] else "%s's API takes only %s" % (
        rules["title"], " or ".join(KIND_WORDS[k] for k in kinds))
    raise InputError("%s: set %s%s" % (why, " or ".join(KIND_OPTIONS[k] for k in kinds),
                                       " (a token is not accepted here)" if given["token"] else ""))


class RestClient(object):
    def __init__(self, base_url, username=None, password=None, token=None, token_scheme="Bearer",
                 timeout=30, validate_certs=True, transport=None, extra_headers=None, ca_path=None):
        self.base = base_url.rstrip("/")
        self.headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = "%s %s" % (token_scheme, token)
        elif username is not None:
            raw = ("%s:%s" % (username, password or "")).encode("utf-8")
            self.headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        self.headers.update(extra_headers or {})
        self.timeout, self.validate_certs = timeout, validate_certs
        self.transport = transport or functools.partial(urllib_transport, ca_path=ca_path)
        self.calls = []  # (method, path) of every request, for tests and for the result
        self.last_status = None

    @classmethod
    def from_params(cls, params, service, call=None):
        """The client for a module of ``service`` whose options come from REST_SPEC, authenticated the way
        SERVICE_AUTH says for ``call``; InputError when an option is unusable."""
        check_rest_params(params)
        kind = select_auth(service, params, call)
        token = params["token"] if kind == "token" else None
        username, password = (params["username"], params["password"]) if kind == "basic" else (None, None)
        return cls(check_http_url(params["url"]), username, password, token,
                   token_scheme=SERVICE_AUTH[service]["token_scheme"], timeout=params["timeout"],
                   validate_certs=params["validate_certs"], ca_path=params.get("ca_path"))

    def as_user(self, username, password):
        """A client for the same service and transport that logs in as another user (basic authentication)."""
        other = RestClient(self.base, username, password, timeout=self.timeout, validate_certs=self.validate_certs,
                           transport=self.transport)
        other.calls = self.calls
        return other

    def url(self, path, query=None):
        return self.base + path + ("?" + urlencode(query) if query else "")

    def request(self, method, path, body=None, query=None, ok=(200, 201, 204), missing_ok=False):
        """The decoded JSON (or None); raises ApiError on a status outside `ok` (404 returns None with missing_ok)."""
        url = self.url(path, query)
        data = json.dumps(body).encode("utf-8") if body is not None else None
        self.calls.append((method, path))
        status, headers, text = self.transport(method, url, dict(self.headers), data, self.timeout, self.validate_certs)
        self.last_status = status
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

    def exists(self, path):
        """Whether GET ``path`` answers 2xx (True) or 404 (False); ApiError otherwise."""
        self.request("GET", path, missing_ok=True)
        return self.last_status != 404

    def status_of(self, method, path):
        """The status ``method path`` answers with, whatever it is (a probe: nothing is raised for 4xx)."""
        self.request(method, path, ok=tuple(range(200, 600)))
        return self.last_status


# --- what a module predicts, and what it returns -------------------------------------------------------------------

def prediction(before, plan, after, calls):
    """What a plan will do, computed before anything is written: the state before, the plan's steps, the state
    after (what check mode returns as the diff's after) and the (method, path) of every write the plan makes."""
    return {"before": before, "plan": [tuple(step) if isinstance(step, (list, tuple)) else step for step in plan],
            "after": after, "calls": [tuple(c) for c in calls], "changed": bool(plan)}


def plan_result(name, plan, before, after, diff, **extra):
    """A module's result: changed when the plan is not empty, the object after the change under `name`, the plan,
    and before/after as the diff when asked for."""
    result = dict(extra, changed=bool(plan), plan=[list(step) for step in plan])
    result[name] = after
    if diff:
        result["diff"] = {"before": before or {}, "after": after or {}}
    return result


def predicted_result(module, name, pred, read_back=None):
    """The result of a module that made ``pred``: in check mode (or with nothing to do) the predicted after; after
    applying, the state read back from the service (``read_back()``), with a warning when it differs from the
    prediction (the service did something else than planned)."""
    after = pred["after"]
    if pred["plan"] and not module.check_mode and read_back is not None:
        after = read_back()
        if after != pred["after"]:
            module.warn("%s: the service reports %r after the change, not the predicted %r"
                        % (name, after, pred["after"]))
    return plan_result(name, pred["plan"], pred["before"], after, module._diff)


def client_or_fail(module, what, service, call=None, params=None):
    """The module's RestClient, or fail_json (nothing called) naming ``what`` and the unusable option."""
    try:
        return RestClient.from_params(params or module.params, service, call)
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
