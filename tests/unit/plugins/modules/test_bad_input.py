"""Every module refuses bad input with one clear failure and changes nothing (issue 16).

Each case runs the module the way Ansible does (its own process, JSON arguments; see modrun.py) and asserts: the
module printed a JSON result (no traceback, no ``exception``), ``failed`` is true, the message names what is wrong
(the expected words below), and nothing was touched: the REST modules never opened a connection to the service
(a listening socket counts them), and the file system is as it was.

Tool output the modules parse (``wg show ... dump``, ``etcdctl ... -w json``) is fed malformed on purpose by a
two-line script standing in for the tool on PATH or as ``etcdctl``: it prints the given bytes and nothing else. The
well-formed shapes are tested against captured real output in tests/unit/fixtures and the live tests.
"""

import os
import socket
import stat
import threading

import pytest

from ansible_collections.aiinfra.cluster.tests.unit.plugins.modules.modrun import run_module


@pytest.fixture(scope="module")
def service():
    """A TCP listener standing where the service would be: counts the connections a module opens."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    seen = []

    def accept():
        while True:
            try:
                conn, _addr = sock.accept()
            except OSError:
                return
            seen.append(conn)
            conn.close()
    threading.Thread(target=accept, daemon=True).start()
    yield "http://127.0.0.1:%d" % sock.getsockname()[1], seen
    sock.close()


def assert_clear_failure(run, *words):
    assert not run.crashed, "module crashed instead of failing clearly:\n%s\n%s" % (run.stdout, run.stderr)
    assert run.rc != 0 and run.result.get("failed") is True, run.result
    msg = run.result["msg"]
    for word in words:
        assert word in msg, "%r not in %r" % (word, msg)
    return msg


def tree(path):
    """Every path under ``path`` with its type and size: what 'nothing changed' is compared by."""
    found = {}
    for base, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(base, name)
            st = os.lstat(full)
            found[os.path.relpath(full, path)] = (stat.S_IFMT(st.st_mode), st.st_size)
    return found


# --- the REST modules ------------------------------------------------------------------------------------------------

def rest_url_cases():
    """(case id, changes to the base args, words the message must hold) for every REST module."""
    return [
        ("no-scheme", {"url": "harbor.example:30002"}, ["has no scheme", "http://harbor.example:30002"]),
        ("file-url", {"url": "file:///etc/hostname"}, ["only http:// and https:// are allowed"]),
        ("ftp-url", {"url": "ftp://127.0.0.1/"}, ["only http:// and https://"]),
        ("empty-url", {"url": ""}, ["url is empty"]),
        ("spaces-url", {"url": "http://harbor example"}, ["spaces or control characters"]),
        ("no-host", {"url": "http://"}, ["has no host name"]),
        ("port-range", {"url": "http://127.0.0.1:99999"}, ["invalid port"]),
        ("port-zero", {"url": "http://127.0.0.1:0"}, ["port 0"]),
        ("credentials-in-url", {"url": "http://admin:hunter2@127.0.0.1:1"}, ["carries credentials"]),
        ("query-in-url", {"url": "http://127.0.0.1:1/?x=1"}, ["query or fragment"]),
        ("negative-timeout", {"timeout": -1}, ["timeout -1 is out of range", "1 to 3600"]),
        ("zero-timeout", {"timeout": 0}, ["timeout 0 is out of range"]),
        ("huge-timeout", {"timeout": 10 ** 20}, ["is out of range"]),
        ("timeout-not-int", {"timeout": "soon"}, ["timeout"]),
        ("validate-certs-not-bool", {"validate_certs": "perhaps"}, ["validate_certs"]),
        ("empty-password", {"password": ""}, ["password is empty"]),
    ]


# The URL and timeout checks are one function (module_utils/rest.py, table-tested in test_rest.py): every module
# gets them all through harbor_project, the others the cases of the issue.
SHORT_URL_CASES = ("no-scheme", "file-url", "credentials-in-url", "negative-timeout", "huge-timeout",
                   "timeout-not-int")


HARBOR = {"username": "admin", "password": "Harbor12345"}
GITEA = {"username": "gitea_admin", "password": "gitea-pw-1"}

MODULE_CASES = {
    "harbor_project": (dict(HARBOR, name="lab"), [
        ("empty-name", {"name": ""}, ["name '' is not a Harbor name"]),
        ("upper-case-name", {"name": "Lab"}, ["is not a Harbor name", "lower-case"]),
        ("slash-name", {"name": "lab/../x"}, ["is not a Harbor name"]),
        ("size-unit", {"storage_limit": "20GB"}, ["'20GB' is not a size"]),
        ("size-negative", {"storage_limit": "-5Gi"}, ["is not a size"]),
        ("size-huge", {"storage_limit": "99999999999999Ti"}, ["larger than Harbor can store"]),
        ("public-not-bool", {"public": "sometimes"}, ["public"]),
        ("state-unknown", {"state": "gone"}, ["state"]),
        ("name-list", {"name": ["a", "b"]}, ["is not a Harbor name"]),
        ("token-auth", {"username": None, "password": None, "token": "t0k"},
         ["Harbor's API takes only basic authentication", "set username and password"]),
        ("ca-path-missing", {"ca_path": "{tmp}/missing-ca.pem"}, ["ca_path", "missing-ca.pem", "is not a file"]),
        ("ca-path-directory", {"ca_path": "{tmp}"}, ["ca_path", "is not a file"]),
    ]),
    "harbor_robot": (dict(HARBOR, project="lab", name="ci"), [
        ("upper-case-name", {"name": "CI"}, ["name 'CI' is not a Harbor name"]),
        ("plus-in-name", {"name": "lab+ci"}, ["is not a Harbor name"]),
        ("empty-project", {"project": ""}, ["project '' is not a Harbor name"]),
        ("duration-negative", {"duration": -5}, ["duration -5 is out of range"]),
        ("duration-huge", {"duration": 2 ** 40}, ["is out of range"]),
        ("duration-not-int", {"duration": "forever"}, ["duration"]),
        ("action-unknown", {"actions": ["fly"]}, ["actions"]),
        ("actions-empty", {"actions": []}, ["at least one action"]),
        ("dest-is-directory", {"secret_dest": "{tmp}"}, ["secret_dest {tmp} is a directory"]),
        ("dest-dir-missing", {"secret_dest": "{tmp}/missing/robot"}, ["{tmp}/missing does not exist"]),
        ("dest-is-fifo", {"secret_dest": "{tmp}/fifo"}, ["is not a regular file"]),
        ("dest-below-a-file", {"secret_dest": "{tmp}/file/robot"}, ["does not exist (or is not a directory)"]),
    ]),
    "gitea_repo": (dict(GITEA, owner="platform", name="demo"), [
        ("empty-owner", {"owner": ""}, ["owner '' is not a Gitea name"]),
        ("slash-name", {"name": "demo/../x"}, ["name 'demo/../x' is not a Gitea name"]),
        ("dot-dot-name", {"name": ".."}, ["is not a Gitea name"]),
        ("long-name", {"name": "x" * 101}, ["at most 100 characters"]),
        ("empty-branch", {"default_branch": ""}, ["default_branch is empty"]),
        ("no-auth", {"username": None, "password": None}, ["token", "username"]),
        ("private-not-bool", {"private": "hidden"}, ["private"]),
    ]),
    "gitea_file": (dict(GITEA, owner="platform", repo="demo", path="apps/demo.yaml", content="x: 1\n"), [
        ("empty-path", {"path": ""}, ["path '' is not a file path"]),
        ("root-path", {"path": "/"}, ["is not a file path"]),
        ("parent-path", {"path": "../../etc/passwd"}, ["is not a file path", "'..'"]),
        ("double-slash", {"path": "apps//demo.yaml"}, ["is not a file path"]),
        ("empty-repo", {"repo": ""}, ["repo '' is not a Gitea name"]),
        ("empty-branch", {"branch": " "}, ["branch is empty"]),
        ("no-content", {"content": None}, ["content"]),
    ]),
    "gitea_token": (dict(GITEA, name="jenkins", dest="{tmp}/token"), [
        ("dest-is-directory", {"dest": "{tmp}"}, ["dest {tmp} is a directory"]),
        ("dest-dir-missing", {"dest": "{tmp}/missing/token"}, ["{tmp}/missing does not exist"]),
        ("dest-is-fifo", {"dest": "{tmp}/fifo"}, ["is not a regular file"]),
        ("empty-name", {"name": ""}, ["name is empty"]),
        ("no-scopes", {"scopes": []}, ["scopes [] is empty"]),
        ("empty-scope", {"scopes": ["read:user", ""]}, ["has an empty element"]),
        ("bad-user", {"user": "a b"}, ["user 'a b' is not a Gitea name"]),
        ("token-auth", {"username": None, "password": None, "token": "abc"}, ["basic authentication"]),
    ]),
    "gitea_user": (dict(GITEA, login="jenkins", email="jenkins@ci.example", user_password="hunter2"), [
        ("bad-login", {"login": "jen/kins"}, ["login 'jen/kins' is not a Gitea name"]),
        ("empty-email", {"email": ""}, ["email is empty"]),
        ("not-an-email", {"email": "jenkins"}, ["'jenkins' is not an e-mail address"]),
        ("empty-password", {"user_password": ""}, ["user_password is empty"]),
        ("visibility-unknown", {"visibility": "hidden"}, ["visibility"]),
        ("admin-not-bool", {"admin": "perhaps"}, ["admin"]),
        ("update-password-unknown", {"update_password": "sometimes"}, ["update_password"]),
        ("no-auth", {"username": None, "password": None}, ["token", "username"]),
    ]),
    "gitea_collaborator": (dict(GITEA, owner="gitea_admin", repo="demo", user="jenkins"), [
        ("permission-unknown", {"permission": "owner"}, ["permission"]),
        ("empty-user", {"user": ""}, ["user '' is not a Gitea name"]),
        ("dot-dot-repo", {"repo": ".."}, ["repo '..' is not a Gitea name"]),
        ("user-list", {"user": ["a", "b"]}, ["is not a Gitea name"]),
    ]),
    "gitea_webhook": (dict(GITEA, owner="platform", repo="demo", hook_url="http://jenkins:8080/gitea-webhook/post"), [
        ("hook-file-url", {"hook_url": "file:///etc/shadow"}, ["hook_url has the scheme file://"]),
        ("hook-no-scheme", {"hook_url": "jenkins:8080/gitea-webhook/post"}, ["hook_url", "has no scheme"]),
        ("hook-empty", {"hook_url": ""}, ["hook_url is empty"]),
        ("token-and-nothing-else", {"username": None, "password": None, "token": ""}, ["token is empty"]),
        ("no-events", {"events": []}, ["events [] is empty"]),
        ("empty-owner", {"owner": ""}, ["owner '' is not a Gitea name"]),
        ("type-unknown", {"type": "carrier-pigeon"}, ["type"]),
        ("active-not-bool", {"active": "kind of"}, ["active"]),
    ]),
}


def rest_cases():
    for module, (base, cases) in sorted(MODULE_CASES.items()):
        url_cases = [c for c in rest_url_cases() if module == "harbor_project" or c[0] in SHORT_URL_CASES]
        for case_id, change, words in url_cases + cases:
            yield pytest.param(module, base, change, words, id="%s-%s" % (module, case_id))


@pytest.mark.parametrize("module,base,change,words", list(rest_cases()))
def test_rest_module_refuses_bad_input(module, base, change, words, service, tmp_path):
    url, seen = service
    os.mkfifo(str(tmp_path / "fifo"))
    (tmp_path / "file").write_text("not a directory\n")
    before = tree(str(tmp_path))
    args = dict(base, url=url)
    args.update(change)
    args = {k: (v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v) for k, v in args.items()
            if v is not None}
    connections = len(seen)
    run = run_module(module, args)
    msg = assert_clear_failure(run, *[w.replace("{tmp}", str(tmp_path)) for w in words])
    assert len(seen) == connections, "the module called the service before refusing its input"
    assert tree(str(tmp_path)) == before
    assert "Harbor12345" not in run.stdout and "gitea-pw-1" not in run.stdout and "hunter2" not in msg


def test_file_url_is_never_read(service, tmp_path):
    """A file:// URL used to be opened by urllib and the file's text echoed into the error."""
    marker = tmp_path / "marker"
    marker.write_text("TOP-SECRET-LOCAL-FILE-CONTENT\n")
    for module, (base, _cases) in sorted(MODULE_CASES.items()):
        args = dict(base, url="file://%s" % marker)
        args = {k: (v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v) for k, v in args.items()}
        run = run_module(module, args)
        assert_clear_failure(run, "only http:// and https:// are allowed")
        assert "TOP-SECRET-LOCAL-FILE-CONTENT" not in run.stdout + run.stderr, module


# --- etcd_snapshot ----------------------------------------------------------------------------------------------------

def fake_tool(directory, name, output, rc=0):
    """A script named ``name`` that prints ``output`` and exits ``rc``: malformed tool output, on purpose."""
    path = os.path.join(str(directory), name)
    data = os.path.join(str(directory), name + ".out")
    with open(data, "w") as f:
        f.write(output)
    with open(path, "w") as f:
        f.write("#!/bin/sh\ncat '%s'\nexit %d\n" % (data, rc))
    os.chmod(path, 0o755)
    return path


ETCD_CASES = [
    # (id, args, malformed `etcdctl` output or None, words)
    ("list-dir-is-file", {"command": "list", "snapshot_dir": "{tmp}/file"}, None,
     ["snapshot_dir {tmp}/file exists and is not a directory"]),
    ("save-dir-is-file", {"command": "save", "snapshot_dir": "{tmp}/file"}, "[]",
     ["snapshot_dir {tmp}/file exists and is not a directory"]),
    ("prune-dir-is-file", {"command": "prune", "snapshot_dir": "{tmp}/file"}, None, ["is not a directory"]),
    ("prune-retention-zero", {"command": "prune", "snapshot_dir": "{tmp}/snaps", "retention": 0}, None,
     ["retention must be at least 1"]),
    ("prune-retention-negative", {"command": "prune", "snapshot_dir": "{tmp}/snaps", "retention": -3}, None,
     ["retention must be at least 1"]),
    ("retention-not-int", {"command": "prune", "snapshot_dir": "{tmp}/snaps", "retention": "seven"}, None,
     ["retention"]),
    ("empty-prefix", {"command": "list", "snapshot_dir": "{tmp}/snaps", "prefix": ""}, None, ["prefix '' is not"]),
    ("slash-prefix", {"command": "save", "snapshot_dir": "{tmp}/snaps", "prefix": "../etc/x"}, "[]",
     ["prefix '../etc/x' is not a file name prefix"]),
    ("verify-missing", {"command": "verify", "snapshot": "{tmp}/nope.db"}, "{}", ["{tmp}/nope.db does not exist"]),
    ("verify-directory", {"command": "verify", "snapshot": "{tmp}"}, "{}", ["{tmp} is a directory"]),
    ("restore-data-dir-is-file", {"command": "restore", "snapshot": "{tmp}/snaps/etcd-20260101T000000Z.db",
                                  "data_dir": "{tmp}/file", "name": "m1", "initial_cluster": "m1=http://127.0.0.1:1",
                                  "initial_advertise_peer_urls": ["http://127.0.0.1:1"]}, "{}",
     ["data_dir {tmp}/file exists and is not a directory"]),
    ("restore-empty-name", {"command": "restore", "snapshot": "{tmp}/snaps/etcd-20260101T000000Z.db",
                            "data_dir": "{tmp}/new", "name": " ", "initial_cluster": "m1=http://127.0.0.1:1",
                            "initial_advertise_peer_urls": ["http://127.0.0.1:1"]}, "{}", ["name is empty"]),
    ("no-endpoints", {"command": "save", "snapshot_dir": "{tmp}/snaps", "endpoints": []}, "[]",
     ["endpoints is empty"]),
    ("comma-endpoint", {"command": "save", "snapshot_dir": "{tmp}/snaps",
                        "endpoints": ["https://a:2379,https://b:2379"]}, "[]", ["is not a client URL"]),
    ("cacert-directory", {"command": "save", "snapshot_dir": "{tmp}/snaps", "cacert": "{tmp}"}, "[]",
     ["cacert {tmp} is a directory"]),
    ("health-not-a-list", {"command": "save", "snapshot_dir": "{tmp}/snaps"},
     '{"endpoint":"https://127.0.0.1:2379","health":true,"took":"1ms"}', ["expected a list of endpoints"]),
    ("health-list-of-numbers", {"command": "save", "snapshot_dir": "{tmp}/snaps"}, "[1, 2]",
     ["expected a list of endpoints"]),
    ("health-not-json", {"command": "save", "snapshot_dir": "{tmp}/snaps"}, "Error: context deadline exceeded",
     ["could not parse 'etcdctl endpoint health -w json'"]),
    ("status-not-an-object", {"command": "verify", "snapshot": "{tmp}/snaps/etcd-20260101T000000Z.db"}, "[1]",
     ["could not parse 'etcdctl snapshot status -w json'"]),
    ("status-huge-float", {"command": "verify", "snapshot": "{tmp}/snaps/etcd-20260101T000000Z.db"},
     '{"hash": 1e999, "revision": 1, "totalKey": 1, "totalSize": 1}', ["could not parse"]),
]


@pytest.mark.parametrize("case_id,args,output,words", ETCD_CASES, ids=[c[0] for c in ETCD_CASES])
def test_etcd_snapshot_refuses_bad_input(case_id, args, output, words, tmp_path):
    (tmp_path / "file").write_text("not a directory\n")
    (tmp_path / "snaps").mkdir()
    (tmp_path / "snaps" / "etcd-20260101T000000Z.db").write_bytes(b"\0" * 64)
    tools = tmp_path / "tools"
    tools.mkdir()
    args = dict(args, etcdctl=fake_tool(tools, "etcdctl", output) if output is not None else "etcdctl")
    args = {k: (v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v) for k, v in args.items()}
    before = tree(str(tmp_path))
    run = run_module("etcd_snapshot", args)
    assert_clear_failure(run, *[w.replace("{tmp}", str(tmp_path)) for w in words])
    assert tree(str(tmp_path)) == before


# --- secret_encryption_info -------------------------------------------------------------------------------------------

SECRET_CASES = [
    ("output-not-json", {}, "Error: unexpected EOF", ["Could not parse", "not JSON"]),
    ("output-a-list", {}, "[1, 2]", ["expected an object with a 'kvs' list"]),
    ("kvs-not-a-list", {}, '{"kvs": {"key": "x"}}', ["expected an object with a 'kvs' list"]),
    ("kv-without-key", {}, '{"kvs": [{"value": "eA=="}]}', ["kvs[0] is not an object"]),
    ("kv-not-base64", {}, '{"kvs": [{"key": "%%%", "value": "eA=="}]}', ["kvs[0] is not base64"]),
    ("empty-prefix", {"prefix": ""}, "{}", ["prefix '' is not an etcd key prefix"]),
    ("slash-prefix", {"prefix": "/"}, "{}", ["would read all of etcd"]),
    ("relative-prefix", {"prefix": "registry/secrets/"}, "{}", ["is not an etcd key prefix"]),
    ("zero-timeout", {"timeout": 0}, "{}", ["timeout 0 is out of range"]),
    ("huge-timeout", {"timeout": 10 ** 12}, "{}", ["is out of range"]),
    ("no-endpoints", {"endpoints": []}, "{}", ["endpoints is empty"]),
    ("cert-missing", {"cert": "/nonexistent/c.crt", "key": "/nonexistent/c.key"}, "{}",
     ["cert /nonexistent/c.crt does not exist"]),
    ("empty-expected-key", {"expected_key": ""}, "{}", ["expected_key is empty"]),
]


@pytest.mark.parametrize("case_id,args,output,words", SECRET_CASES, ids=[c[0] for c in SECRET_CASES])
def test_secret_encryption_info_refuses_bad_input(case_id, args, output, words, tmp_path):
    args = dict(args, etcdctl=fake_tool(tmp_path, "etcdctl", output))
    run = run_module("secret_encryption_info", args)
    assert_clear_failure(run, *words)


# --- cilium_encryption_info (node mode reads `wg show <if> dump` on the host) -----------------------------------------

GOOD_HEAD = "cHJpdmF0ZQ==\tcHVibGlj\t51871\toff\n"
GOOD_PEER = "cGVlcg==\t(none)\t10.0.0.2:51871\t10.0.0.0/24\t1764570000\t100\t200\toff\n"
WG_CASES = [
    ("handshake-not-a-number", GOOD_HEAD + GOOD_PEER.replace("1764570000", "never"), {},
     ["could not parse 'wg show cilium_wg0 dump'", "latest-handshake is 'never', not a number"]),
    ("port-not-a-number", GOOD_HEAD.replace("51871", "port"), {}, ["listen-port is 'port', not a number"]),
    ("port-out-of-range", GOOD_HEAD.replace("51871", "70000"), {}, ["listen-port is 70000"]),
    ("rx-huge", GOOD_HEAD + GOOD_PEER.replace("\t100\t", "\t" + "9" * 40 + "\t"), {}, ["transfer-rx is"]),
    ("rx-negative", GOOD_HEAD + GOOD_PEER.replace("\t100\t", "\t-1\t"), {}, ["transfer-rx is -1"]),
    ("keepalive-garbage", GOOD_HEAD + GOOD_PEER.replace("\toff\n", "\tsoon\n"), {}, ["persistent-keepalive"]),
    ("short-peer-line", GOOD_HEAD + "cGVlcg==\t(none)\n", {}, ["peer line has 2 fields"]),
    ("empty-dump", "", {}, ["empty wg dump"]),
    ("empty-interface", GOOD_HEAD, {"interface": ""}, ["interface '' is not a network interface name"]),
    ("slash-interface", GOOD_HEAD, {"interface": "../wg"}, ["is not a network interface name"]),
    ("long-interface", GOOD_HEAD, {"interface": "x" * 16}, ["is not a network interface name"]),
    ("negative-peers", GOOD_HEAD, {"expected_peers": -1}, ["expected_peers -1 is out of range"]),
    ("huge-peers", GOOD_HEAD, {"expected_peers": 10 ** 15}, ["expected_peers", "is out of range"]),
    ("peers-not-int", GOOD_HEAD, {"expected_peers": "three"}, ["expected_peers"]),
    ("port-zero", GOOD_HEAD, {"listen_port": 0}, ["listen_port 0 is out of range"]),
    ("stale-negative", GOOD_HEAD, {"stale_handshake_seconds": -1}, ["stale_handshake_seconds -1 is out of range"]),
    ("concurrency-zero", GOOD_HEAD, {"exec_concurrency": 0}, ["exec_concurrency 0 is out of range"]),
    ("mode-unknown", GOOD_HEAD, {"expected_mode": "rot13"}, ["expected_mode"]),
]


@pytest.mark.parametrize("case_id,dump,args,words", WG_CASES, ids=[c[0] for c in WG_CASES])
def test_cilium_encryption_info_refuses_bad_input(case_id, dump, args, words, tmp_path):
    fake_tool(tmp_path, "wg", dump)
    run = run_module("cilium_encryption_info", dict({"mode": "node", "expected_peers": 1}, **args),
                     path_prepend=str(tmp_path))
    assert_clear_failure(run, *words)


def test_cilium_encryption_info_accepts_a_good_dump(tmp_path):
    """The same stand-in with a well-formed dump passes: the failures above come from the bad fields alone."""
    fake_tool(tmp_path, "wg", GOOD_HEAD + GOOD_PEER)
    run = run_module("cilium_encryption_info", {"mode": "node", "expected_peers": 1, "fail_on_mismatch": False},
                     path_prepend=str(tmp_path))
    assert not run.crashed and run.rc == 0, run.stdout + run.stderr
    node = next(iter(run.result["nodes"].values()))
    assert node["peers"] == 1 and node["public_key"] == "cHVibGlj" and node["listen_port"] == 51871
