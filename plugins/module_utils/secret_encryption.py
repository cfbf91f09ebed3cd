# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is each Secret stored encrypted in etcd? Classify raw etcd values (pure; values are never returned).

The API server stores an encrypted object as ``k8s:enc:<provider>:v1:<key name>:<ciphertext>`` (aescbc, aesgcm,
secretbox, and ``kms:v1``/``kms:v2`` with the plugin name), and an unencrypted one as its protobuf
serialization, which begins with the magic ``k8s\\x00``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import re

_ENC = re.compile(rb"^k8s:enc:(?P<provider>[a-z0-9]+):(?P<version>v[0-9]+):(?P<key>[^:]+):")
PLAIN_MAGIC = b"k8s\x00"


def classify(value):
    """{encrypted, provider, key} for one raw value; provider 'identity' for clear protobuf or JSON."""
    m = _ENC.match(value)
    if m:
        provider = m.group("provider").decode()
        if provider == "kms":
            provider = "kms%s" % m.group("version").decode()
        return {"encrypted": True, "provider": provider, "key": m.group("key").decode()}
    if value.startswith(PLAIN_MAGIC) or value.lstrip().startswith(b"{"):
        return {"encrypted": False, "provider": "identity", "key": None}
    return {"encrypted": False, "provider": "unknown", "key": None}


def secret_ref(key, prefix):
    """'/registry/secrets/ns/name' -> ('ns', 'name')."""
    rest = key[len(prefix):] if key.startswith(prefix) else key
    namespace, _sep, name = rest.strip("/").partition("/")
    return namespace, name


def parse_get_json(text):
    """``etcdctl get --prefix -w json`` -> [(key str, value bytes)]; ValueError for anything else."""
    try:
        doc = json.loads(text or "{}")
    except ValueError as exc:
        raise ValueError("not JSON (%s): %r" % (exc, (text or "")[:200]))
    kvs = doc.get("kvs") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not isinstance(kvs or [], list):
        raise ValueError("expected an object with a 'kvs' list: %r" % (text or "")[:200])
    pairs = []
    for number, kv in enumerate(kvs or []):
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str) or not isinstance(kv.get("value", ""), str):
            raise ValueError("kvs[%d] is not an object with a base64 'key' (and 'value')" % number)
        try:
            pairs.append((base64.b64decode(kv["key"], validate=True).decode("utf-8", "replace"),
                          base64.b64decode(kv.get("value", ""), validate=True)))
        except (TypeError, ValueError) as exc:  # binascii.Error is a ValueError
            raise ValueError("kvs[%d] is not base64 (%s)" % (number, exc))
    return pairs


def check_params(params):
    """ValueError naming the first option of secret_encryption_info that cannot work."""
    prefix = params.get("prefix")
    if not isinstance(prefix, str) or not prefix.startswith("/") or len(prefix.strip("/")) == 0:
        raise ValueError("prefix %r is not an etcd key prefix: give the API server's Secrets prefix, e.g. "
                         "/registry/secrets/ (never '' or '/', which would read all of etcd)" % (prefix,))
    timeout = params.get("timeout")
    if not 1 <= timeout <= 3600:
        raise ValueError("timeout %d is out of range: give the seconds etcdctl may take, 1 to 3600" % timeout)
    for option in ("expected_provider", "expected_key"):
        if params.get(option) is not None and not params[option].strip():
            raise ValueError("%s is empty: give a value or leave the option out" % option)


def report(pairs, prefix, expected_provider=None, expected_key=None):
    secrets, problems = [], []
    for key, value in pairs:
        namespace, name = secret_ref(key, prefix)
        info = classify(value)
        info.update(namespace=namespace, name=name)
        secrets.append(info)
        where = "%s/%s" % (namespace, name)
        if not info["encrypted"]:
            problems.append("%s is stored in clear (%s)" % (where, info["provider"]))
        elif expected_provider and info["provider"] != expected_provider:
            problems.append("%s is encrypted with %s, expected %s" % (where, info["provider"], expected_provider))
        elif expected_key and info["key"] != expected_key:
            problems.append("%s is encrypted with key %s, expected %s (rewrite Secrets after a key rotation)" % (
                where, info["key"], expected_key))
    by = {}
    for s in secrets:
        label = s["provider"] if s["key"] is None else "%s:%s" % (s["provider"], s["key"])
        by[label] = by.get(label, 0) + 1
    return {"secrets": secrets, "problems": problems, "total": len(secrets),
            "encrypted": sum(1 for s in secrets if s["encrypted"]), "by_provider_key": by}
