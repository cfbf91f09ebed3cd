import base64
import json

import pytest

from ansible_collections.aiinfra.cluster.plugins.module_utils.secret_encryption import (
    check_params, classify, parse_get_json, report, secret_ref)


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


# --- malformed etcdctl output and options (issue 16) ------------------------------------------------------------------

@pytest.mark.parametrize("text,message", [
    ("Error: context deadline exceeded", "not JSON"),
    ("[]", "expected an object with a 'kvs' list"),
    ('"kvs"', "expected an object with a 'kvs' list"),
    ('{"kvs": {"key": "a2V5"}}', "expected an object with a 'kvs' list"),
    ('{"kvs": ["a2V5"]}', r"kvs\[0\] is not an object"),
    ('{"kvs": [{"value": "dg=="}]}', r"kvs\[0\] is not an object"),
    ('{"kvs": [{"key": 5, "value": "dg=="}]}', r"kvs\[0\] is not an object"),
    ('{"kvs": [{"key": "a2V5", "value": "dg=="}, {"key": "%%%"}]}', r"kvs\[1\] is not base64"),
    ('{"kvs": [{"key": "a2V5", "value": "dg"}]}', r"kvs\[0\] is not base64"),
])
def test_parse_get_json_refuses_malformed_output(text, message):
    with pytest.raises(ValueError, match=message):
        parse_get_json(text)


def test_parse_get_json_empty_answers():
    assert parse_get_json('{"header": {"revision": 5}}') == []
    assert parse_get_json('{"kvs": []}') == []
    assert parse_get_json("") == []


GOOD = {"prefix": "/registry/secrets/", "timeout": 30, "expected_provider": None, "expected_key": None}


@pytest.mark.parametrize("change,message", [
    ({"prefix": ""}, "prefix '' is not an etcd key prefix"),
    ({"prefix": "/"}, "would read all of etcd"),
    ({"prefix": "//"}, "is not an etcd key prefix"),
    ({"prefix": "registry/secrets/"}, "is not an etcd key prefix"),
    ({"timeout": 0}, "timeout 0 is out of range"),
    ({"timeout": -30}, "timeout -30 is out of range"),
    ({"timeout": 10 ** 10}, "is out of range: give the seconds etcdctl may take, 1 to 3600"),
    ({"expected_provider": ""}, "expected_provider is empty"),
    ({"expected_key": " "}, "expected_key is empty"),
])
def test_check_params(change, message):
    with pytest.raises(ValueError, match=message):
        check_params(dict(GOOD, **change))
    check_params(GOOD)
