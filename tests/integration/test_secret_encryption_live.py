"""secret_encryption_info against real etcd: Secrets written in clear (protobuf magic k8s\\x00) and Secrets
written with a real Kubernetes aescbc payload (k8s:enc:aescbc:v1:<key>: + IV + AES-CBC of the PKCS#7-padded
object), plus one secretbox-labelled value, are told apart; values never appear in the module's output."""

import base64
import json
import os
import shutil
import urllib.request

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from etcd_cluster import Cluster
from moduleproc import run_module

pytestmark = pytest.mark.skipif(shutil.which("etcd") is None and not os.environ.get("CI"),
                                reason="needs etcd-server and etcd-client (CI always runs it)")

KEY1 = os.urandom(32)


def secret_object(ns, name):
    # the API server's protobuf envelope starts with the magic k8s\x00; the body is opaque to the check
    return b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12" + ("%s/%s topsecret-%s" % (ns, name, name)).encode()


def aescbc(plain, key=KEY1, key_name="key1"):
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(plain) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return ("k8s:enc:aescbc:v1:%s:" % key_name).encode() + iv + enc.update(data) + enc.finalize()


def decrypt_aescbc(value, key=KEY1):
    body = value[len(b"k8s:enc:aescbc:v1:key1:"):]
    dec = Cipher(algorithms.AES(key), modes.CBC(body[:16])).decryptor()
    padded = dec.update(body[16:]) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


@pytest.fixture(scope="module")
def etcd():
    c = Cluster(size=1, base_port=43000)
    c.start()
    yield c
    c.stop()


def put(etcd, key, value):
    body = json.dumps({"key": base64.b64encode(key.encode()).decode(), "value": base64.b64encode(value).decode()})
    req = urllib.request.Request(etcd.endpoints[0] + "/v3/kv/put", data=body.encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def check(etcd, **args):
    rc, out = run_module("secret_encryption_info", dict({"endpoints": etcd.endpoints}, **args))
    return rc, out


def test_clear_and_encrypted_secrets_are_told_apart(etcd):
    for name in ("db-password", "api-token", "tls"):
        put(etcd, "/registry/secrets/default/%s" % name, secret_object("default", name))
    for i in range(4):
        value = aescbc(secret_object("tenant-a", "s%d" % i))
        assert decrypt_aescbc(value) == secret_object("tenant-a", "s%d" % i)  # a genuine aescbc payload
        put(etcd, "/registry/secrets/tenant-a/s%d" % i, value)
    put(etcd, "/registry/secrets/kube-system/boxed", b"k8s:enc:secretbox:v1:key2:" + os.urandom(60))
    put(etcd, "/registry/configmaps/default/not-a-secret", secret_object("default", "cm"))

    rc, out = check(etcd)
    assert rc == 1 and out["failed"] is True
    assert out["total"] == 8 and out["encrypted"] == 5
    assert out["by_provider_key"] == {"identity": 3, "aescbc:key1": 4, "secretbox:key2": 1}
    assert out["msg"].startswith("3 of 8 Secrets are not stored as expected: default/api-token is stored in clear "
                                 "(identity); default/db-password is stored in clear (identity); default/tls is "
                                 "stored in clear (identity)")
    by_name = {(s["namespace"], s["name"]): s for s in out["secrets"]}
    assert by_name[("tenant-a", "s0")] == {"namespace": "tenant-a", "name": "s0", "encrypted": True,
                                           "provider": "aescbc", "key": "key1"}
    assert by_name[("kube-system", "boxed")]["provider"] == "secretbox"
    assert "topsecret" not in json.dumps(out)  # values never leave etcd

    rc, report_only = check(etcd, fail_on_plaintext=False)
    assert rc == 0 and report_only["changed"] is False and len(report_only["problems"]) == 3


def test_after_rewrite_only_the_other_provider_is_flagged(etcd):
    for name in ("db-password", "api-token", "tls"):  # what rewriting all Secrets does after enabling encryption
        put(etcd, "/registry/secrets/default/%s" % name, aescbc(secret_object("default", name)))
    rc, out = check(etcd, expected_provider="aescbc", expected_key="key1")
    assert rc == 1
    assert out["problems"] == ["kube-system/boxed is encrypted with secretbox, expected aescbc"]
    put(etcd, "/registry/secrets/kube-system/boxed", aescbc(b"k8s\x00boxed", key_name="key2"))
    rc, out = check(etcd, expected_provider="aescbc", expected_key="key1")
    assert out["problems"] == ["kube-system/boxed is encrypted with key key2, expected key1 (rewrite Secrets "
                               "after a key rotation)"]
    put(etcd, "/registry/secrets/kube-system/boxed", aescbc(b"k8s\x00boxed"))
    rc, out = check(etcd, expected_provider="aescbc", expected_key="key1", _ansible_check_mode=True)
    assert rc == 0 and out["encrypted"] == out["total"] == 8 and out["by_provider_key"] == {"aescbc:key1": 8}


def test_unreachable_etcd_is_a_clear_error(etcd):
    rc, out = run_module("secret_encryption_info", {"endpoints": ["http://127.0.0.1:43999"], "timeout": 3})
    assert rc == 1 and out["msg"].startswith("Reading /registry/secrets/ from etcd (http://127.0.0.1:43999) failed")
