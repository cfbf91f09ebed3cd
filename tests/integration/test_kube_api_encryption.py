"""Encryption at rest, end to end, on real software: three kube-apiservers v1.20.2 on one real 3-member etcd (TLS,
client certificates, as kubeadm's stacked etcd), behind Debian's haproxy running the control_plane_vip role's own
haproxy.cfg (rendered by the role's render tasks). Secrets are written through the VIP in clear; every API server is
restarted, one at a time, with the EncryptionConfiguration the kubeadm role renders (its
kubeadm_encryption_configuration filter, the role's default provider and key name); the kubeadm role's `secrets`
entry point rewrites the Secrets; aiinfra.cluster.secret_encryption_info proves from etcd that every Secret is
stored with the write key, and the raw etcd value decrypts with that key to the Secret the API returns."""

import base64
import json
import os
import re
import shutil
import sys
import tempfile
import time

import pytest
import yaml
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import kube_api
from ansible_env import ROOT, ansible_playbook, needs_collection
from moduleproc import collection_path, run_module

pytestmark = needs_collection

NAMESPACE = "enc-test"
SECRETS = {"db-password": {"password": "s3cr3t-db"}, "api-token": {"token": "t0ken-abc"},
           "tls-ish": {"tls.key": "-----BEGIN KEY-----x"}, "empty-ish": {"k": ""}}


def role_defaults():
    with open(os.path.join(ROOT, "roles", "kubeadm", "defaults", "main.yml")) as f:
        return yaml.safe_load(f)


def encryption_configuration(keys, provider):
    """The kubeadm role's filter, as the role's templates call it."""
    sys.path.insert(0, collection_path())
    from ansible_collections.aiinfra.cluster.plugins.filter.kubeadm import FilterModule

    return FilterModule().filters()["kubeadm_encryption_configuration"](keys, provider)


@pytest.fixture(scope="module")
def cluster():
    plane = kube_api.ControlPlane(slot=0, apiservers=3, etcd_members=3)
    plane.start()
    work = tempfile.mkdtemp(prefix="aiinfra-kapi-vip-")
    haproxy = None
    try:
        cfg, _render = kube_api.render_vip_haproxy(plane, work)
        haproxy = kube_api.Haproxy(cfg, os.path.join(work, "haproxy.log"))
        haproxy.start()
        haproxy.wait_backends(plane, 3)
        plane.vip = kube_api.vip_url(plane)
        plane.vip_kubeconfig = plane.kubeconfig(os.path.join(work, "vip.kubeconfig"), server=plane.vip)
        plane.haproxy_cfg = cfg
        plane.haproxy = haproxy
        plane.work = work
        yield plane
    finally:
        if haproxy:
            haproxy.stop()
        plane.stop()
        shutil.rmtree(work, ignore_errors=True)


def stored(plane, **args):
    rc, out = run_module("secret_encryption_info", dict({
        "endpoints": plane.etcd.endpoints, "cacert": plane.etcd.tls["ca"], "cert": plane.etcd.client[0],
        "key": plane.etcd.client[1]}, **args))
    return rc, out


def ours(out):
    return {s["name"]: s for s in out["secrets"] if s["namespace"] == NAMESPACE}


def secret_via_vip(plane, name):
    status, body = plane.request("GET", "/api/v1/namespaces/%s/secrets/%s" % (NAMESPACE, name), server=plane.vip)
    assert status == 200, body
    return body


def test_haproxy_config_is_the_roles_and_spreads_over_three_api_servers(cluster):
    with open(cluster.haproxy_cfg) as f:
        text = f.read()
    servers = re.findall(r"^\s*server (\S+) (\S+)$", text, re.M)
    assert re.search(r"^\s*default-server .* check check-ssl verify none$", text, re.M), text  # TLS health checks
    assert servers == [(s.name, "%s:%d" % (s.address, kube_api.API_PORT)) for s in cluster.servers], text
    # every API server answers behind the VIP: stop two, the third still serves; all three back again
    for index in (0, 1):
        cluster.servers[index].stop()
    # haproxy marks a stopped backend down after two failed checks (inter 2s fall 2): then every request is served
    deadline = time.time() + 20
    answered = 0
    while answered < 6:
        try:
            status, _body = cluster.request("GET", "/api/v1/namespaces/default", server=cluster.vip)
        except OSError:  # routed to a stopped server before haproxy's checks noticed
            status = None
        answered = answered + 1 if status == 200 else 0
        assert time.time() < deadline, "the VIP did not settle on the one API server left"
        time.sleep(0.2)
    for index in (0, 1):
        cluster.servers[index].start()
    for index in (0, 1):
        cluster.servers[index].wait_ready()
    cluster.haproxy.wait_backends(cluster, 3)


def test_secrets_written_before_encryption_are_stored_in_clear(cluster):
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    status, body = cluster.request("POST", "/api/v1/namespaces", namespace, server=cluster.vip)
    assert status == 201, body
    for name, data in SECRETS.items():
        doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}
        status, body = cluster.request("POST", "/api/v1/namespaces/%s/secrets" % NAMESPACE, doc, server=cluster.vip)
        assert status == 201, body
    rc, out = stored(cluster, fail_on_plaintext=False)
    assert rc == 0, out
    assert {n: (s["encrypted"], s["provider"]) for n, s in ours(out).items()} == {
        n: (False, "identity") for n in SECRETS}
    raw = cluster.etcd_raw("/registry/secrets/%s/db-password" % NAMESPACE)
    assert raw.startswith(b"k8s\x00") and b"s3cr3t-db" in raw  # the value really is in clear in etcd


def test_api_servers_restart_one_by_one_with_the_roles_encryption_configuration(cluster):
    defaults = role_defaults()
    cluster.key_name = defaults["kubeadm_encryption_key_name"]
    cluster.provider = defaults["kubeadm_encryption_provider"]
    cluster.key = os.urandom(32)
    config = encryption_configuration([{"name": cluster.key_name, "secret": base64.b64encode(cluster.key).decode()}],
                                      cluster.provider)
    assert [list(p) for p in config["resources"][0]["providers"]] == [[cluster.provider], ["identity"]]
    etcd_pids = cluster.etcd.member_pids()
    for index in range(len(cluster.servers)):
        server = cluster.restart_apiserver(index, config)
        assert "--encryption-provider-config=%s" % server.encryption_config_path in server.args()
        # the VIP keeps answering while one server restarts (the others serve); old Secrets stay readable
        assert secret_via_vip(cluster, "db-password")["data"]["password"] == base64.b64encode(b"s3cr3t-db").decode()
    assert cluster.etcd.member_pids() == etcd_pids and None not in etcd_pids  # etcd was never restarted
    # each server reads the clear Secrets (identity is the read fallback) and writes new ones encrypted
    for server in cluster.servers:
        status, body = cluster.request("GET", "/api/v1/namespaces/%s/secrets/api-token" % NAMESPACE,
                                       server=server.url)
        assert status == 200 and body["data"]["token"] == base64.b64encode(b"t0ken-abc").decode(), body
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "after-encryption"},
           "stringData": {"v": "written-encrypted"}}
    status, body = cluster.request("POST", "/api/v1/namespaces/%s/secrets" % NAMESPACE, doc, server=cluster.vip)
    assert status == 201, body
    rc, out = stored(cluster, fail_on_plaintext=False)
    states = {n: (s["provider"], s["key"]) for n, s in ours(out).items()}
    assert states == dict({n: ("identity", None) for n in SECRETS},
                          **{"after-encryption": (cluster.provider, cluster.key_name)}), states


def run_secrets_task(cluster, check=False):
    """The kubeadm role's `secrets` entry point, unmodified, through ansible-playbook on localhost: API calls through
    the VIP (k8s_kubeconfig), etcd read with the harness's client certificate (kubeadm_etcd_*, which default to
    kubeadm's stacked etcd on the first control-plane node); the finished process."""
    playbook = [{"name": "Rewrite Secrets with the kubeadm role against the live API-server tier", "hosts": "localhost",
                 "connection": "local", "gather_facts": False, "tasks": [{
                     "name": "Rewrite and prove", "ansible.builtin.include_role": {
                         "name": "aiinfra.cluster.kubeadm", "tasks_from": "secrets"}}]}]
    extra = {"k8s_kubeconfig": cluster.vip_kubeconfig, "k8s_credentials_dir": cluster.work, "kubeadm_encryption_provider": cluster.provider,
             "kubeadm_encryption_key_name": cluster.key_name, "kubeadm_etcd_endpoints": cluster.etcd.endpoints,
             "kubeadm_etcd_cacert": cluster.etcd.tls["ca"], "kubeadm_etcd_cert": cluster.etcd.client[0],
             "kubeadm_etcd_key": cluster.etcd.client[1], "ansible_python_interpreter": sys.executable}
    pb, vars_file = os.path.join(cluster.work, "secrets.yml"), os.path.join(cluster.work, "secrets-vars.json")
    with open(pb, "w") as f:
        yaml.safe_dump(playbook, f, sort_keys=False)
    with open(vars_file, "w") as f:
        json.dump(extra, f)
    return ansible_playbook("-i", "localhost,", pb, "-e", "@" + vars_file, *(["--check", "--diff"] if check else []))


def proved(proc):
    """The role's closing check (secret_encryption_info with the write key) ran and passed."""
    return re.search(r"Prove every Secret is stored with the write key\] \*+\nok: \[localhost\]", proc.stdout)


def recap(proc):
    match = re.search(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", proc.stdout)
    assert match, proc.stdout[-3000:] + proc.stderr[-2000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups())))


def decrypt(raw, key, key_name, provider="aescbc"):
    prefix = ("k8s:enc:%s:v1:%s:" % (provider, key_name)).encode()
    assert raw.startswith(prefix), raw[:40]
    body = raw[len(prefix):]
    dec = Cipher(algorithms.AES(key), modes.CBC(body[:16])).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(dec.update(body[16:]) + dec.finalize()) + unpadder.finalize()


def test_roles_rewrite_task_encrypts_every_secret_with_the_write_key(cluster):
    before = {n: secret_via_vip(cluster, n) for n in SECRETS}
    proc = run_secrets_task(cluster)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert recap(proc)["changed"] >= 1 and recap(proc)["failed"] == 0 and proved(proc), proc.stdout[-4000:]
    after = {n: secret_via_vip(cluster, n) for n in SECRETS}
    for name in SECRETS:  # written back unchanged: same data, new resourceVersion (the rewrite)
        assert after[name]["data"] == before[name]["data"]
        assert after[name]["metadata"]["resourceVersion"] != before[name]["metadata"]["resourceVersion"]
    rc, out = stored(cluster, expected_provider=cluster.provider, expected_key=cluster.key_name)
    assert rc == 0 and out["problems"] == [], out
    assert out["total"] == out["encrypted"] >= len(SECRETS) + 1
    assert out["by_provider_key"] == {"%s:%s" % (cluster.provider, cluster.key_name): out["total"]}
    # the proof is real: etcd holds k8s:enc:aescbc:v1:key-1:<IV><AES-CBC>, which decrypts with the key to the object
    raw = cluster.etcd_raw("/registry/secrets/%s/db-password" % NAMESPACE)
    assert b"s3cr3t-db" not in raw
    plain = decrypt(raw, cluster.key, cluster.key_name, cluster.provider)
    assert plain.startswith(b"k8s\x00") and b"s3cr3t-db" in plain


def test_second_rewrite_run_changes_nothing(cluster):
    versions = {n: secret_via_vip(cluster, n)["metadata"]["resourceVersion"] for n in SECRETS}
    proc = run_secrets_task(cluster)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert recap(proc)["changed"] == 0 and proved(proc), proc.stdout[-4000:]
    assert {n: secret_via_vip(cluster, n)["metadata"]["resourceVersion"] for n in SECRETS} == versions


def test_check_mode_after_converge_reports_nothing_to_do(cluster):
    proc = run_secrets_task(cluster, check=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # the block really ran in check mode (the client certificate exists), found nothing stale and proved it
    assert recap(proc)["changed"] == 0 and proved(proc), proc.stdout[-4000:]


def test_restart_helper_swaps_one_servers_configuration_without_touching_etcd(cluster):
    """What the rotation test builds on: one API server restarted with another EncryptionConfiguration (here the
    same key plus a second read key, as the rotation's `add` phase would write) while etcd keeps running."""
    etcd_pids = cluster.etcd.member_pids()
    second = base64.b64encode(os.urandom(32)).decode()
    keys = [{"name": cluster.key_name, "secret": base64.b64encode(cluster.key).decode()},
            {"name": "key-2", "secret": second}]
    starts = cluster.servers[1].starts
    server = cluster.restart_apiserver(1, encryption_configuration(keys, cluster.provider))
    with open(server.encryption_config_path) as f:
        written = yaml.safe_load(f)
    assert [k["name"] for k in written["resources"][0]["providers"][0][cluster.provider]["keys"]] == [
        cluster.key_name, "key-2"]
    assert oct(os.stat(server.encryption_config_path).st_mode & 0o777) == "0o600"
    assert server.starts == starts + 1 and cluster.etcd.member_pids() == etcd_pids
    status, body = cluster.request("GET", "/api/v1/namespaces/%s/secrets/db-password" % NAMESPACE, server=server.url)
    assert status == 200 and body["data"]["password"] == base64.b64encode(b"s3cr3t-db").decode()
