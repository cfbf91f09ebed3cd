"""module_utils/rest.py: the option checks every REST module runs before its first request, the auth rules of each
service (one table), the CA file handed to open_url, the transport's errors, the result built from a prediction,
and the staged write of secrets a service shows once."""

import errno
import os
import socket
import stat

import pytest

from ansible_collections.aiinfra.cluster.plugins.module_utils import rest
from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import (
    ApiError, InputError, RestClient, SecretWriteError, StagedSecret, accepted_auth, auth_module_rules, check_http_url,
    check_not_empty, check_rest_params, check_secret_dest, check_timeout, predicted_result, prediction, read_secret,
    safe_url, select_auth)


@pytest.mark.parametrize("url,expected", [
    ("http://harbor.example:30002", "http://harbor.example:30002"),
    ("https://harbor.example/", "https://harbor.example"),
    ("  https://10.0.0.1:30003/harbor/  ", "https://10.0.0.1:30003/harbor"),
    ("HTTP://Gitea.Example", "HTTP://Gitea.Example"),
    ("http://[fd00::1]:3000", "http://[fd00::1]:3000"),
])
def test_good_urls(url, expected):
    assert check_http_url(url) == expected


@pytest.mark.parametrize("url,words", [
    ("harbor.example:30002", "has no scheme: write it as http://harbor.example:30002 or https://"),
    ("harbor.example", "has no scheme"),
    ("/api/v2.0", "has no scheme"),
    ("file:///etc/passwd", "has the scheme file://: only http:// and https:// are allowed"),
    ("FILE:///etc/passwd", "has the scheme file://"),
    ("ftp://host/", "has the scheme ftp://"),
    ("gopher://host:70/", "has the scheme gopher://"),
    ("", "url is empty"),
    ("   ", "url is empty"),
    (None, "url is empty"),
    (["http://a"], "url is empty"),
    ("http://", "has no host name"),
    ("http:///path", "has no host name"),
    ("http://host:99999", "has an invalid port"),
    ("http://host:port", "has an invalid port"),
    ("http://host:0", "has port 0"),
    ("http://user:pw@host", "carries credentials"),
    ("http://host/?a=b", "has a query or fragment"),
    ("http://host/#top", "has a query or fragment"),
    ("http://ho st/", "spaces or control characters"),
    ("http://host/\nX-Injected: 1", "spaces or control characters"),
])
def test_bad_urls(url, words):
    with pytest.raises(InputError) as exc:
        check_http_url(url)
    assert words in str(exc.value)


def test_credentials_and_file_paths_never_echoed():
    with pytest.raises(InputError) as exc:
        check_http_url("https://admin:hunter2@harbor.example")
    assert "hunter2" not in str(exc.value)
    with pytest.raises(InputError) as exc:
        check_http_url("file:///etc/shadow")
    assert "/etc/shadow" not in str(exc.value)
    assert safe_url("https://admin:hunter2@harbor.example:30003/x") == "https://***@harbor.example:30003/x"
    assert safe_url("http://harbor.example") == "http://harbor.example"


def test_webhook_urls_may_carry_a_query():
    assert check_http_url("http://jenkins:8080/generic-webhook-trigger/invoke?token=x", "hook_url",
                          allow_query=True).endswith("?token=x")
    with pytest.raises(InputError, match="hook_url has the scheme file://"):
        check_http_url("file:///etc/passwd", "hook_url", allow_query=True)


@pytest.mark.parametrize("value,ok", [(1, True), (30, True), (3600, True), (0, False), (-1, False), (3601, False),
                                      (10 ** 20, False), (True, False), ("30", False), (None, False), (1.5, False)])
def test_timeout_range(value, ok):
    if ok:
        assert check_timeout(value) == value
    else:
        with pytest.raises(InputError, match="out of range: give the seconds one request may take, 1 to 3600"):
            check_timeout(value)


@pytest.mark.parametrize("params,words", [
    ({"username": ""}, "username is empty"),
    ({"password": "  "}, "password is empty"),
    ({"token": ""}, "token is empty"),
    ({"events": []}, "events [] is empty"),
    ({"events": ["push", " "]}, "has an empty element"),
])
def test_empty_values_refused(params, words):
    with pytest.raises(InputError) as exc:
        check_not_empty(params, ("username", "password", "token", "events"))
    assert words in str(exc.value)


def test_unset_values_pass():
    check_not_empty({"username": None, "password": "x", "events": ["push"]}, ("username", "password", "events"))


def test_client_from_params_checks_first():
    params = dict(url="file:///etc/passwd", username="a", password="b", token=None, timeout=30, validate_certs=True)
    with pytest.raises(InputError):
        RestClient.from_params(params, "harbor")
    with pytest.raises(InputError, match="timeout -5"):
        check_rest_params(dict(params, url="http://h", timeout=-5))
    client = RestClient.from_params(dict(params, url="http://h:1/"), "harbor")
    assert client.base == "http://h:1"


# --- auth rules: which service takes which authentication for which call -------------------------------------------

BASIC = "Basic " + __import__("base64").b64encode(b"admin:pw").decode()
NO_AUTH = dict(url="http://h:1", username=None, password=None, token=None, timeout=30, validate_certs=True,
               ca_path=None)


@pytest.mark.parametrize("service,call,given,kind,header", [
    ("harbor", None, {"username": "admin", "password": "pw"}, "basic", BASIC),
    ("gitea", None, {"username": "admin", "password": "pw"}, "basic", BASIC),
    ("gitea", None, {"token": "t0k"}, "token", "token t0k"),
    ("gitea", None, {"token": "t0k", "username": "admin", "password": "pw"}, "token", "token t0k"),  # token first
    ("gitea", "create_token", {"token": "t0k", "username": "admin", "password": "pw"}, "basic", BASIC),
    ("gitea", "create_token", {"username": "admin", "password": "pw"}, "basic", BASIC),
])
def test_auth_chosen_by_the_table(service, call, given, kind, header):
    params = dict(NO_AUTH, **given)
    assert select_auth(service, params, call) == kind
    assert RestClient.from_params(params, service, call).headers["Authorization"] == header


@pytest.mark.parametrize("service,call,given,words", [
    ("harbor", None, {"token": "t0k"}, ["Harbor's API takes only basic authentication", "set username and password",
                                        "a token is not accepted here"]),
    ("harbor", None, {}, ["Harbor's API takes only basic authentication"]),
    ("gitea", "create_token", {"token": "t0k"}, ["Gitea creates API tokens only for basic authentication",
                                                 "a token is not accepted here"]),
    ("gitea", None, {}, ["Gitea's API takes only an API token (token) or basic authentication", "set token or "]),
])
def test_auth_refused_with_what_to_set(service, call, given, words):
    with pytest.raises(InputError) as exc:
        RestClient.from_params(dict(NO_AUTH, **given), service, call)
    for word in words:
        assert word in str(exc.value)
    assert "t0k" not in str(exc.value)


def test_auth_module_rules_follow_the_table():
    assert accepted_auth("harbor") == ("basic",) and accepted_auth("gitea") == ("token", "basic")
    assert accepted_auth("gitea", "create_token") == ("basic",)
    assert auth_module_rules("harbor") == {"required_together": [("username", "password")]}
    assert auth_module_rules("gitea") == {"required_together": [("username", "password")],
                                          "required_one_of": [("token", "username")]}
    assert "required_one_of" not in auth_module_rules("gitea", "create_token")


# --- ca_path ---------------------------------------------------------------------------------------------------------

def test_missing_ca_file_is_refused_before_any_request(tmp_path):
    params = dict(NO_AUTH, username="admin", password="pw", ca_path=str(tmp_path / "missing-ca.pem"))
    with pytest.raises(InputError, match="ca_path .*missing-ca.pem' is not a file"):
        RestClient.from_params(params, "harbor")
    with pytest.raises(InputError, match="is not a file"):
        check_rest_params(dict(params, ca_path=str(tmp_path)))  # a directory is no CA file either


def test_open_url_gets_ca_path(tmp_path, monkeypatch):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    seen = []

    class Answer(object):
        headers = {}

        def getcode(self):
            return 200

        def read(self):
            return b"[]"

    def fake_open_url(url, **kwargs):
        seen.append((url, kwargs))
        return Answer()
    monkeypatch.setattr(rest, "open_url", fake_open_url)
    client = RestClient.from_params(dict(NO_AUTH, url="https://h:1", username="admin", password="pw",
                                         ca_path=str(ca)), "harbor")
    assert client.get("/api/v2.0/projects") == []
    assert seen[0][0] == "https://h:1/api/v2.0/projects"
    assert seen[0][1]["ca_path"] == str(ca) and seen[0][1]["validate_certs"] is True
    # without ca_path, open_url verifies against the system's CAs
    RestClient.from_params(dict(NO_AUTH, url="https://h:1", username="admin", password="pw"), "harbor").get("/x")
    assert seen[1][1]["ca_path"] is None


# --- the result built from a prediction ------------------------------------------------------------------------------

class FakeModule(object):
    def __init__(self, check_mode=False, diff=True):
        self.check_mode, self._diff, self.warnings = check_mode, diff, []

    def warn(self, text):
        self.warnings.append(text)


PRED = prediction({"a": 1}, [("update", {"a": 2})], {"a": 2}, [("PATCH", "/x")])


def test_prediction_shape():
    assert PRED == {"before": {"a": 1}, "plan": [("update", {"a": 2})], "after": {"a": 2},
                    "calls": [("PATCH", "/x")], "changed": True}
    assert prediction(None, [], None, [])["changed"] is False


@pytest.mark.parametrize("check_mode,read_back,after,warned", [
    (True, {"a": 3}, {"a": 2}, False),     # check mode: the prediction, nothing read back
    (False, {"a": 2}, {"a": 2}, False),    # applied: what the service reports, same as predicted
    (False, {"a": 3}, {"a": 3}, True),     # applied, the service did something else: reported, and a warning
])
def test_predicted_result(check_mode, read_back, after, warned):
    module = FakeModule(check_mode)
    reads = []
    result = predicted_result(module, "thing", PRED, lambda: reads.append(1) or read_back)
    assert result["thing"] == after and result["changed"] is True and result["plan"] == [["update", {"a": 2}]]
    assert result["diff"] == {"before": {"a": 1}, "after": after}
    assert bool(module.warnings) is warned and len(reads) == (0 if check_mode else 1)


def test_predicted_result_without_a_plan_reads_nothing():
    module = FakeModule()
    result = predicted_result(module, "thing", prediction({"a": 1}, [], {"a": 1}, []), lambda: 1 / 0)
    assert result["changed"] is False and result["thing"] == {"a": 1}


def test_transport_turns_socket_errors_into_api_errors(monkeypatch):
    def timeout(*args, **kwargs):
        raise socket.timeout("timed out")
    monkeypatch.setattr(rest, "open_url", timeout)
    with pytest.raises(ApiError) as exc:
        rest.urllib_transport("GET", "http://h/x", {}, None, 1, True)
    assert exc.value.status is None and "failed: no response (TimeoutError: timed out)" in str(exc.value)

    def reset(*args, **kwargs):
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    monkeypatch.setattr(rest, "open_url", reset)
    with pytest.raises(ApiError, match="ConnectionResetError"):
        rest.urllib_transport("GET", "http://h/x", {}, None, 1, True)


# --- secrets in files -----------------------------------------------------------------------------------------------

def test_read_secret(tmp_path):
    path = tmp_path / "s"
    assert read_secret(str(path)) is None
    path.write_text("  abc\n")
    assert read_secret(str(path)) == "abc"
    path.write_text("")
    assert read_secret(str(path)) == ""
    with pytest.raises(InputError, match="is a directory: give the path of a file"):
        read_secret(str(tmp_path))
    os.mkfifo(str(tmp_path / "fifo"))
    with pytest.raises(InputError, match="exists and is not a regular file"):
        read_secret(str(tmp_path / "fifo"))
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="cannot be read"):
        read_secret(str(tmp_path / "bin"))


@pytest.mark.parametrize("relative,words", [
    ("", "is empty"),
    (".", "is a directory"),
    ("missing/secret", "missing does not exist (or is not a directory); create it first"),
    ("file/secret", "does not exist (or is not a directory)"),
])
def test_check_secret_dest(tmp_path, relative, words):
    (tmp_path / "file").write_text("x")
    path = str(tmp_path / relative) if relative else ""
    with pytest.raises(InputError) as exc:
        check_secret_dest(path, "secret_dest")
    assert words in str(exc.value) and str(exc.value).startswith("secret_dest")


def test_check_secret_dest_in_check_mode_allows_a_directory_made_later(tmp_path):
    check_secret_dest(str(tmp_path / "credentials" / "s"), check_mode=True)  # an earlier task creates it
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="does not exist .or is not a directory"):
        check_secret_dest(str(tmp_path / "file" / "s"), check_mode=True)  # but never below a file
    with pytest.raises(InputError, match="is a directory"):
        check_secret_dest(str(tmp_path), check_mode=True)


def test_check_secret_dest_unwritable_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(rest.os, "access", lambda path, mode: False)  # root may write anywhere: ask as a user would
    with pytest.raises(InputError, match="is not writable by this user; fix its permissions"):
        check_secret_dest(str(tmp_path / "s"))


def test_staged_secret_commits_0600_by_rename(tmp_path):
    dest = tmp_path / "s"
    dest.write_text("old\n")
    os.chmod(str(dest), 0o644)
    with StagedSecret(str(dest)) as staged:
        assert dest.read_text() == "old\n"  # untouched until commit
        tmp = staged.tmp
        assert os.path.dirname(tmp) == str(tmp_path) and stat.S_IMODE(os.stat(tmp).st_mode) == 0o600
        staged.commit("new-secret")
    assert dest.read_text() == "new-secret\n" and stat.S_IMODE(os.stat(str(dest)).st_mode) == 0o600
    assert sorted(os.listdir(str(tmp_path))) == ["s"]


def test_staged_secret_discarded_when_not_committed(tmp_path):
    with pytest.raises(RuntimeError):
        with StagedSecret(str(tmp_path / "s")):
            raise RuntimeError("the API call failed")
    assert os.listdir(str(tmp_path)) == []


def test_staged_secret_write_error(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(rest.os, "fsync", full)
    with pytest.raises(SecretWriteError, match="could not write dest .* No space left on device"):
        with StagedSecret(str(tmp_path / "s")) as staged:
            staged.commit("x")
    assert os.listdir(str(tmp_path)) == []


def test_staged_secret_refuses_before_creating_anything(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        StagedSecret(str(tmp_path))
    assert os.listdir(str(tmp_path)) == []
