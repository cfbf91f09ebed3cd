import base64
import json

import pytest

from ansible_collections.aiinfra.cluster.plugins.module_utils.secret_encryption import (
    classify, parse_get_json, report, secret_ref)


@pytest.mark.parametrize("value,expected", [
    (b"k8s:enc:aescbc:v1:key1:\x00\x01", {"encrypted": True, "provider": "aescbc", "key": "key1"}),
    (b"k8s:enc:aesgcm:v1:2026-11:\xff", {"encrypted": True, "provider": "aesgcm", "key": "2026-11"}),
    (b"k8s:enc:secretbox:v1:sb:\x00", {"encrypted": True, "provider": "secretbox", "key": "sb"}),
    (b"k8s:enc:kms:v1:vault-kms:\x00", {"encrypted": True, "provider": "kmsv1", "key": "vault-kms"}),
    (b"k8s:enc:kms:v2:aws:\n\x12", {"encrypted": True, "provider": "kmsv2", "key": "aws"}),
    (b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret", {"encrypted": False, "provider": "identity", "key": None}),
    (b'{"kind":"Secret","apiVersion":"v1"}', {"encrypted": False, "provider": "identity", "key": None}),
    (b"\x93garbage", {"encrypted": False, "provider": "unknown", "key": None}),
    (b"k8s:enc:aescbc:v1", {"encrypted": False, "provider": "unknown", "key": None}),
])
def test_classify(value, expected):
    assert classify(value) == expected


def test_secret_ref():
    assert secret_ref("/registry/secrets/kube-system/bootstrap-token-abc", "/registry/secrets/") == (
        "kube-system", "bootstrap-token-abc")


def test_parse_get_json_and_report():
    def kv(k, v):
        return {"key": base64.b64encode(k.encode()).decode(), "value": base64.b64encode(v).decode()}
    text = json.dumps({"header": {}, "kvs": [kv("/registry/secrets/a/x", b"k8s\x00x"),
                                             kv("/registry/secrets/b/y", b"k8s:enc:aescbc:v1:k2:..")], "count": 2})
    pairs = parse_get_json(text)
    assert pairs == [("/registry/secrets/a/x", b"k8s\x00x"), ("/registry/secrets/b/y", b"k8s:enc:aescbc:v1:k2:..")]
    out = report(pairs, "/registry/secrets/", "aescbc", "k1")
    assert out["problems"] == ["a/x is stored in clear (identity)",
                               "b/y is encrypted with key k2, expected k1 (rewrite Secrets after a key rotation)"]
    assert out["by_provider_key"] == {"identity": 1, "aescbc:k2": 1} and out["encrypted"] == 1
    assert parse_get_json(json.dumps({"header": {}, "count": 0})) == []
