#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: secret_encryption_info
short_description: Report whether every Kubernetes Secret is stored encrypted in etcd
version_added: 0.1.0
description:
  - Reads the Secrets raw from etcd (C(etcdctl get --prefix /registry/secrets/)) and reports, per Secret, whether it
    is stored encrypted (C(k8s:enc:<provider>:v1:<key>:) prefix) and with which provider and key, or in clear.
  - Fails when any Secret is stored in clear (unless O(fail_on_plaintext=false)), or, when given, is encrypted with
    another provider than O(expected_provider) or another key than O(expected_key) (a rotation not yet rewritten).
  - Secret values are never returned; only namespaces, names, providers and key names.
  - Options are checked before etcdctl runs (O(prefix) an absolute key prefix other than C(/), O(timeout) 1 to
    3600, endpoints and TLS files usable), and etcdctl output that is not the JSON it should be fails the task with
    one message naming the command.
author:
  - aiinfra.cluster contributors (@aiinfra)
options:
  prefix:
    description: Where the API server keeps Secrets in etcd (starts with C(/); C(/) alone would read all of etcd).
    type: str
    default: /registry/secrets/
  expected_provider:
    description: Provider every Secret must use (aescbc, aesgcm, secretbox, kmsv1, kmsv2).
    type: str
  expected_key:
    description: Key name every Secret must be encrypted with (the first key of the EncryptionConfiguration).
    type: str
  fail_on_plaintext:
    description: Fail when a Secret is stored in clear. With C(false) the report is only returned.
    type: bool
    default: true
  timeout:
    description: Seconds etcdctl may take to read the Secrets, 1 to 3600.
    type: int
    default: 30
extends_documentation_fragment:
  - aiinfra.cluster.etcd
  - aiinfra.cluster.attributes.info_module
"""

EXAMPLES = r"""
- name: Every Secret must be encrypted with the current aescbc key
  aiinfra.cluster.secret_encryption_info:
    endpoints: ["https://127.0.0.1:2379"]
    cacert: /etc/kubernetes/pki/etcd/ca.crt
    cert: /etc/kubernetes/pki/apiserver-etcd-client.crt
    key: /etc/kubernetes/pki/apiserver-etcd-client.key
    expected_provider: aescbc
    expected_key: key1
"""

RETURN = r"""
secrets:
  description: Per Secret C(namespace), C(name), C(encrypted), C(provider) (C(identity) when in clear), C(key).
  returned: always
  type: list
  elements: dict
total:
  description: Secrets read.
  returned: always
  type: int
encrypted:
  description: Secrets stored encrypted.
  returned: always
  type: int
by_provider_key:
  description: Count per C(provider:key) (or C(identity)).
  returned: always
  type: dict
  sample: {"aescbc:key1": 41, "identity": 2}
problems:
  description: One sentence per Secret that is not as expected.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aiinfra.cluster.plugins.module_utils.etcd import (
    ETCD_CONNECTION_SPEC, EtcdError, base_args, check_connection)
from ansible_collections.aiinfra.cluster.plugins.module_utils.secret_encryption import (
    check_params, parse_get_json, report)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ETCD_CONNECTION_SPEC,
            prefix=dict(type="str", default="/registry/secrets/"),
            expected_provider=dict(type="str"),
            expected_key=dict(type="str", no_log=False),
            fail_on_plaintext=dict(type="bool", default=True),
            timeout=dict(type="int", default=30),
        ),
        required_together=[("cert", "key")],
        supports_check_mode=True,
    )
    p = module.params
    try:
        check_params(p)
        check_connection(p)
    except (ValueError, EtcdError) as exc:
        where = ",".join(str(e) for e in p["endpoints"] or []) or "no endpoints"
        module.fail_json(msg="secret_encryption_info on %s: %s. Nothing was read." % (where, exc))
    binary = p["etcdctl"] if os.path.isabs(p["etcdctl"]) else module.get_bin_path(p["etcdctl"])
    if binary is None:
        module.fail_json(msg="%s not found on this host: install etcd-client" % p["etcdctl"])
    args = base_args(binary, p["endpoints"], p["cacert"], p["cert"], p["key"], command_timeout=p["timeout"])
    args += ["get", "--prefix", p["prefix"], "-w", "json"]
    rc, out, err = module.run_command(args, environ_update={"LC_ALL": "C", "ETCDCTL_API": "3"})
    if rc != 0:
        module.fail_json(msg="Reading %s from etcd (%s) failed (rc=%d): %s" % (
            p["prefix"], ",".join(p["endpoints"]), rc, err.strip()[-600:]), rc=rc, stderr=err)
    try:
        pairs = parse_get_json(out)
    except ValueError as exc:
        module.fail_json(msg="Could not parse the output of 'etcdctl get --prefix %s -w json' from %s: %s"
                             % (p["prefix"], ",".join(p["endpoints"]), exc), rc=rc, stdout=out[:2000], stderr=err)
    result = report(pairs, p["prefix"], p["expected_provider"], p["expected_key"])
    if result["problems"] and p["fail_on_plaintext"]:
        module.fail_json(msg="%d of %d Secrets are not stored as expected: %s" % (
            len(result["problems"]), result["total"], "; ".join(result["problems"][:20])
            + ("; ..." if len(result["problems"]) > 20 else "")), changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
