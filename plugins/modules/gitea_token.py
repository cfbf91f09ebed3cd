#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gitea_token
short_description: Keep a Gitea API token for a user, stored once in a file on the controller
version_added: 0.2.0
description:
  - Gitea shows an access token's secret once, when it is created. This module creates a named token with the given
    scopes and writes its secret to O(dest) (mode 0600); the secret never appears in the result or the logs.
  - The token is left alone when it exists with the same scopes and O(dest) holds it (Gitea keeps the last eight
    characters of each token to compare with). It is replaced (deleted and created again) when its scopes differ or
    when O(dest) is missing or holds another token, since the secret cannot be read back.
  - Gitea only lets a user create tokens with basic authentication (O(username) and O(password)), not with a token
    (the shared rule of C(module_utils/rest.py)); O(token) is not used.
  - The token after the change is predicted before anything is written; check mode returns that prediction, and
    after a change the module lists the user's tokens again and compares O(dest) with what Gitea reports.
  - The new secret goes to a temporary file (mode 0600) in the directory of O(dest), opened before Gitea is called
    and renamed over O(dest) once written. O(dest) that is a directory, or whose directory is missing or not
    writable, fails the task before anything is changed.
author:
  - aiinfra.cluster contributors (@aiinfra)
options:
  user:
    description: The user the token belongs to. Defaults to O(username).
    type: str
  name:
    description: Token name, unique per user.
    type: str
    required: true
  scopes:
    description: Token scopes, for example V(write:repository), V(read:user), V(read:organization).
    type: list
    elements: str
    default: [write:repository, read:user]
  dest:
    description: File on the host running the module that holds the token's secret (written with mode 0600).
    type: path
    required: true
  state:
    description: Whether the token exists. V(absent) deletes it in Gitea and leaves O(dest) alone.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - aiinfra.cluster.rest
attributes:
  check_mode:
    support: full
    description: Reads the tokens and O(dest) and returns the plan; creates, deletes and writes nothing.
  diff_mode:
    support: full
    description: Before and after of the token's name, scopes and whether O(dest) holds it (never the secret).
"""

EXAMPLES = r"""
- name: A token Jenkins uses to clone from Gitea
  aiinfra.cluster.gitea_token:
    url: http://192.168.56.11:30310
    username: gitea_admin
    password: "{{ gitea_admin_password }}"
    name: jenkins
    scopes: [write:repository, read:user]
    dest: "{{ inventory_dir }}/credentials/gitea-token-jenkins"
  delegate_to: localhost
"""

RETURN = r"""
token:
  description: Name, scopes, and whether the file holds the token (C(stored)) after the change; null when absent.
  returned: always
  type: dict
  sample: {name: jenkins, scopes: [read:user, write:repository], stored: true}
plan:
  description: The calls made (or that would be made in check mode).
  returned: always
  type: list
  elements: list
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aiinfra.cluster.plugins.module_utils.gitea import (
    apply_token, check_token_params, find_token, predict_token, token_state, tokens_path)
from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import (
    REST_SPEC, ApiError, InputError, SecretWriteError, StagedSecret, auth_module_rules, check_secret_dest,
    client_or_fail, predicted_result, read_secret, safe_url)


def main():
    module = AnsibleModule(
        argument_spec=dict(REST_SPEC, user=dict(type="str"), name=dict(type="str", required=True),
                           scopes=dict(type="list", elements="str", default=["write:repository", "read:user"]),
                           dest=dict(type="path", required=True),
                           state=dict(type="str", choices=["present", "absent"], default="present")),
        supports_check_mode=True,
        **auth_module_rules("gitea", "create_token")
    )
    p = module.params
    user = p["user"] or p["username"]
    what = "Gitea token %s of user %s at %s" % (p["name"], user, safe_url(p["url"]))
    client = client_or_fail(module, what, "gitea", "create_token")
    wanted = {"name": p["name"], "scopes": sorted(p["scopes"])}
    stored = None
    try:
        check_token_params(p)
        if p["state"] == "present":  # with absent, dest is left alone
            check_secret_dest(p["dest"], check_mode=module.check_mode)
            stored = read_secret(p["dest"])
    except InputError as exc:
        module.fail_json(msg="%s: %s. Nothing was changed." % (what, exc))

    def read_back():
        token = find_token(client.get(tokens_path(user), {"limit": 50}), p["name"])
        return None if token is None else token_state(token, read_secret(p["dest"]))

    try:
        current = find_token(client.get(tokens_path(user), {"limit": 50}), p["name"])
        pred = predict_token(current, wanted, p["state"], stored, user)
        plan = pred["plan"]
        if plan and p["state"] == "present" and not module.check_mode:
            # the file is opened before the old token is deleted, and the new one renamed into place after
            with StagedSecret(p["dest"]) as staged:
                staged.commit(apply_token(client, user, wanted, plan))
        elif plan and not module.check_mode:
            apply_token(client, user, wanted, plan)
        result = predicted_result(module, "token", pred, read_back)
    except InputError as exc:
        module.fail_json(msg="%s: %s. Nothing was changed." % (what, exc))
    except SecretWriteError as exc:
        module.fail_json(msg="%s: the token was created in Gitea but %s. Fix dest and run again: the token is "
                             "then replaced and written." % (what, exc))
    except ApiError as exc:
        module.fail_json(msg="%s: %s" % (what, exc), status=exc.status, body=exc.body)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
