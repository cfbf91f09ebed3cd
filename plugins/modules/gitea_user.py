#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gitea_user
short_description: Manage a Gitea user through Gitea's admin API (e-mail, password, admin and restricted flags)
version_added: 0.3.0
description:
  - Creates a local Gitea user, updates its e-mail, admin flag, restricted flag and visibility where they differ,
    or deletes it. Runs as a Gitea site administrator (O(username) and O(password), or an admin's O(token)).
  - A user is created with C(must_change_password=false). Gitea cannot make an admin on creation, so an admin is
    created and then updated (two calls).
  - The password is set when the user is created. With O(update_password=always) the module also checks whether
    O(user_password) logs the user in (a read, C(GET /api/v1/user) as that user) and sets it only when it does not,
    so a second run changes nothing.
  - The user after the change is predicted before anything is written; check mode returns that prediction, and
    after a change the module reads the user back and returns what Gitea reports. The password is never in the
    result or the diff.
author:
  - aiinfra.cluster contributors (@aiinfra)
options:
  login:
    description: The user's login name.
    type: str
    required: true
  email:
    description: E-mail address. Required to create the user; left as it is when not set.
    type: str
  user_password:
    description:
      - The user's password (never logged). Required to create the user.
      - Set on creation only, unless O(update_password=always).
    type: str
  update_password:
    description:
      - V(on_create) sets O(user_password) only when the user is created.
      - V(always) also sets it on an existing user whose password it is not (checked by logging in as the user).
    type: str
    choices: [always, on_create]
    default: on_create
  admin:
    description: Whether the user is a site administrator. Left as it is when not set (not an admin on creation).
    type: bool
  restricted:
    description:
      - A restricted user sees only the repositories and organizations it was explicitly given.
      - Left as it is when not set (not restricted on creation).
    type: bool
  visibility:
    description: Who may see the user's profile. Left as it is when not set (Gitea's default on creation).
    type: str
    choices: [public, limited, private]
  state:
    description: Whether the user exists. V(absent) deletes it (Gitea refuses while it still owns repositories).
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - aiinfra.cluster.rest
attributes:
  check_mode:
    support: full
    description: Reads the user (and, with O(update_password=always), whether the password logs in) and returns the
      plan and the predicted diff; writes nothing.
  diff_mode:
    support: full
    description: Before and after of login, email, admin, restricted and visibility; never the password.
"""

EXAMPLES = r"""
- name: Jenkins' own Gitea user, restricted, not an admin
  aiinfra.cluster.gitea_user:
    url: https://gitea.example:30300
    username: gitea_admin
    password: "{{ gitea_admin_password }}"
    login: jenkins
    email: jenkins@ci.example
    user_password: "{{ jenkins_gitea_password }}"
    update_password: always
    admin: false
    restricted: true
    visibility: private

- name: No such user any more
  aiinfra.cluster.gitea_user:
    url: https://gitea.example:30300
    token: "{{ gitea_admin_token }}"
    login: old-bot
    state: absent
"""

RETURN = r"""
user:
  description:
    - Login, email, admin, restricted and visibility after the change, read back from Gitea (in check mode the
      predicted state); null when absent.
  returned: always
  type: dict
  sample: {login: jenkins, email: jenkins@ci.example, admin: false, restricted: true, visibility: private}
plan:
  description:
    - The steps made (or that would be made in check mode) - C(create), C(update) with the changed fields,
      C(password) (the password is set; never the password itself), C(delete).
  returned: always
  type: list
  elements: list
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aiinfra.cluster.plugins.module_utils.gitea import (
    VISIBILITIES, apply_user, check_user_params, password_logs_in, predict_user, user_path, user_state)
from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import (
    REST_SPEC, ApiError, InputError, auth_module_rules, client_or_fail, predicted_result, safe_url)


def main():
    module = AnsibleModule(
        argument_spec=dict(REST_SPEC, login=dict(type="str", required=True), email=dict(type="str"),
                           user_password=dict(type="str", no_log=True),
                           update_password=dict(type="str", choices=["always", "on_create"], default="on_create",
                                                no_log=False),
                           admin=dict(type="bool"), restricted=dict(type="bool"),
                           visibility=dict(type="str", choices=list(VISIBILITIES)),
                           state=dict(type="str", choices=["present", "absent"], default="present")),
        supports_check_mode=True,
        **auth_module_rules("gitea")
    )
    p = module.params
    what = "Gitea user %s at %s" % (p["login"], safe_url(p["url"]))
    client = client_or_fail(module, what, "gitea")
    try:
        check_user_params(p)
    except InputError as exc:
        module.fail_json(msg="%s: %s. Nothing was changed." % (what, exc))
    wanted = {"login": p["login"], "email": p["email"], "password": p["user_password"], "admin": p["admin"],
              "restricted": p["restricted"], "visibility": p["visibility"]}
    try:
        record = client.get(user_path(p["login"]), missing_ok=True)
        current = user_state(record)
        differs = (current is not None and p["state"] == "present" and p["update_password"] == "always"
                   and bool(p["user_password"]) and not password_logs_in(client, p["login"], p["user_password"]))
        pred = predict_user(current, wanted, p["state"], differs)
        if pred["plan"] and not module.check_mode:
            apply_user(client, record, wanted, pred["plan"])
        result = predicted_result(module, "user", pred,
                                  lambda: user_state(client.get(user_path(p["login"]), missing_ok=True)))
    except InputError as exc:
        module.fail_json(msg="%s: %s. Nothing was changed." % (what, exc))
    except ApiError as exc:
        module.fail_json(msg="%s: %s" % (what, exc), status=exc.status, body=exc.body)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
